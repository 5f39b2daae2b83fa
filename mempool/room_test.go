package mempool

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bafomet/bafomet/chain"
)

// lookupDrop fails the test unless hash is dropped with kind and a reason
// containing want.
func (h *harness) lookupDrop(hash chain.Hash, kind DropKind, want string) {
	h.t.Helper()
	st, ok := h.m.Lookup(hash)
	if !ok || st.Status != StatusDropped || st.Drop != kind || !strings.Contains(st.Reason, want) {
		h.t.Fatalf("status of %s = %+v (known %v), want dropped %s with %q", hash, st, ok, kind, want)
	}
}

func (h *harness) wantStatus(hash chain.Hash, want Status) {
	h.t.Helper()
	if st, ok := h.m.Lookup(hash); !ok || st.Status != want {
		h.t.Fatalf("status of %s = %v (known %v), want %v", hash, st.Status, ok, want)
	}
}

func keys(t *testing.T, n int) []*ecdsa.PrivateKey {
	out := make([]*ecdsa.PrivateKey, n)
	for i := range out {
		out[i] = newKey(t)
	}
	return out
}

// TestMaxQueuedLimit: queued transactions are admitted up to MaxQueued; one
// past it is refused unless a sender holding more queued transactions gives
// up its newest one.
func TestMaxQueuedLimit(t *testing.T) {
	h := newHarness(t, Config{MaxTxs: 8, MaxQueued: 3, MaxNonceGap: 4})
	a, b, c := newKey(t), newKey(t), newKey(t)
	aq := h.addN(a, 1, 4) // nonces 1..3 behind the gap at 0: the limit
	if st := h.m.Stats(); st.Queued != 3 || st.Size != 3 {
		t.Fatalf("at the limit: %+v", st)
	}
	// One past the limit from the sender holding the most: refused.
	_, err := h.m.Add(h.sign(a, 4, "x"))
	if !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), "limit 3 (max_queued)") {
		t.Fatalf("4th queued of a: %v, want ErrFull naming max_queued", err)
	}
	// One past the limit from another sender: a holds 3 > 0+1, so its newest
	// queued one makes room.
	bq := h.mustAdd(h.sign(b, 1, "x"))
	h.lookupDrop(aq[2], DropEvicted, "queued transactions at max_queued 3: queued behind the gap at nonce 0")
	h.wantStatus(bq, StatusQueued)
	// Now a holds 2 and b would hold 2: nobody holds more, refused.
	if _, err := h.m.Add(h.sign(b, 2, "x")); !errors.Is(err, ErrFull) {
		t.Fatalf("2nd queued of b: %v, want ErrFull", err)
	}
	// Ready transactions do not count against the queued limit.
	h.addN(c, 0, 4)
	if st := h.m.Stats(); st.Queued != 3 || st.Ready != 4 || st.Evicted[DropEvicted] != 1 {
		t.Fatalf("stats %+v", st)
	}
	checkInvariants(t, h.m)

	if err := (Config{MaxTxs: 8, MaxQueued: 8}).Validate(); err == nil || !strings.Contains(err.Error(), "max_queued 8 must be below max_txs 8") {
		t.Fatalf("Validate max_queued = max_txs: %v", err)
	}
	if err := (Config{MaxTxs: 8, MaxQueued: 7}).Validate(); err != nil {
		t.Fatalf("Validate max_queued below max_txs: %v", err)
	}
	if got := New(Config{MaxTxs: 100}, testChain, newFakeState()).Config().MaxQueued; got != 25 {
		t.Fatalf("default max_queued for max_txs 100 = %d, want 25", got)
	}
	if DefaultConfig().MaxQueued != DefaultMaxTxs/4 {
		t.Fatal("default max_queued is not a quarter of max_txs")
	}
}

