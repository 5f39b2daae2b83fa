package mempool

import (
	"bytes"
	"testing"
	"time"

	"github.com/bafomet/bafomet/chain"
)

// TestTakeStale: transactions that have waited `age` since admission (or
// since they were last re-sent) are handed out again, oldest first, at
// most max at a time; ones in this node's proposal, ones not yet handed to
// gossip at all, and ones that left the pool are not.
func TestTakeStale(t *testing.T) {
	h := newHarness(t, Config{TTL: time.Hour})
	a, b := newKey(t), newKey(t)
	a0, a1, b0 := h.sign(a, 0, "x"), h.sign(a, 1, "x"), h.sign(b, 0, "x")
	for _, raw := range [][]byte{a0, a1, b0} {
		h.mustAdd(raw)
		h.clock.advance(time.Millisecond)
	}
	if got := h.m.TakeStale(2*time.Second, 10); len(got) != 0 {
		t.Fatalf("before first gossip: %d handed out", len(got))
	}
	if got := h.m.TakeGossip(10); len(got) != 3 {
		t.Fatalf("TakeGossip = %d, want 3", len(got))
	}
	if got := h.m.TakeStale(2*time.Second, 10); len(got) != 0 {
		t.Fatalf("young transactions handed out again: %d", len(got))
	}
	h.clock.advance(2 * time.Second)
	got := h.m.TakeStale(2*time.Second, 2)
	if len(got) != 2 || !bytes.Equal(got[0], a0) || !bytes.Equal(got[1], a1) {
		t.Fatalf("first stale round = %d txs, want a0, a1", len(got))
	}
	if got := h.m.TakeStale(2*time.Second, 10); len(got) != 1 || !bytes.Equal(got[0], b0) {
		t.Fatalf("second stale round = %d txs, want b0", len(got))
	}
	if got := h.m.TakeStale(2*time.Second, 10); len(got) != 0 {
		t.Fatalf("re-sent again at once: %d", len(got))
	}
	h.m.Reap(1, 1<<20) // reserves a0 (the oldest sender's first)
	h.commit(1, b0)
	h.clock.advance(2 * time.Second)
	if got := h.m.TakeStale(2*time.Second, 10); len(got) != 1 || !bytes.Equal(got[0], a1) {
		t.Fatalf("after reap and commit = %d txs, want only a1", len(got))
	}
	checkInvariants(t, h.m)
}

// TestQueuedGossipedOnceReady: a queued transaction is not gossiped (nor
// re-sent as stale) until its gap fills; then it is, once.
func TestQueuedGossipedOnceReady(t *testing.T) {
	h := newHarness(t, Config{})
	a := newKey(t)
	a1 := h.sign(a, 1, "x")
	h.mustAdd(a1)
	if got := h.m.TakeGossip(10); len(got) != 0 {
		t.Fatalf("queued tx gossiped: %d", len(got))
	}
	h.clock.advance(DefaultTTL / 2)
	if got := h.m.TakeStale(0, 10); len(got) != 0 {
		t.Fatalf("queued tx re-sent: %d", len(got))
	}
	a0 := h.sign(a, 0, "x")
	h.mustAdd(a0)
	got := h.m.TakeGossip(10)
	if len(got) != 2 || string(got[0]) != string(a0) || string(got[1]) != string(a1) {
		t.Fatalf("after the gap filled: %d gossiped, want a0 then a1", len(got))
	}
	if got := h.m.TakeGossip(10); len(got) != 0 {
		t.Fatalf("gossiped twice: %d", len(got))
	}
	// A gap filled by a commit makes the rest ready, and gossiped.
	b := newKey(t)
	b2 := h.sign(b, 2, "x")
	h.mustAdd(b2)
	h.state.setNonce(addr(b), 2)
	h.commit(1, a0)
	h.m.Update(2, &chain.Block{Txs: [][]byte{h.sign(b, 0, "x"), h.sign(b, 1, "x")}, Senders: []chain.Address{addr(b), addr(b)}})
	if got := h.m.TakeGossip(10); len(got) != 1 || string(got[0]) != string(b2) {
		t.Fatalf("after a commit filled b's gap: %d gossiped, want b2", len(got))
	}
	checkInvariants(t, h.m)
}
