package mempool

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/ethereum/go-ethereum/crypto"
)

func names(keys ...*ecdsa.PrivateKey) map[chain.Address]string {
	out := make(map[chain.Address]string)
	for i, k := range keys {
		out[addr(k)] = string(rune('A' + i))
	}
	return out
}

func TestNonceGapFills(t *testing.T) {
	h := newHarness(t, Config{})
	k := newKey(t)
	h0 := h.mustAdd(h.sign(k, 0, "x"))
	h3 := h.mustAdd(h.sign(k, 3, "x"))
	h2 := h.mustAdd(h.sign(k, 2, "x"))

	info, ok := h.m.SenderInfo(addr(k))
	if !ok || info.PendingNonce != 1 || len(info.Ready) != 1 || len(info.Queued) != 2 ||
		info.Gap != "waiting for nonce 1" || info.Queued[0].Nonce != 2 || info.Queued[1].Nonce != 3 {
		t.Fatalf("before: %+v", info)
	}
	for hash, want := range map[chain.Hash]Status{h0: StatusPending, h2: StatusQueued, h3: StatusQueued} {
		if st, _ := h.m.Lookup(hash); st.Status != want {
			t.Errorf("status of %s = %v, want %v", hash, st.Status, want)
		}
	}
	if n := h.m.NumReady(); n != 1 {
		t.Fatalf("NumReady = %d, want 1", n)
	}
	if n := h.m.NumReapable(); n != 1 {
		t.Fatalf("NumReapable = %d, want 1", n)
	}
	if got := h.reapLabels(10, 1<<20, names(k)); !slices.Equal(got, []string{"A0"}) {
		t.Fatalf("reap before gap fills = %v, want [A0]", got)
	}
	if n := h.m.NumReapable(); n != 0 {
		t.Fatalf("NumReapable after reap = %d, want 0 (reserved)", n)
	}
	h.m.ReleaseProposed()

	h.mustAdd(h.sign(k, 1, "x"))
	info, _ = h.m.SenderInfo(addr(k))
	if info.PendingNonce != 4 || len(info.Ready) != 4 || len(info.Queued) != 0 || info.Gap != "" {
		t.Fatalf("after: %+v", info)
	}
	if n := h.m.NumReady(); n != 4 {
		t.Fatalf("NumReady = %d, want 4", n)
	}
	if n, _ := h.m.PendingNonce(addr(k)); n != 4 {
		t.Fatalf("PendingNonce = %d, want 4", n)
	}
	if got := h.reapLabels(10, 1<<20, names(k)); !slices.Equal(got, []string{"A0", "A1", "A2", "A3"}) {
		t.Fatalf("reap = %v, want A0..A3", got)
	}
}

func TestGapFilledByCommit(t *testing.T) {
	h := newHarness(t, Config{})
	k := newKey(t)
	h.addN(k, 2, 4) // 2, 3 queued behind 0, 1
	if info, _ := h.m.SenderInfo(addr(k)); info.Gap != "waiting for nonces 0 to 1" {
		t.Fatalf("gap = %q", info.Gap)
	}
	// Nonces 0 and 1 commit through another validator's block.
	h.commit(1, h.sign(k, 0, "elsewhere"), h.sign(k, 1, "elsewhere"))
	info, _ := h.m.SenderInfo(addr(k))
	if info.CommittedNonce != 2 || info.PendingNonce != 4 || len(info.Ready) != 2 || len(info.Queued) != 0 {
		t.Fatalf("after commit: %+v", info)
	}
}

func TestReapFairRoundRobin(t *testing.T) {
	h := newHarness(t, Config{})
	a, b, c := newKey(t), newKey(t), newKey(t)
	h.addN(a, 0, 5)
	h.addN(b, 0, 2)
	h.addN(c, 0, 3)
	want := []string{"A0", "B0", "C0", "A1", "B1", "C1", "A2", "C2", "A3", "A4"}
	if got := h.reapLabels(100, 1<<20, names(a, b, c)); !slices.Equal(got, want) {
		t.Fatalf("reap = %v, want %v", got, want)
	}
}

