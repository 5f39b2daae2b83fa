package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/bafomet/bafomet/rpc"
)

// Resubscription back-off after a failed connection or subscription.
const (
	resubscribeMin = 100 * time.Millisecond
	resubscribeMax = 5 * time.Second
)

// BlockSubscription delivers committed blocks in height order, each once,
// on C. It resubscribes by itself from the next height when the
// connection drops or the node ends the subscription (a slow client), so
// nothing is lost or repeated. It ends when its context ends, when
// Unsubscribe is called, when the node refuses it for good (no
// credentials or permission, say), or when the Client is closed; then C is
// closed and Err says why.
type BlockSubscription struct {
	// C receives the blocks.
	C <-chan *Block

	cancel context.CancelFunc
	done   chan struct{}
	err    error
	resubs int
}

// SubscribeBlocks follows committed blocks from height fromHeight (0: from
// the block after the node's latest).
func (c *Client) SubscribeBlocks(ctx context.Context, fromHeight uint64) (*BlockSubscription, error) {
	if fromHeight == 0 {
		h, err := c.BlockNumber(ctx)
		if err != nil {
			return nil, err
		}
		fromHeight = h + 1
	}
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan *Block)
	s := &BlockSubscription{C: out, cancel: cancel, done: make(chan struct{})}
	go s.run(ctx, c, fromHeight, out)
	return s, nil
}

// Unsubscribe ends the subscription and waits until it has.
func (s *BlockSubscription) Unsubscribe() {
	s.cancel()
	<-s.done
}

// Err returns why the subscription ended: the context's error, the
// node's refusal, or nil after Unsubscribe. It is valid once C is closed.
func (s *BlockSubscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Resubscriptions returns how many times the subscription was renewed
// after a drop or an end by the node. It is valid once C is closed.
func (s *BlockSubscription) Resubscriptions() int {
	<-s.done
	return s.resubs
}

func (s *BlockSubscription) run(ctx context.Context, c *Client, next uint64, out chan<- *Block) {
	defer close(s.done)
	defer close(out)
	backoff := resubscribeMin
	for {
		delivered, err := s.follow(ctx, c, &next, out)
		if ctx.Err() != nil {
			if !errors.Is(ctx.Err(), context.Canceled) {
				s.err = ctx.Err()
			}
			return
		}
		var refused *Error
		if errors.As(err, &refused) && refused.permanent() || errors.Is(err, ErrClosed) {
			s.err = err
			return
		}
		if delivered {
			backoff = resubscribeMin
		}
		var end *rpc.SubscriptionError
		if !errors.As(err, &end) {
			// A dropped connection or a failed subscribe: wait, then
			// dial again.
			select {
			case <-ctx.Done():
				continue
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, resubscribeMax)
		}
		s.resubs++
	}
}

// follow subscribes from *next and delivers blocks until the subscription
// ends; it reports whether it delivered any.
func (s *BlockSubscription) follow(ctx context.Context, c *Client, next *uint64, out chan<- *Block) (bool, error) {
	ws, err := c.websocket(ctx)
	if err != nil {
		return false, err
	}
	ch := make(chan json.RawMessage, 64)
	sub, err := ws.Subscribe(ctx, "chain", ch, "newBlocks", map[string]uint64{"fromHeight": *next})
	if err != nil {
		if isConnErr(err) {
			c.dropWebsocket(ws)
		}
		return false, wrapErr("chain_subscribe", err)
	}
	defer sub.Unsubscribe()
	delivered := false
	for {
		select {
		case <-ctx.Done():
			return delivered, ctx.Err()
		case err := <-sub.Err():
			c.dropWebsocket(ws)
			return delivered, fmt.Errorf("block subscription: %w", err)
		case raw := <-ch:
			var b Block
			if err := json.Unmarshal(raw, &b); err != nil {
				var end *rpc.SubscriptionError
				if errors.As(err, &end) {
					return delivered, err
				}
				return delivered, fmt.Errorf("decode block: %w", err)
			}
			switch {
			case b.Height < *next:
				continue // already delivered
			case b.Height > *next:
				return delivered, fmt.Errorf("block %d arrived while %d was expected", b.Height, *next)
			}
			select {
			case out <- &b:
			case <-ctx.Done():
				return delivered, ctx.Err()
			}
			*next++
			delivered = true
		}
	}
}

// isConnErr reports whether err says the connection itself failed, rather
// than the node refusing the call.
func isConnErr(err error) bool {
	var ce gethrpc.Error
	var he gethrpc.HTTPError
	return !errors.As(err, &ce) && !errors.As(err, &he)
}
