package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/rpc"
)

// dropCheckInterval is how often WaitTx asks whether a transaction was
// dropped while no block brings it: a drop (time-to-live, eviction) makes
// no block.
const dropCheckInterval = 5 * time.Second

// WaitTx waits until the transaction is committed and returns it with its
// receipt. It sees the commit when the block arrives: the WaitTx calls of
// a Client share one block subscription, which the first starts and Close
// ends. A transaction that left the mempool without committing returns
// ErrDropped with the transaction (its Reason says why). A hash the node
// does not know yet (submitted to another node, still on its way) is
// waited for too, until ctx ends.
func (c *Client) WaitTx(ctx context.Context, hash chain.Hash) (*Tx, error) {
	feed, err := c.transactionFeed(ctx)
	if err != nil {
		return nil, err
	}
	// Watch before looking, so a commit between the two is not missed.
	committed, stop := feed.watch(hash)
	defer stop()
	if tx, done, err := c.settled(ctx, hash); done || err != nil {
		return tx, err
	}
	check := time.NewTicker(dropCheckInterval)
	defer check.Stop()
	for {
		select {
		case <-committed:
			return c.Transaction(ctx, hash)
		case <-feed.done:
			return nil, fmt.Errorf("wait for %s: block subscription ended: %w", hash, feed.failure())
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
