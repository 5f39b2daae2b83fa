package rpc

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/gorilla/websocket"

	"github.com/bafomet/bafomet/chain"
)

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// One connection subscribes from height 1 on a long chain, reads nothing,
// and subscribes 31 more times. Before the subscribe response is written,
// geth's Notifier.Notify appended every notification to an unbounded
// slice, so each replay loaded the whole chain into memory (the review
// took a node from 95 MB to 1.03 GB RSS this way). Replay must be paced by
// what the client reads, within one budget per connection, while other
// clients are served.
func TestReplayWithoutReadingStaysWithinBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("commits a long chain")
	}
	const (
		blocks  = 3000
		txs     = 40
		subs    = 32
		budget  = 2 << 20  // rpc.ws_buffer_bytes for this test
		allowed = 16 << 20 // heap growth allowed while the attack runs
	)
	f := newFakeBackend(t)
	var batch []*chain.Tx
	for i := 0; i < txs; i++ {
		batch = append(batch, signTx(t, testKey(t, 40), uint64(i), fmt.Sprintf("k%d=v", i)))
	}
	commitN(t, f, blocks, batch...)
	// ws_max_in_flight above 32 lets all 32 subscribe requests through
	// unanswered: the byte budget alone must hold.
	s := startServer(t, Config{WSBufferBytes: budget, WSMaxInFlight: 64}, f)
	base := heapInUse()

	// The attacker: a small receive buffer, never reads.
	attacker := dialWS(t, wsURL(s), smallBufferDialer())
	for i := 0; i < subs; i++ {
		msg := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"chain_subscribe","params":["transactions",{"fromHeight":1}]}`, i+1)
		if err := attacker.c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			time.Sleep(time.Second) // the first replay runs on its own for a while
		}
	}
	waitFor(t, "32 subscriptions", func() bool { return len(s.subsSnapshot()) == subs })

	// Another client is served while the attacker holds its subscriptions.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client, err := gethrpc.DialContext(ctx, wsURL(s))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ch := make(chan *Block, 16)
	sub, err := client.Subscribe(ctx, "chain", ch, "newBlocks", map[string]uint64{"fromHeight": blocks - 2})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	var peak uint64
	for i := 0; i < 6; i++ {
		time.Sleep(500 * time.Millisecond)
		peak = max(peak, heapInUse())
	}
	for want := uint64(blocks - 2); want <= blocks; want++ {
		select {
		case b := <-ch:
			if b.Height != want {
				t.Fatalf("other client got block %d, want %d", b.Height, want)
			}
		case err := <-sub.Err():
			t.Fatalf("other client's subscription ended: %v", err)
		case <-ctx.Done():
			t.Fatalf("other client not served: waiting for block %d", want)
		}
	}
	var n uint64
	if err := client.CallContext(ctx, &n, "chain_blockNumber"); err != nil {
		t.Fatalf("other client's call: %v", err)
	}
	grown := int64(peak) - int64(base)
	t.Logf("heap %d MB before the attack, peak %d MB (+%d MB, allowed %d MB); %d subscriptions registered",
		base>>20, peak>>20, grown>>20, allowed>>20, len(s.subsSnapshot()))
	if grown > allowed {
		t.Fatalf("heap grew by %d MB with one connection replaying %d subscriptions unread, allowed %d MB", grown>>20, subs, allowed>>20)
	}
}