// TestReadyEvictsQueuedWhenFull: on a full pool a ready transaction evicts
// queued ones, from the sender holding the most first; a queued
// transaction evicts no ready one; with nothing queued, a sender under its
// fair share is refused as "mempool full".
func TestReadyEvictsQueuedWhenFull(t *testing.T) {
	h := newHarness(t, Config{MaxTxs: 6, MaxQueued: 4, MaxNonceGap: 4})
	r, q1, q2, c := newKey(t), newKey(t), newKey(t), newKey(t)
	ready := h.addN(r, 0, 2)
	q1h := h.addN(q1, 1, 4) // 3 queued
	q2h := h.addN(q2, 1, 2) // 1 queued
	if st := h.m.Stats(); st.Size != 6 || st.Queued != 4 {
		t.Fatalf("setup: %+v", st)
	}
	c0 := h.mustAdd(h.sign(c, 0, "x"))
	h.lookupDrop(q1h[2], DropEvicted, "pool full: queued behind the gap at nonce 0, its sender held 3 (3 queued")
	c1 := h.mustAdd(h.sign(c, 1, "x"))
	h.lookupDrop(q1h[1], DropEvicted, "queued")
	h.addN(c, 2, 4) // q1 and q2 each hold 1: both go
	h.lookupDrop(q1h[0], DropEvicted, "queued")
	h.lookupDrop(q2h[0], DropEvicted, "queued")
	for _, hash := range append(ready, c0, c1) {
		h.wantStatus(hash, StatusPending)
	}
	// Nothing queued is left and nobody holds more than the fair share.
	if _, err := h.m.Add(h.sign(c, 4, "x")); !errors.Is(err, ErrFull) {
		t.Fatalf("ready tx with nothing to evict: %v, want ErrFull", err)
	}
	if _, err := h.m.Add(h.sign(q1, 1, "x")); !errors.Is(err, ErrFull) {
		t.Fatalf("queued tx on a pool full of ready ones: %v, want ErrFull", err)
	}
	if st := h.m.Stats(); st.Size != 6 || st.Queued != 0 || st.Evicted[DropEvicted] != 4 {
		t.Fatalf("stats %+v", st)
	}
	checkInvariants(t, h.m)
}

// TestGappedFloodCannotFillPool is issue 29's attack: 630 fresh keys with
// nonces 1..16 (10,080 transactions that can never execute) submitted to a
// pool at its defaults. The queued ones stay within max_queued, none is
// gossiped, a peer fed by this pool's gossip stays empty, and a client
// with a ready transaction is admitted even after ready transactions fill
// the rest of the pool.
func TestGappedFloodCannotFillPool(t *testing.T) {
	const attackers, perKey = 630, 16
	h := newHarness(t, Config{})
	peer := newHarness(t, Config{})
	cfg := h.m.Config()
	raws := make([][]byte, 0, attackers*perKey)
	for range attackers {
		k := newKey(t)
		for n := uint64(1); n <= perKey; n++ {
			raws = append(raws, h.sign(k, n, "kv"))
		}
	}
	for _, raw := range raws {
		if _, err := h.m.Add(raw); err != nil && !errors.Is(err, ErrFull) {
			t.Fatalf("attack tx: %v", err)
		}
	}
	st := h.m.Stats()
	if st.Queued != cfg.MaxQueued || st.Ready != 0 {
		t.Fatalf("after the attack: %d queued, %d ready; want max_queued %d and 0", st.Queued, st.Ready, cfg.MaxQueued)
	}
	for _, raw := range h.m.TakeGossip(1 << 20) {
		if _, err := peer.m.AddRelayed(raw); err != nil {
			t.Fatalf("peer: %v", err)
		}
	}
	if ps := peer.m.Stats(); ps.Size != 0 {
		t.Fatalf("peer holds %d of the attacker's queued transactions", ps.Size)
	}
	// Honest load fills every other slot with ready transactions.
	honest := keys(t, (cfg.MaxTxs-cfg.MaxQueued)/50)
	for _, k := range honest {
		h.addN(k, 0, 50)
	}
	if st := h.m.Stats(); st.Size != cfg.MaxTxs {
		t.Fatalf("pool holds %d, want full at %d", st.Size, cfg.MaxTxs)
	}
	// A client with a ready transaction still gets in, on this node and
	// on the peer.
	for i := range 20 {
		k := newKey(t)
		hash := h.mustAdd(h.sign(k, 0, fmt.Sprintf("client%d", i)))
		h.wantStatus(hash, StatusPending)
	}
	if st := h.m.Stats(); st.Size != cfg.MaxTxs || st.Queued != cfg.MaxQueued-20 || st.Evicted[DropEvicted] < 20 {
		t.Fatalf("after clients: %+v", st)
	}
	if got := len(h.m.TakeGossip(1 << 20)); got != cfg.MaxTxs-cfg.MaxQueued+20 {
		t.Fatalf("gossiped %d, want only the ready ones", got)
	}
	checkInvariants(t, h.m)
}