func TestReapLimits(t *testing.T) {
	h := newHarness(t, Config{})
	a, b := newKey(t), newKey(t)
	long := strings.Repeat("L", 300) // B0 is bigger than three of A's
	h.addN(a, 0, 3)
	h.mustAdd(h.sign(b, 0, long))
	h.mustAdd(h.sign(b, 1, "x"))
	size := len(h.sign(a, 0, "p0"))
	big := len(h.sign(b, 0, long))
	tests := []struct {
		name            string
		maxTxs, maxByte int
		want            []string
	}{
		{"tx limit", 3, 1 << 20, []string{"A0", "B0", "A1"}},
		{"bytes exactly fit two", 100, size + big, []string{"A0", "B0"}},
		// B0 does not fit, so B gives up its turns; A continues.
		{"sender that does not fit yields", 100, 3 * size, []string{"A0", "A1", "A2"}},
		{"zero txs", 0, 1 << 20, []string{}},
		{"zero bytes", 10, 0, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := h.reapLabels(tt.maxTxs, tt.maxByte, names(a, b))
			h.m.ReleaseProposed()
			if !slices.Equal(got, tt.want) {
				t.Fatalf("reap = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestFloodFromOneSenderDoesNotStarveOthers: one sender may fill an empty
// pool (its fair share is no cap while there is room), but once the pool
// is full it is refused, and another sender's ready transactions evict its
// newest ones; the reap then alternates between them.
func TestFloodFromOneSenderDoesNotStarveOthers(t *testing.T) {
	const maxTxs, flood = 1000, 5000
	cfg := Config{MaxTxs: maxTxs}
	h := newHarness(t, cfg)
	cfg = h.m.Config()
	a, b := newKey(t), newKey(t)
	raws := signParallel(t, a, flood)
	counts := make(map[Reason]int)
	var bHashes []chain.Hash
	for i, raw := range raws {
		_, err := h.m.Add(raw)
		counts[ReasonOf(err)]++
		if i == flood/2 {
			bHashes = h.addN(b, 0, 10) // the other sender arrives mid-flood, on a full pool
		}
	}
	// Nonces 0..999 fill the pool; 1000..1016 are within the gap of pending
	// 1000 but a holds more than its share of a full pool; later ones are
	// too far ahead (b's arrival evicted a's 990..999, leaving pending 990).
	gap := int(cfg.MaxNonceGap)
	want := map[Reason]int{
		ReasonNone:             maxTxs,
		ReasonSenderFull:       gap + 1,
		ReasonNonceTooFarAhead: flood - maxTxs - gap - 1,
	}
	if !mapsEqual(counts, want) {
		t.Fatalf("outcomes = %v, want %v", counts, want)
	}
	checkInvariants(t, h.m)
	for _, hash := range bHashes {
		if st, ok := h.m.Lookup(hash); !ok || st.Status != StatusPending {
			t.Fatalf("b's transaction %s not pending: %+v", hash, st)
		}
	}
	evicted, ok := h.m.Lookup(crypto.Keccak256Hash(raws[maxTxs-1]))
	if !ok || evicted.Status != StatusDropped || evicted.Drop != DropEvicted || !strings.Contains(evicted.Reason, "fair share 64") {
		t.Fatalf("a's newest nonce: %+v, want dropped as evicted", evicted)
	}
	got := h.reapLabels(20, 1<<20, names(a, b))
	var bCount int
	for _, l := range got {
		if l[0] == 'B' {
			bCount++
		}
	}
	if len(got) != 20 || bCount != 10 || got[1] != "B0" || got[19] != "B9" {
		t.Fatalf("reap = %v, want A and B alternating with all 10 of B", got)
	}
	if st := h.m.Stats(); st.Size != maxTxs || st.Evicted[DropEvicted] != 10 {
		t.Fatalf("stats size %d evicted %v", st.Size, st.Evicted)
	}
}

func mapsEqual[K comparable](a, b map[K]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// signParallel signs nonces 0..n-1 of k on two goroutines.
func signParallel(t *testing.T, k *ecdsa.PrivateKey, n int) [][]byte {
	t.Helper()
	raws := make([][]byte, n)
	errs := make(chan error, 2)
	for w := range 2 {
		go func() {
			for i := w; i < n; i += 2 {
				tx, err := chain.SignTx(k, testChain, uint64(i), []byte("flood"))
				if err != nil {
					errs <- err
					return
				}
				raws[i] = tx.Bytes()
			}
			errs <- nil
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	return raws
}

func TestBlockThatNeverCommits(t *testing.T) {
	h := newHarness(t, Config{ReserveHeights: 2})
	a, other := newKey(t), newKey(t)
	h.addN(a, 0, 4)
	nm := names(a)

	if got := h.reapLabels(2, 1<<20, nm); !slices.Equal(got, []string{"A0", "A1"}) {
		t.Fatalf("first reap = %v", got)
	}
	// Pipelined next block continues after the reserved ones.
	second := h.m.Reap(2, 1<<20)
	if second.Len() != 2 {
		t.Fatalf("second reap len %d, want 2", second.Len())
	}
	if got := h.reapLabels(10, 1<<20, nm); len(got) != 0 {
		t.Fatalf("third reap = %v, want nothing: everything reserved", got)
	}
	if st := h.m.Stats(); st.Proposed != 4 || st.Size != 4 {
		t.Fatalf("stats proposed %d size %d, want 4 4", st.Proposed, st.Size)
	}

	// The second block is voided: only its transactions come back.
	h.m.Release(second.Hashes)
	if got := h.reapLabels(10, 1<<20, nm); !slices.Equal(got, []string{"A2", "A3"}) {
		t.Fatalf("after Release = %v, want [A2 A3]", got)
	}
	// A view change voids everything in flight.
	h.m.ReleaseProposed()
	if got := h.reapLabels(10, 1<<20, nm); !slices.Equal(got, []string{"A0", "A1", "A2", "A3"}) {
		t.Fatalf("after ReleaseProposed = %v", got)
	}

	// Without any release, reservations lapse after ReserveHeights
	// heights of other blocks committing.
	h.commit(1, h.sign(other, 0, "x"))
	if got := h.reapLabels(10, 1<<20, nm); len(got) != 0 {
		t.Fatalf("after 1 height = %v, want nothing", got)
	}
	h.commit(2, h.sign(other, 1, "x"))
	if got := h.reapLabels(10, 1<<20, nm); len(got) != 4 {
		t.Fatalf("after ReserveHeights = %v, want all 4 again", got)
	}
	for _, hash := range second.Hashes {
		if st, ok := h.m.Lookup(hash); !ok || st.Status != StatusPending {
			t.Fatalf("tx %s lost: %+v %v", hash, st, ok)
		}
	}
}

func TestCommitRemovesAndOvertakes(t *testing.T) {
	h := newHarness(t, Config{})
	a := newKey(t)
	hs := h.addN(a, 0, 3)
	b := h.m.Reap(10, 1<<20)
	// Nonce 0 commits as our tx; nonce 1 commits as a different tx.
	rival := h.sign(a, 1, "rival")
	h.commit(5, b.Txs[0], rival)

	if _, ok := h.m.Lookup(hs[0]); ok {
		t.Fatal("committed tx still known")
	}
	st, ok := h.m.Lookup(hs[1])
	if !ok || st.Status != StatusDropped || st.Drop != DropNonceOvertaken ||
		st.Reason != "nonce 1 used by a transaction committed at height 5" {
		t.Fatalf("overtaken tx status = %+v", st)
	}
	st, _ = h.m.Lookup(hs[2])
	if st.Status != StatusPending || !st.Proposed {
		t.Fatalf("nonce 2 = %+v, want pending and still reserved", st)
	}
	s := h.m.Stats()
	if s.Size != 1 || s.Evicted[DropNonceOvertaken] != 1 || s.Height != 5 || s.Proposed != 1 {
		t.Fatalf("stats %+v", s)
	}
	// A resubmission of a committed nonce is too low now.
	if _, err := h.m.Add(b.Txs[0]); !errors.Is(err, ErrNonceTooLow) {
		t.Fatalf("resubmit committed: %v", err)
	}
}

func TestMempoolFullLosesNothing(t *testing.T) {
	const maxTxs = 8
	h := newHarness(t, Config{MaxTxs: maxTxs})
	keys := make([]*ecdsa.PrivateKey, maxTxs+1)
	var admitted []chain.Hash
	for i := range keys {
		keys[i] = newKey(t)
	}
	for i := range maxTxs {
		admitted = append(admitted, h.mustAdd(h.sign(keys[i], 0, "x")))
	}
	late := h.sign(keys[maxTxs], 0, "x")
	for range 3 {
		if _, err := h.m.Add(late); !errors.Is(err, ErrFull) {
			t.Fatalf("Add when full: %v, want ErrFull", err)
		}
	}
	lateHash, _ := h.m.Add(late)
	if _, ok := h.m.Lookup(lateHash); ok {
		t.Fatal("refused tx is remembered")
	}
	for _, hash := range admitted {
		if st, ok := h.m.Lookup(hash); !ok || st.Status != StatusPending {
			t.Fatalf("admitted tx %s lost when full", hash)
		}
	}
	if got := h.m.Reap(100, 1<<20); got.Len() != maxTxs {
		t.Fatalf("reaped %d, want all %d admitted", got.Len(), maxTxs)
	}
	// Once one commits, the refused tx can be resubmitted.
	h.commit(1, h.sign(keys[0], 0, "x"))
	if _, err := h.m.Add(late); err != nil {
		t.Fatalf("resubmit after room: %v", err)
	}
	if st := h.m.Stats(); st.Rejected[ReasonFull] != 4 || st.Admitted != maxTxs+1 || st.Size != maxTxs {
		t.Fatalf("stats %+v", st)
	}
}

func TestTTLEviction(t *testing.T) {
	h := newHarness(t, Config{TTL: time.Minute})
	a, b := newKey(t), newKey(t)
	queued := h.mustAdd(h.sign(a, 5, "x")) // behind a gap that never fills
	h.clock.advance(30 * time.Second)
	fresh := h.mustAdd(h.sign(b, 0, "x"))
	h.clock.advance(30 * time.Second) // queued is exactly TTL old

	h.commit(1)
	st, ok := h.m.Lookup(queued)
	if !ok || st.Status != StatusDropped || st.Drop != DropTTL || st.Reason != "held 1m0s, ttl 1m0s" ||
		st.Sender != addr(a) || st.Nonce != 5 || st.Size != len(h.sign(a, 5, "x")) {
		t.Fatalf("expired tx = %+v %v", st, ok)
	}
	if st, _ := h.m.Lookup(fresh); st.Status != StatusPending || st.Drop != DropNone || st.Reason != "" {
		t.Fatalf("fresh tx = %+v", st)
	}
	if s := h.m.Stats(); s.Evicted[DropTTL] != 1 || s.Size != 1 {
		t.Fatalf("stats evicted %v size %d", s.Evicted, s.Size)
	}
	h.clock.advance(30 * time.Second)
	if n := h.m.Expire(); n != 1 {
		t.Fatalf("Expire = %d, want 1", n)
	}
	checkInvariants(t, h.m)
	// A peer's copy of the dropped tx is refused, so it cannot bounce
	// between pools whose TTLs run out at different times; the drop stays
	// visible.
	if _, err := h.m.AddRelayed(h.sign(a, 5, "x")); !errors.Is(err, ErrAlreadyKnown) || !strings.Contains(err.Error(), "was dropped here (ttl: held 1m0s, ttl 1m0s)") {
		t.Fatalf("relayed copy of a dropped tx: %v", err)
	}
	if st, _ := h.m.Lookup(queued); st.Status != StatusDropped {
		t.Fatalf("after the relayed copy = %+v", st)
	}
	// A relayed transaction that was never dropped is admitted as usual.
	if _, err := h.m.AddRelayed(h.sign(b, 1, "y")); err != nil {
		t.Fatalf("relayed fresh tx: %v", err)
	}
	// A client may resubmit a dropped tx; it is then held again.
	h.mustAdd(h.sign(a, 5, "x"))
	if st, _ := h.m.Lookup(queued); st.Status != StatusQueued {
		t.Fatalf("resubmitted = %+v", st)
	}
}

// TestRelayedDropGraceEnds: a peer's copy of a dropped transaction is
// refused only for RelayedDropGrace, so a client's resubmission through
// another node reaches this pool.
func TestRelayedDropGraceEnds(t *testing.T) {
	h := newHarness(t, Config{TTL: time.Minute})
	a := newKey(t)
	raw := h.sign(a, 5, "x")
	hash := h.mustAdd(raw)
	h.clock.advance(time.Minute)
	if n := h.m.Expire(); n != 1 {
		t.Fatalf("Expire = %d, want 1", n)
	}
	h.clock.advance(RelayedDropGrace - time.Second)
	if _, err := h.m.AddRelayed(raw); !errors.Is(err, ErrAlreadyKnown) {
		t.Fatalf("within the grace: %v", err)
	}
	h.clock.advance(time.Second)
	if _, err := h.m.AddRelayed(raw); err != nil {
		t.Fatalf("after the grace: %v", err)
	}
	if st, _ := h.m.Lookup(hash); st.Status != StatusQueued {
		t.Fatalf("relayed after the grace = %+v", st)
	}
}

func TestFullAddExpiresFirst(t *testing.T) {
	h := newHarness(t, Config{MaxTxs: 1, TTL: time.Minute})
	old := h.mustAdd(h.sign(newKey(t), 0, "x"))
	h.clock.advance(time.Minute)
	h.mustAdd(h.sign(newKey(t), 0, "x"))
	if st, _ := h.m.Lookup(old); st.Drop != DropTTL || st.Status != StatusDropped {
		t.Fatalf("old = %+v", st)
	}
}

func TestRecheckAfterUpdate(t *testing.T) {
	h := newHarness(t, Config{})
	a, b := newKey(t), newKey(t)
	a0 := h.mustAdd(h.sign(a, 0, "until=2"))
	a1 := h.mustAdd(h.sign(a, 1, "x"))
	b0 := h.mustAdd(h.sign(b, 0, "until=3"))
	// Admission was checked at height 1: both passed.
	h.commit(1)
	if s := h.m.Stats(); s.Size != 3 {
		t.Fatalf("after height 1: size %d", s.Size)
	}
	h.commit(2) // re-check at height 3: a0 expires, b0 still valid
	st, _ := h.m.Lookup(a0)
	if st.Status != StatusDropped || st.Drop != DropRecheck ||
		st.Reason != "application re-check after height 2: expired at height 3, limit 2" {
		t.Fatalf("a0 = %+v", st)
	}
	if st, _ := h.m.Lookup(a1); st.Status != StatusQueued {
		t.Fatalf("a1 = %+v, want queued behind the dropped nonce", st)
	}
	if info, _ := h.m.SenderInfo(addr(a)); info.Gap != "waiting for nonce 0" {
		t.Fatalf("gap = %q", info.Gap)
	}
	if st, _ := h.m.Lookup(b0); st.Status != StatusPending {
		t.Fatalf("b0 = %+v", st)
	}
	h.commit(3)
	if st, _ := h.m.Lookup(b0); st.Drop != DropRecheck {
		t.Fatalf("b0 after height 3 = %+v", st)
	}
	if s := h.m.Stats(); s.Evicted[DropRecheck] != 2 || s.Size != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestDroppedTableBounded(t *testing.T) {
	h := newHarness(t, Config{MaxDropped: 2, TTL: time.Second})
	var hs []chain.Hash
	for range 3 {
		hs = append(hs, h.mustAdd(h.sign(newKey(t), 0, "x")))
	}
	h.clock.advance(time.Second)
	if n := h.m.Expire(); n != 3 {
		t.Fatalf("expired %d", n)
	}
	if _, ok := h.m.Lookup(hs[0]); ok {
		t.Fatal("oldest drop kept beyond MaxDropped")
	}
	for _, hash := range hs[1:] {
		if st, ok := h.m.Lookup(hash); !ok || st.Status != StatusDropped {
			t.Fatalf("drop %s not kept", hash)
		}
	}
	if s := h.m.Stats(); s.DroppedKept != 2 || s.Evicted[DropTTL] != 3 {
		t.Fatalf("stats %+v", s)
	}
}

func TestPendingNonceWithoutTxs(t *testing.T) {
	h := newHarness(t, Config{})
	k := newKey(t)
	h.state.setNonce(addr(k), 7)
	if n, err := h.m.PendingNonce(addr(k)); err != nil || n != 7 {
		t.Fatalf("PendingNonce = %d, %v; want 7", n, err)
	}
	if _, ok := h.m.SenderInfo(addr(k)); ok {
		t.Fatal("SenderInfo for unknown sender")
	}
	h.state.nonceErr = fmt.Errorf("boom")
	if _, err := h.m.PendingNonce(addr(k)); err == nil {
		t.Fatal("state error swallowed")
	}
}

// fatalRecorder is a testing.TB whose Fatalf records instead of failing.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}
func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	panic(r)
}

func TestCheckInvariantsCatchesCorruption(t *testing.T) {
	corruptions := map[string]func(m *Mempool){
		"ready counter": func(m *Mempool) { m.ready++ },
		"bytes counter": func(m *Mempool) { m.bytes-- },
		"pending nonce": func(m *Mempool) {
			for _, acc := range m.accounts {
				acc.pending++
			}
		},
	}
	for name, corrupt := range corruptions {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.addN(newKey(t), 0, 2)
			corrupt(h.m)
			rec := &fatalRecorder{TB: t}
			func() {
				defer func() {
					if r := recover(); r != nil && r != rec {
						panic(r)
					}
				}()
				checkInvariants(rec, h.m)
			}()
			if rec.msg == "" {
				t.Fatal("corruption not detected")
			}
		})
	}
}
