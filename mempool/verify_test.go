package mempool

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bafomet/bafomet/chain"
)

// countRecoveries replaces the recovery function with one that counts.
func countRecoveries(m *Mempool) *atomic.Int64 {
	var n atomic.Int64
	m.recoverFn = func(tx *chain.Tx) (chain.Address, error) {
		n.Add(1)
		return tx.Sender()
	}
	return &n
}

func TestVerifyBatchCostsNoRecoveryForKnownTxs(t *testing.T) {
	h := newHarness(t, Config{})
	rec := countRecoveries(h.m)
	a, b := newKey(t), newKey(t)
	var raws [][]byte
	var want []chain.Address
	for n := range uint64(5) {
		raws = append(raws, h.sign(a, n, "x"), h.sign(b, n, "y"))
		want = append(want, addr(a), addr(b))
	}
	for _, raw := range raws {
		h.mustAdd(raw)
	}
	if got := rec.Load(); got != 10 {
		t.Fatalf("admission recoveries = %d, want 10", got)
	}

	// A proposal made of held transactions: no recovery at all.
	got, err := h.m.VerifyBatch(&chain.Block{Txs: raws})
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("VerifyBatch = %v, %v", got, err)
	}
	if got := rec.Load(); got != 10 {
		t.Fatalf("recoveries after proposal check = %d, want still 10", got)
	}

	// New transactions are recovered once, then cached.
	c := newKey(t)
	fresh := [][]byte{h.sign(c, 0, "x"), h.sign(c, 1, "x"), h.sign(c, 2, "x")}
	for range 2 {
		got, err := h.m.VerifyBatch(&chain.Block{Txs: fresh})
		if err != nil || !slices.Equal(got, []chain.Address{addr(c), addr(c), addr(c)}) {
			t.Fatalf("VerifyBatch fresh = %v, %v", got, err)
		}
	}
	if got := rec.Load(); got != 13 {
		t.Fatalf("recoveries = %d, want 13", got)
	}
	// Admitting a verified transaction needs no recovery either.
	h.mustAdd(fresh[0])
	if got := rec.Load(); got != 13 {
		t.Fatalf("recoveries after Add of verified tx = %d, want 13", got)
	}
	s := h.m.Stats()
	if s.SigRecoveries != 13 || s.SigCacheHits != 14 {
		t.Fatalf("stats recoveries %d hits %d, want 13 14", s.SigRecoveries, s.SigCacheHits)
	}
}

func TestVerifyFindsHeldTxAfterCacheEviction(t *testing.T) {
	h := newHarness(t, Config{SigCacheSize: 1})
	rec := countRecoveries(h.m)
	k := newKey(t)
	r0, r1 := h.sign(k, 0, "x"), h.sign(k, 1, "x")
	h.mustAdd(r0)
	h.mustAdd(r1) // evicts r0 from the one-entry cache
	if n := h.m.Stats().SigCacheSize; n != 1 {
		t.Fatalf("cache size %d, want 1", n)
	}
	if s, err := h.m.VerifySender(r0); err != nil || s != addr(k) {
		t.Fatalf("VerifySender = %v, %v", s, err)
	}
	if got := rec.Load(); got != 2 {
		t.Fatalf("recoveries = %d, want 2 (held tx found in pool)", got)
	}
	// An unheld transaction is recovered once, then served by the cache
	// until something else evicts it.
	other := h.sign(k, 9, "x")
	h.m.VerifySender(other)
	h.m.VerifySender(other)
	if got := rec.Load(); got != 3 {
		t.Fatalf("recoveries = %d, want 3", got)
	}
	h.m.VerifySender(r1) // from the pool; takes the cache's one slot
	h.m.VerifySender(other)
	if got := rec.Load(); got != 4 {
		t.Fatalf("recoveries = %d, want 4 after eviction", got)
	}
}

func TestVerifyBatchReportsLowestFailingIndex(t *testing.T) {
	h := newHarness(t, Config{})
	k := newKey(t)
	raws := [][]byte{h.sign(k, 0, "x"), {0xc0}, signRaw(t, k, "other", 1, "x"), h.sign(k, 2, "x")}
	_, err := h.m.VerifyBatch(&chain.Block{Txs: raws})
	if !errors.Is(err, ErrMalformed) || err.Error()[:13] != "transaction 1" {
		t.Fatalf("err = %v, want transaction 1 malformed", err)
	}
	got, err := h.m.VerifyBatch(&chain.Block{Txs: nil})
	if err != nil || len(got) != 0 {
		t.Fatalf("empty batch = %v, %v", got, err)
	}
}