// TestBurstFromOneSenderOnEmptyPool is finding 4: the per-sender bound is
// a fair share of a full pool, not a cap, so a burst of 125 from one
// account to an otherwise empty pool is all admitted.
func TestBurstFromOneSenderOnEmptyPool(t *testing.T) {
	h := newHarness(t, Config{})
	a := newKey(t)
	h.addN(a, 0, 125)
	if st := h.m.Stats(); st.Ready != 125 || st.Rejected[ReasonSenderFull] != 0 {
		t.Fatalf("burst: %+v", st)
	}
	checkInvariants(t, h.m)
}

// TestFairShareUnderPressure: on a full pool the sender holding the most is
// refused and evicted first; a sender under its share takes room from it;
// a sender at its share may still take from one holding more; reserved
// transactions are never evicted.
func TestFairShareUnderPressure(t *testing.T) {
	h := newHarness(t, Config{MaxTxs: 20, MaxTxsPerSender: 4})
	heavy, mid, light, x := newKey(t), newKey(t), newKey(t), newKey(t)
	hh := h.addN(heavy, 0, 12) // above its share: allowed while there is room
	mh := h.addN(mid, 0, 6)
	h.addN(light, 0, 2)
	// Full. The heaviest sender is refused.
	_, err := h.m.Add(h.sign(heavy, 12, "x"))
	if !errors.Is(err, ErrSenderFull) || !strings.Contains(err.Error(), "holds 12, its fair share 4") {
		t.Fatalf("heavy on a full pool: %v, want ErrSenderFull", err)
	}
	// A new sender evicts heavy's newest.
	h.mustAdd(h.sign(x, 0, "x"))
	h.lookupDrop(hh[11], DropEvicted, "ready, its sender held 12")
	// mid, above its share too, may still take from heavy, which holds
	// 11, more than mid's 7 after the admission.
	h.mustAdd(h.sign(mid, 6, "x"))
	h.lookupDrop(hh[10], DropEvicted, "held 11")
	// light's three evict heavy's newest three (10, 9, 8 held); heavy and
	// mid then hold 7 each, and mid's 8th is refused: nobody holds more.
	for i := range 3 {
		h.mustAdd(h.sign(light, uint64(2+i), "x"))
	}
	if st, _ := h.m.SenderInfo(addr(heavy)); len(st.Ready) != 7 {
		t.Fatalf("heavy holds %d, want 7", len(st.Ready))
	}
	if _, err := h.m.Add(h.sign(mid, 7, "x")); !errors.Is(err, ErrSenderFull) {
		t.Fatalf("mid at 7 with nobody holding more: %v, want ErrSenderFull", err)
	}
	for _, hash := range mh {
		h.wantStatus(hash, StatusPending)
	}
	// Reserved transactions are not evicted: reserve all of heavy's and
	// mid's, and a newcomer finds nothing to evict.
	h.m.Reap(100, 1<<20)
	if _, err := h.m.Add(h.sign(newKey(t), 0, "x")); !errors.Is(err, ErrFull) {
		t.Fatalf("newcomer with everything reserved: %v, want ErrFull", err)
	}
	if st := h.m.Stats(); st.Size != 20 || st.Evicted[DropEvicted] != 5 {
		t.Fatalf("stats %+v", st)
	}
	checkInvariants(t, h.m)
}

// TestEvictionCostIndependentOfSenders: on a full pool of 10,000 senders
// (7,500 ready, 2,500 with one queued transaction each), deciding room for
// a queued or a ready transaction walks the eviction indexes, not every
// sender: an attacker's refused or evicting transaction must not hold the
// pool's lock for a scan of the whole pool (it took ~180 µs per decision,
// twice per Add, before the indexes). The bound is generous for a loaded
// machine; the indexed cost is about 2 µs.
func TestEvictionCostIndependentOfSenders(t *testing.T) {
	if raceEnabled {
		t.Skip("timing under the race detector means nothing")
	}
	h := newHarness(t, Config{})
	for range 7500 {
		h.mustAdd(h.sign(newKey(t), 0, "r"))
	}
	for range 2500 {
		h.mustAdd(h.sign(newKey(t), 1, "q"))
	}
	if st := h.m.Stats(); st.Size != DefaultMaxTxs || st.Senders != DefaultMaxTxs {
		t.Fatalf("setup: %+v", st)
	}
	k := newKey(t)
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	const rounds = 2000
	start := time.Now()
	for i := range rounds {
		if _, err := h.m.roomLocked(addr(k), nil, i%2 == 0, 100); (err == nil) != (i%2 == 0) {
			t.Fatalf("round %d: %v", i, err)
		}
	}
	if per := time.Since(start) / rounds; per > 25*time.Microsecond {
		t.Fatalf("room decision took %v on a full pool of %d senders, want well under 25µs", per, DefaultMaxTxs)
	}
}

