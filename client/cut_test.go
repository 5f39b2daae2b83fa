package client_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/bafomet/bafomet/client"
	"github.com/bafomet/bafomet/rpc"
)

// cuttingChain serves chain_subscribe("newBlocks") like a node whose
// first subscription it ends as too slow after three blocks, with the
// final {"error": …, "fromHeight": N} notification a node sends.
type cuttingChain struct{ subs atomic.Int32 }

func (c *cuttingChain) NewBlocks(ctx context.Context, options *json.RawMessage) (*gethrpc.Subscription, error) {
	notifier, ok := gethrpc.NotifierFromContext(ctx)
	if !ok {
		return nil, gethrpc.ErrNotificationsUnsupported
	}
	var opts struct{ FromHeight uint64 }
	if options != nil {
		if err := json.Unmarshal(*options, &opts); err != nil {
			return nil, err
		}
	}
	sub := notifier.CreateSubscription()
	first := c.subs.Add(1) == 1
	go func() {
		from := opts.FromHeight
		for h := from; h < from+3; h++ {
			if notifier.Notify(sub.ID, rpc.Block{Height: h}) != nil {
				return
			}
		}
		if first {
			end := map[string]any{"error": rpc.SubscriptionError{Code: rpc.CodeSubscriberTooSlow, Message: "subscriber too slow", FromHeight: from + 3}}
			_ = notifier.Notify(sub.ID, end)
		}
	}()
	return sub, nil
}

// TestSubscribeResumesAfterACut: when the node ends a subscription as too
// slow, naming the height to resume from, the client subscribes again from
// there and delivers every height once, in order.
func TestSubscribeResumesAfterACut(t *testing.T) {
	srv := gethrpc.NewServer()
	chain := &cuttingChain{}
	if err := srv.RegisterName("chain", chain); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.WebsocketHandler([]string{"*"}))
	t.Cleanup(func() { hs.Close(); srv.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sub, err := c.SubscribeBlocks(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	for want := uint64(1); want <= 6; want++ {
		select {
		case b, ok := <-sub.C:
			if !ok {
				t.Fatalf("subscription ended at %d: %v", want, sub.Err())
			}
			if b.Height != want {
				t.Fatalf("block %d, want %d", b.Height, want)
			}
		case <-ctx.Done():
			t.Fatalf("no block %d", want)
		}
	}
	sub.Unsubscribe()
	if n := sub.Resubscriptions(); n != 1 || chain.subs.Load() != 2 {
		t.Fatalf("%d resubscriptions, %d subscriptions at the node: want 1 and 2", n, chain.subs.Load())
	}
}
