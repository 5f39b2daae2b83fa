package bench

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/bafomet/bafomet/rpc"
)

// resubscribeDelay is the pause before the follower subscribes again after
// its subscription or connection ended.
const resubscribeDelay = 200 * time.Millisecond

// wsURL turns an http(s) JSON-RPC URL into the websocket URL on the same
// port.
func wsURL(httpURL string) string {
	switch {
	case strings.HasPrefix(httpURL, "https://"):
		return "wss://" + strings.TrimPrefix(httpURL, "https://")
	case strings.HasPrefix(httpURL, "http://"):
		return "ws://" + strings.TrimPrefix(httpURL, "http://")
	}
	return httpURL
}

// follower reads committed blocks from one node's newBlocks subscription
// and hands each to the tracker as it arrives, resubscribing from the next
// height when the subscription ends, so that no height is missed.
type follower struct {
	url  string
	next uint64
	tr   *tracker
	log  *slog.Logger

	resubscribed int // read after run returns
}

// run follows blocks until ctx ends.
func (f *follower) run(ctx context.Context) {
	for ctx.Err() == nil {
		err := f.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		f.resubscribed++
		f.log.Warn("block subscription ended; resubscribing", "url", f.url, "from", f.next, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(resubscribeDelay):
		}
	}
}

// follow runs one subscription until it fails or ctx ends.
func (f *follower) follow(ctx context.Context) error {
	c, err := gethrpc.DialContext(ctx, wsURL(f.url))
	if err != nil {
		return fmt.Errorf("dial %s: %w", wsURL(f.url), err)
	}
	defer c.Close()
	ch := make(chan rpc.Block, 64)
	sub, err := c.Subscribe(ctx, "chain", ch, "newBlocks", map[string]any{"fromHeight": f.next})
	if err != nil {
		return fmt.Errorf("subscribe newBlocks from %d: %w", f.next, err)
	}
	defer sub.Unsubscribe()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-sub.Err():
			return fmt.Errorf("subscription: %w", err)
		case b := <-ch:
			if b.Height != f.next {
				return fmt.Errorf("block %d arrived, want %d", b.Height, f.next)
			}
			f.tr.block(b.Height, b.Transactions.Hashes, time.Now())
			f.next = b.Height + 1
		}
	}
}