// TestLargeReadyTxEvictsManySmallQueued: when the byte limit binds, a
// large ready transaction evicts as many queued ones as it needs, even if
// the senders holding the most queued hold only small ones: an attacker
// who puts many tiny queued transactions in few accounts and a few large
// ones elsewhere must not make a large ready transaction "mempool full".
func TestLargeReadyTxEvictsManySmallQueued(t *testing.T) {
	const big = 9000
	const maxBytes = 36_000
	h := newHarness(t, Config{MaxTxs: 1000, MaxQueued: 500, MaxTxBytes: 10_000, MaxBytes: maxBytes})
	for range 12 {
		k := newKey(t)
		h.addN(k, 1, 17) // 16 tiny queued each
	}
	for range 2 {
		h.mustAdd(h.sign(newKey(t), 1, strings.Repeat("b", big)))
	}
	st := h.m.Stats()
	if st.Queued != 12*16+2 || st.Bytes+big+200 <= maxBytes {
		t.Fatalf("setup: %+v", st)
	}
	need := st.Bytes + big + 200 - maxBytes
	hash := h.mustAdd(h.sign(newKey(t), 0, strings.Repeat("r", big)))
	h.wantStatus(hash, StatusPending)
	if ev := h.m.Stats().Evicted[DropEvicted]; ev <= maxEvictPerAdd {
		t.Fatalf("evicted %d to free %d bytes; the setup should need more than %d tiny ones", ev, need, maxEvictPerAdd)
	}
	checkInvariants(t, h.m)
}

// TestEvictionCostIndependentOfReadyCount: evicting the newest queued
// transaction of an account that also holds thousands of ready ones walks
// up from its gap, not through all its transactions, so an account that
// keeps 16 queued on top of 9,000 ready cannot make every eviction scan
// 9,000 entries under the pool's lock.
func TestEvictionCostIndependentOfReadyCount(t *testing.T) {
	if raceEnabled {
		t.Skip("timing under the race detector means nothing")
	}
	h := newHarness(t, Config{})
	heavy := newKey(t)
	for i, raw := range signParallel(t, heavy, 9000) {
		if _, err := h.m.Add(raw); err != nil {
			t.Fatalf("heavy nonce %d: %v", i, err)
		}
	}
	h.addN(heavy, 9001, 9017) // 16 queued behind the gap at 9000
	for h.m.Stats().Size < DefaultMaxTxs {
		h.mustAdd(h.sign(newKey(t), 0, "r"))
	}
	k := newKey(t)
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	const rounds = 2000
	start := time.Now()
	for i := range rounds {
		p, err := h.m.roomLocked(addr(k), nil, true, 100)
		if err != nil || len(p.victims) != 1 || p.victims[0].nonce() != 9016 {
			t.Fatalf("round %d: plan %+v, %v; want heavy's nonce 9016", i, p, err)
		}
	}
	if per := time.Since(start) / rounds; per > 25*time.Microsecond {
		t.Fatalf("room decision took %v with an account of 9,016 transactions, want well under 25µs", per)
	}
}

// TestRemovingTopReadyIsConstantTime: evicting (or otherwise removing) a
// transaction restores its account's pending nonce without walking the
// account's ready transactions, so the fair-share eviction of a heavy
// sender's newest one costs the same whether it holds 10 or 9,000.
func TestRemovingTopReadyIsConstantTime(t *testing.T) {
	if raceEnabled {
		t.Skip("timing under the race detector means nothing")
	}
	h := newHarness(t, Config{})
	heavy := newKey(t)
	for i, raw := range signParallel(t, heavy, 9000) {
		if _, err := h.m.Add(raw); err != nil {
			t.Fatalf("heavy nonce %d: %v", i, err)
		}
	}
	h.m.TakeGossip(1 << 20)
	h.m.mu.Lock()
	acc := h.m.accounts[addr(heavy)]
	const rounds = 1000
	start := time.Now()
	for range rounds {
		h.m.dropLocked(acc.byNonce[acc.pending-1], DropEvicted, "test")
	}
	per := time.Since(start) / rounds
	h.m.mu.Unlock()
	checkInvariants(t, h.m)
	if st := h.m.Stats(); st.Ready != 9000-rounds || st.Queued != 0 {
		t.Fatalf("after removals: %+v", st)
	}
	if per > 20*time.Microsecond {
		t.Fatalf("removing the newest of ~8,500 ready took %v, want well under 20µs", per)
	}
}