func TestGossipExactlyOnce(t *testing.T) {
	h := newHarness(t, Config{})
	a := newKey(t)
	raws := [][]byte{h.sign(a, 0, "x"), h.sign(a, 1, "x"), h.sign(a, 2, "x")}
	for _, raw := range raws {
		h.mustAdd(raw)
	}
	got := h.m.TakeGossip(2)
	if !slices.EqualFunc(got, raws[:2], slices.Equal) {
		t.Fatalf("first take = %d txs, want first two", len(got))
	}
	// The same tx arriving back by gossip is known and not queued again.
	if _, err := h.m.Add(raws[0]); !errors.Is(err, ErrAlreadyKnown) {
		t.Fatalf("re-gossiped tx: %v", err)
	}
	if n := h.m.GossipBacklog(); n != 1 {
		t.Fatalf("backlog %d, want 1", n)
	}
	got = h.m.TakeGossip(10)
	if !slices.EqualFunc(got, raws[2:], slices.Equal) {
		t.Fatalf("second take = %d txs, want the third", len(got))
	}
	if got := h.m.TakeGossip(10); got != nil {
		t.Fatalf("third take = %d txs, want none", len(got))
	}
	// A tx that leaves before it is handed out is never handed out.
	r3 := h.sign(a, 3, "x")
	h.mustAdd(r3)
	h.commit(1, raws[0], raws[1], raws[2], r3)
	if got := h.m.TakeGossip(10); got != nil {
		t.Fatalf("take after commit = %d txs, want none", len(got))
	}
	if got := h.m.TakeGossip(0); got != nil {
		t.Fatal("TakeGossip(0) returned txs")
	}
}

// TestConcurrentUse runs admissions, gossip re-admissions, reaping,
// commits and queries at once, then checks that every admitted
// transaction is accounted for: committed, held, or dropped.
func TestConcurrentUse(t *testing.T) {
	const senders, perSender = 32, 40
	h := newHarness(t, Config{MaxTxsPerSender: perSender})
	keys := make([]*ecdsa.PrivateKey, senders)
	all := make([][][]byte, senders)
	for i := range keys {
		keys[i] = newKey(t)
		for n := range uint64(perSender) {
			all[i] = append(all[i], h.sign(keys[i], n, fmt.Sprintf("s%d", n)))
		}
	}
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for i := range senders {
		wg.Go(func() {
			for _, raw := range all[i] {
				if _, err := h.m.Add(raw); err == nil {
					admitted.Add(1)
				} else if !errors.Is(err, ErrAlreadyKnown) && !errors.Is(err, ErrNonceTooLow) {
					t.Errorf("Add: %v", err)
				}
			}
		})
		wg.Go(func() { // the same txs arriving by gossip
			for _, raw := range slices.Backward(all[i]) {
				if _, err := h.m.Add(raw); err == nil {
					admitted.Add(1)
				}
			}
		})
	}
	stop := make(chan struct{})
	var committed atomic.Int64
	var driver sync.WaitGroup
	driver.Go(func() { runDriver(h, stop, &committed) })
	driver.Go(func() { runReader(t, h, stop, keys, all) })
	wg.Wait()
	close(stop)
	driver.Wait()

	checkInvariants(t, h.m)
	s := h.m.Stats()
	if int64(s.Admitted) != admitted.Load() {
		t.Fatalf("stats admitted %d, counted %d", s.Admitted, admitted.Load())
	}
	var dropped uint64
	for _, n := range s.Evicted {
		dropped += n
	}
	if got := committed.Load() + int64(s.Size) + int64(dropped); got != admitted.Load() {
		t.Fatalf("committed %d + held %d + dropped %d = %d, admitted %d",
			committed.Load(), s.Size, dropped, got, admitted.Load())
	}
	// Each tx is admitted exactly once: a second copy is known while held
	// and its nonce is too low once committed. Nothing is dropped.
	if s.Admitted != senders*perSender || dropped != 0 {
		t.Fatalf("admitted %d dropped %d, want %d and 0", s.Admitted, dropped, senders*perSender)
	}
}

// runDriver reaps, commits and drains gossip until stop, as the node's
// driver does.
func runDriver(h *harness, stop <-chan struct{}, committed *atomic.Int64) {
	for height := uint64(1); ; height++ {
		select {
		case <-stop:
			return
		default:
		}
		b := h.m.Reap(16, 1<<20)
		h.commit(height, b.Txs...)
		committed.Add(int64(b.Len()))
		h.m.TakeGossip(8)
		h.m.Stats()
	}
}

// runReader checks proposals and reads status until stop, as a backup's
// proposal checker and RPC clients do.
func runReader(t *testing.T, h *harness, stop <-chan struct{}, keys []*ecdsa.PrivateKey, all [][][]byte) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		k := i % len(keys)
		if got, err := h.m.VerifyBatch(&chain.Block{Txs: all[k][:8]}); err != nil || got[0] != addr(keys[k]) {
			t.Errorf("VerifyBatch = %v, %v", got, err)
		}
		h.m.SenderInfo(addr(keys[k]))
		h.m.Lookup(chain.Hash{})
	}
}

// TestVerifySenderNeverVouchesForAnotherChain: the fast path (pool or
// signature cache) skips decoding, so nothing that failed the chain-id
// check may ever be cached, and asking twice must refuse twice.
func TestVerifySenderNeverVouchesForAnotherChain(t *testing.T) {
	h := newHarness(t, Config{})
	rec := countRecoveries(h.m)
	k := newKey(t)
	foreign := signRaw(t, k, "other", 0, "x")
	for i := range 2 {
		if _, err := h.m.VerifySender(foreign); !errors.Is(err, ErrWrongChain) {
			t.Fatalf("attempt %d: err = %v, want wrong chain", i, err)
		}
	}
	if got := rec.Load(); got != 0 {
		t.Fatalf("recoveries = %d, want 0 (refused before recovery)", got)
	}
	if n := h.m.Stats().SigCacheSize; n != 0 {
		t.Fatalf("signature cache holds %d entries, want 0", n)
	}
}
