package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/rpc"
)

// dropCheckInterval is how often WaitTx asks whether a transaction was
// dropped while no block brings it: a drop (time-to-live, eviction) makes
// no block.
const dropCheckInterval = 5 * time.Second

// WaitTx waits until the transaction is committed and returns it with its
// receipt. It follows blocks by subscription from the node's current
// height, so it sees the commit as the block arrives; a transaction that
// left the mempool without committing returns ErrDropped with the
// transaction (its Reason says why). A hash the node does not know yet
// (submitted to another node, still on its way) is waited for too, until
// ctx ends.
func (c *Client) WaitTx(ctx context.Context, hash chain.Hash) (*Tx, error) {
	from, err := c.BlockNumber(ctx)
	if err != nil {
		return nil, err
	}
	// Subscribe before looking, so a commit between the two is not missed.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub, err := c.SubscribeBlocks(ctx, from+1)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	if tx, done, err := c.settled(ctx, hash); done || err != nil {
		return tx, err
	}
	check := time.NewTicker(dropCheckInterval)
	defer check.Stop()
	for {
		select {
		case b, ok := <-sub.C:
			if !ok {
				return nil, fmt.Errorf("wait for %s: %w", hash, sub.Err())
			}
			if slices.Contains(b.Transactions.Hashes, hash) {
				return c.Transaction(ctx, hash)
			}
		case <-check.C:
			if tx, done, err := c.settled(ctx, hash); done || err != nil {
				return tx, err
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for %s: %w", hash, ctx.Err())
		}
	}
}

// settled looks the transaction up and reports whether waiting is over:
// committed, or dropped (ErrDropped).
func (c *Client) settled(ctx context.Context, hash chain.Hash) (*Tx, bool, error) {
	tx, err := c.Transaction(ctx, hash)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, false, nil // not here yet: submitted elsewhere, on its way by gossip
	case err != nil:
		return nil, false, err
	case tx.Status == rpc.TxCommitted:
		return tx, true, nil
	case tx.Status == rpc.TxDropped:
		reason := "no reason given"
		if tx.Reason != nil {
			reason = *tx.Reason
		}
		return tx, true, fmt.Errorf("%w: %s", ErrDropped, reason)
	}
	return nil, false, nil
}
