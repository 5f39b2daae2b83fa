package bench

import (
	"context"
	"log/slog"
	"time"

	"github.com/bafomet/bafomet/client"
)

// follower reads committed blocks from one node's newBlocks subscription
// and hands each to the tracker as it arrives. The client's subscription
// resubscribes from the next height when it ends, so no height is missed.
type follower struct {
	url  string
	next uint64
	tr   *tracker
	log  *slog.Logger

	resubscribed int // read after run returns
}

// run follows blocks until ctx ends.
func (f *follower) run(ctx context.Context) {
	c, err := client.Dial(ctx, f.url, client.Options{})
	if err != nil {
		f.log.Error("block follower: dial", "url", f.url, "err", err)
		return
	}
	defer c.Close()
	sub, err := c.SubscribeBlocks(ctx, f.next)
	if err != nil {
		f.log.Error("block follower: subscribe", "url", f.url, "from", f.next, "err", err)
		return
	}
	for b := range sub.C {
		f.tr.block(b.Height, b.Transactions.Hashes, time.Now())
		f.next = b.Height + 1
	}
	f.resubscribed = sub.Resubscriptions()
	if err := sub.Err(); err != nil && ctx.Err() == nil {
		f.log.Error("block follower: subscription ended", "url", f.url, "next", f.next, "err", err)
	}
}
