package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/bafomet/bafomet/chain"
)

// findSub returns the server's subscriptions (test helper).
func (s *Server) subsSnapshot() []*subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*subscription, 0, len(s.subs))
	for sub := range s.subs {
		out = append(out, sub)
	}
	return out
}

func TestStalledSubscriberIsCutOffOthersContinue(t *testing.T) {
	const buffer = 4
	f := newFakeBackend(t)
	s := startServer(t, Config{SubscriberBuffer: buffer, SubscriberStallTimeout: 300 * time.Millisecond}, f)
	// Fat notifications fill the stalled client's socket quickly.
	var txs []*chain.Tx
	for i := 0; i < 100; i++ {
		txs = append(txs, signTx(t, testKey(t, 30), uint64(i), fmt.Sprintf("k%d=v", i)))
	}
	stalled := dialWS(t, wsURL(s), smallBufferDialer())
	stalledSub := stalled.subscribe(`["newBlocks"]`)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client, err := gethrpc.DialContext(ctx, wsURL(s))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ch := make(chan *Block, 1024)
	healthy, err := client.Subscribe(ctx, "chain", ch, "newBlocks")
	if err != nil {
		t.Fatal(err)
	}
	defer healthy.Unsubscribe()

	var victim *subscription
	waitFor(t, "two subscriptions", func() bool { return len(s.subsSnapshot()) == 2 })
	for _, sub := range s.subsSnapshot() {
		if string(sub.rpcSub.ID) == stalledSub {
			victim = sub
		}
	}
	// The stalled client reads nothing while blocks are committed.
	committed := 0
	for committed < 2000 {
		f.commit(t, txs...)
		committed++
		select {
		case <-victim.walkerDone:
		case <-time.After(time.Millisecond):
			continue
		}
		break
	}
	select {
	case <-victim.walkerDone:
	case <-time.After(5 * time.Second):
		t.Fatalf("stalled subscriber not cut off after %d blocks", committed)
	}
	t.Logf("stalled subscriber cut off after %d blocks", committed)
	if victim.overflowAt == 0 {
		t.Fatal("walker stopped without an overflow")
	}
	f.commit(t, txs...) // after the cut-off, others still receive
	committed++
	for want := uint64(1); want <= uint64(committed); want++ {
		select {
		case b := <-ch:
			if b.Height != want {
				t.Fatalf("healthy subscriber got %d, want %d", b.Height, want)
			}
		case err := <-healthy.Err():
			t.Fatalf("healthy subscriber ended: %v", err)
		case <-ctx.Done():
			t.Fatalf("healthy subscriber stuck at %d of %d", want, committed)
		}
	}
	// The stalled client resumes reading: it gets a gap-free prefix, then
	// the error naming the height to resume from.
	var next uint64 = 1
	for {
		_, res := stalled.next()
		var b Block
		err := json.Unmarshal(res, &b)
		if se, ok := err.(*SubscriptionError); ok {
			if se.Code != CodeSubscriberTooSlow || se.FromHeight != next || se.FromHeight != victim.overflowAt {
				t.Fatalf("end = %+v, want code %d from %d", se, CodeSubscriberTooSlow, next)
			}
			break
		}
		if err != nil || b.Height != next {
			t.Fatalf("stalled client got %d (%v), want %d", b.Height, err, next)
		}
		next++
	}
	waitFor(t, "the stalled subscription to be freed", func() bool { return len(s.subsSnapshot()) == 1 })
	if got := metricValue(t, s.metrics.dropped); got != 1 {
		t.Fatalf("bafomet_rpc_ws_dropped_subscribers_total = %v, want 1", got)
	}
	if got := metricValue(t, s.metrics.subscribers); got != 1 {
		t.Fatalf("bafomet_rpc_ws_subscribers = %v after the cut-off, want 1", got)
	}
	// Resuming from the named height loses nothing.
	resumed := stalled.subscribe(fmt.Sprintf(`["newBlocks", {"fromHeight": %d}]`, next))
	if h := stalled.nextHeight(resumed); h != next {
		t.Fatalf("resumed at %d, want %d", h, next)
	}
}

func TestCloseEndsEveryGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	f := newFakeBackend(t)
	commitN(t, f, 3)
	s, err := New(Config{ListenAddr: "127.0.0.1:0"}, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	w := dialWS(t, wsURL(s), nil)
	sub := w.subscribe(`["newBlocks", {"fromHeight": 1}]`)
	w.subscribe(`["transactions"]`)
	if h := w.nextHeight(sub); h != 1 {
		t.Fatalf("got %d", h)
	}
	post(t, httpURL(s), `{"jsonrpc":"2.0","id":1,"method":"chain_blockNumber","params":[]}`)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(s.subsSnapshot()) != 0 {
		t.Fatal("subscriptions left after Close")
	}
	w.c.Close()
	http0 := func() bool { return runtime.NumGoroutine() <= before+2 } // +2: the HTTP client's idle keep-alive conn
	waitFor(t, "goroutines to end", http0)
	if err := s.Start(); err == nil {
		t.Fatal("Start after Close succeeded")
	}
}

// A client connection that never sends a request (Go's transport parks such
// spare connections) must not hold up Close: http.Server.Shutdown counts it
// as busy for five seconds, longer than the shutdown timeout here, and
// `bafomet start` exited 1 with "context deadline exceeded" because of it.
func TestCloseDoesNotWaitForConnectionsWithoutRequests(t *testing.T) {
	f := newFakeBackend(t)
	s, err := New(Config{ListenAddr: "127.0.0.1:0", ShutdownTimeout: time.Second}, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	idle, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	post(t, httpURL(s), `{"jsonrpc":"2.0","id":1,"method":"chain_blockNumber","params":[]}`)
	if err := s.Close(); err != nil {
		t.Fatalf("Close with a connection that sent nothing: %v", err)
	}
	idle.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := idle.Read(make([]byte, 1)); err == nil {
		t.Fatalf("the server kept the connection open (read %d bytes)", n)
	}
}
