package mempool

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/ethereum/go-ethereum/crypto"
)

func TestUpdateBlockWithoutSendersRecovers(t *testing.T) {
	h := newHarness(t, Config{})
	k := newKey(t)
	hs := h.addN(k, 0, 3)
	rival := h.sign(k, 0, "rival")
	h.state.setNonce(addr(k), 1)
	h.m.Update(1, &chain.Block{Txs: [][]byte{rival}})
	if st, _ := h.m.Lookup(hs[0]); st.Drop != DropNonceOvertaken {
		t.Fatalf("nonce 0 = %+v, want overtaken", st)
	}
	if info, _ := h.m.SenderInfo(addr(k)); info.CommittedNonce != 1 || len(info.Ready) != 2 {
		t.Fatalf("info = %+v", info)
	}
}

func TestUpdateFallsBackToBlockNonceOnStateError(t *testing.T) {
	h := newHarness(t, Config{})
	k := newKey(t)
	h.addN(k, 0, 4)
	b := h.m.Reap(2, 1<<20)
	h.state.nonceErr = errors.New("read failed")
	h.m.Update(1, &chain.Block{Txs: b.Txs, Senders: b.Senders})
	h.state.nonceErr = nil
	info, _ := h.m.SenderInfo(addr(k))
	if info.CommittedNonce != 2 || info.PendingNonce != 4 || len(info.Ready) != 2 {
		t.Fatalf("info = %+v, want committed 2, ready 2 and 3", info)
	}
}

func TestUpdateForgetsDropsThatCommit(t *testing.T) {
	h := newHarness(t, Config{})
	k := newKey(t)
	raw := h.sign(k, 0, "until=1")
	hash := h.mustAdd(raw)
	h.commit(1) // re-check at height 2 drops it
	if st, _ := h.m.Lookup(hash); st.Status != StatusDropped {
		t.Fatalf("status = %+v", st)
	}
	// Another validator still committed it: the chain reports it now.
	h.commit(2, raw)
	if _, ok := h.m.Lookup(hash); ok {
		t.Fatal("committed tx still reported as dropped")
	}
}

// FuzzAdd feeds arbitrary bytes to Add and checks that it never panics,
// that every error is a rejection with a reason, and that the pool stays
// within its limits.
func FuzzAdd(f *testing.F) {
	k := newKey(f)
	f.Add(signRaw(f, k, testChain, 0, "k=v"))
	f.Add(signRaw(f, k, "other", 0, ""))
	f.Add([]byte{0xc0})
	f.Add([]byte{})
	m := New(Config{MaxTxs: 4, MaxTxBytes: 512}, testChain, newFakeState())
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, err := m.Add(raw)
		if err != nil && ReasonOf(err) == ReasonNone {
			t.Fatalf("error without a reason: %v", err)
		}
		if s := m.Stats(); s.Size > 4 || s.Ready+s.Queued != s.Size {
			t.Fatalf("stats out of bounds: %+v", s)
		}
		checkInvariants(t, m)
	})
}

// gatedState blocks the first CheckTx of payload "gated" until released,
// and reports when Update starts reading committed nonces.
type gatedState struct {
	*fakeState
	entered, release chan struct{}
	nonceRead        chan struct{} // closed when NextNonce(watch) is first called
	watch            chain.Address
	once, nonceOnce  sync.Once
}

func (s *gatedState) CheckTx(ctx chain.TxContext, payload []byte) error {
	if string(payload) == "until=1" {
		s.once.Do(func() {
			close(s.entered)
			<-s.release
		})
	}
	return s.fakeState.CheckTx(ctx, payload)
}

func (s *gatedState) NextNonce(a chain.Address) (uint64, error) {
	if a == s.watch {
		s.nonceOnce.Do(func() { close(s.nonceRead) })
	}
	return s.fakeState.NextNonce(a)
}

// TestUpdateWaitsForInFlightAdmission: an admission checked against the
// state before a commit must be re-checked by that commit's Update, so
// Update cannot finish while such an admission is in flight.
func TestUpdateWaitsForInFlightAdmission(t *testing.T) {
	st := &gatedState{fakeState: newFakeState(), entered: make(chan struct{}),
		release: make(chan struct{}), nonceRead: make(chan struct{})}
	k, other := newKey(t), newKey(t)
	st.watch = addr(other)
	m := New(Config{}, testChain, st)
	raw := signRaw(t, k, testChain, 0, "until=1") // valid at height 1 only

	addErr := make(chan error, 1)
	go func() { _, err := m.Add(raw); addErr <- err }()
	<-st.entered // Add passed its checks against height 1 and is in CheckTx

	otherTx := signRaw(t, other, testChain, 0, "x")
	st.setNonce(addr(other), 1)
	updated := make(chan struct{})
	go func() {
		m.Update(1, &chain.Block{Txs: [][]byte{otherTx}, Senders: []chain.Address{addr(other)}})
		close(updated)
	}()
	<-st.nonceRead
	select {
	case <-updated:
		t.Fatal("Update finished while an admission against the old state was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(st.release)
	if err := <-addErr; err != nil {
		t.Fatalf("Add: %v", err)
	}
	<-updated
	got, _ := m.Lookup(crypto.Keccak256Hash(raw))
	if got.Status != StatusDropped || got.Drop != DropRecheck {
		t.Fatalf("status = %+v, want dropped by the re-check at height 1", got)
	}
}

// scopedState is a fakeState that declares a re-check scope.
type scopedState struct {
	*fakeState
	scope chain.RecheckScope
}

func (s scopedState) RecheckScope() chain.RecheckScope { return s.scope }

// TestUpdateRecheckScope commits a block of sender A's first transaction
// while A and B each hold "until=1" transactions, which fail any re-check
// after height 1, and counts the re-checks and drops each scope causes.
func TestUpdateRecheckScope(t *testing.T) {
	for _, tc := range []struct {
		name      string
		scope     chain.RecheckScope
		wantCheck int // re-checks run by Update
		wantA     int // A's transactions left (of 2 after the commit)
		wantB     int // B's transactions left (of 3)
	}{
		{"all", chain.RecheckAll, 5, 0, 0},
		{"senders", chain.RecheckSenders, 2, 0, 3},
		{"none", chain.RecheckNone, 0, 2, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			st := scopedState{fakeState: newFakeState(), scope: tc.scope}
			h.state = st.fakeState
			h.m = New(Config{Now: h.clock.Now}, testChain, st)
			a, b := newKey(t), newKey(t)
			first := h.sign(a, 0, "until=1")
			h.mustAdd(first)
			for n := uint64(1); n < 3; n++ {
				h.mustAdd(h.sign(a, n, "until=1"))
			}
			for n := uint64(0); n < 3; n++ {
				h.mustAdd(h.sign(b, n, "until=1"))
			}
			before := st.checks
			st.setNonce(addr(a), 1)
			h.m.Update(1, &chain.Block{Txs: [][]byte{first}, Senders: []chain.Address{addr(a)}})
			if got := st.checks - before; got != tc.wantCheck {
				t.Fatalf("re-checks = %d, want %d", got, tc.wantCheck)
			}
			infoA, _ := h.m.SenderInfo(addr(a))
			infoB, _ := h.m.SenderInfo(addr(b))
			if got := len(infoA.Ready) + len(infoA.Queued); got != tc.wantA {
				t.Fatalf("A holds %d, want %d", got, tc.wantA)
			}
			if got := len(infoB.Ready) + len(infoB.Queued); got != tc.wantB {
				t.Fatalf("B holds %d, want %d", got, tc.wantB)
			}
		})
	}
}
