package mempool

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/ethereum/go-ethereum/crypto"
)

const testChain = "bafomet-test"

// fakeState is a committed state for tests. CheckTx refuses the payload
// "bad", and a payload "until=N" once the checked height exceeds N, so
// admission depends on height as a real application's can.
type fakeState struct {
	mu       sync.Mutex
	nonces   map[chain.Address]uint64
	nonceErr error
	checks   int
}

func newFakeState() *fakeState { return &fakeState{nonces: make(map[chain.Address]uint64)} }

func (s *fakeState) NextNonce(a chain.Address) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nonceErr != nil {
		return 0, s.nonceErr
	}
	return s.nonces[a], nil
}

func (s *fakeState) setNonce(a chain.Address, n uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nonces[a] = n
}

var errBadPayload = errors.New("payload refused")

func (s *fakeState) CheckTx(ctx chain.TxContext, payload []byte) error {
	s.mu.Lock()
	s.checks++
	s.mu.Unlock()
	p := string(payload)
	if p == "bad" {
		return errBadPayload
	}
	if v, ok := strings.CutPrefix(p, "until="); ok {
		limit, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fmt.Errorf("bad limit: %w", err)
		}
		if ctx.Height > limit {
			return fmt.Errorf("expired at height %d, limit %d", ctx.Height, limit)
		}
	}
	return nil
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type harness struct {
	t     testing.TB
	m     *Mempool
	state *fakeState
	clock *fakeClock
}

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, state: newFakeState(), clock: newFakeClock()}
	cfg.Now = h.clock.Now
	h.m = New(cfg, testChain, h.state)
	return h
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func addr(k *ecdsa.PrivateKey) chain.Address { return crypto.PubkeyToAddress(k.PublicKey) }

func signRaw(t testing.TB, k *ecdsa.PrivateKey, chainID string, nonce uint64, payload string) []byte {
	t.Helper()
	tx, err := chain.SignTx(k, chainID, nonce, []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return tx.Bytes()
}

func (h *harness) sign(k *ecdsa.PrivateKey, nonce uint64, payload string) []byte {
	h.t.Helper()
	return signRaw(h.t, k, testChain, nonce, payload)
}

// mustAdd admits raw or fails the test.
func (h *harness) mustAdd(raw []byte) chain.Hash {
	h.t.Helper()
	hash, err := h.m.Add(raw)
	if err != nil {
		h.t.Fatalf("Add: %v", err)
	}
	return hash
}

// addN signs and admits nonces from..to-1 of k with payload "p<nonce>".
func (h *harness) addN(k *ecdsa.PrivateKey, from, to uint64) []chain.Hash {
	h.t.Helper()
	var out []chain.Hash
	for n := from; n < to; n++ {
		out = append(out, h.mustAdd(h.sign(k, n, fmt.Sprintf("p%d", n))))
	}
	return out
}

// commit builds a block of raws at height, sets the committed nonces the
// executor would, and calls Update.
func (h *harness) commit(height uint64, raws ...[]byte) {
	h.t.Helper()
	b := &chain.Block{Header: chain.Header{Height: height}}
	for _, raw := range raws {
		tx, err := chain.DecodeTx(raw, 0)
		if err != nil {
			h.t.Fatal(err)
		}
		s, err := tx.Sender()
		if err != nil {
			h.t.Fatal(err)
		}
		if next, _ := h.state.NextNonce(s); tx.Nonce == next {
			h.state.setNonce(s, next+1)
		}
		b.Txs = append(b.Txs, raw)
		b.Senders = append(b.Senders, s)
	}
	h.m.Update(height, b)
	checkInvariants(h.t, h.m)
}

// reapNonces reaps and returns "<sender index>:<nonce>" labels, using
// names to name senders.
func (h *harness) reapLabels(maxTxs, maxBytes int, names map[chain.Address]string) []string {
	h.t.Helper()
	b := h.m.Reap(maxTxs, maxBytes)
	checkInvariants(h.t, h.m)
	out := make([]string, 0, b.Len())
	for i, raw := range b.Txs {
		tx, err := chain.DecodeTx(raw, 0)
		if err != nil {
			h.t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s%d", names[b.Senders[i]], tx.Nonce))
	}
	return out
}

// checkInvariants verifies the pool's indexes and counters against each
// other.
func checkInvariants(t testing.TB, m *Mempool) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	var held, ready, reserved, bytes int
	for sender, acc := range m.accounts {
		if len(acc.byNonce) == 0 {
			t.Fatalf("empty account %s kept", sender)
		}
		if acc.pending < acc.base || (acc.pending != acc.base && acc.byNonce[acc.pending-1] == nil) ||
			acc.byNonce[acc.pending] != nil {
			t.Fatalf("account %s: base %d pending %d breaks the invariant", sender, acc.base, acc.pending)
		}
		for n, e := range acc.byNonce {
			if n < acc.base || e.nonce() != n || e.sender != sender || m.txs[e.hash] != e {
				t.Fatalf("account %s: entry at nonce %d misplaced (base %d)", sender, n, acc.base)
			}
			if e.reserved {
				reserved++
			}
			bytes += e.size
		}
		held += len(acc.byNonce)
		ready += acc.readyCount()
		if q := len(acc.byNonce) - acc.readyCount(); acc.queuedIdx != q || (q > 0 && m.queuedByCount[q][sender] != acc) || q > m.maxQueuedCount {
			t.Fatalf("account %s: queued %d, filed under %d (max %d)", sender, q, acc.queuedIdx, m.maxQueuedCount)
		}
		if _, ok := m.heavySenders[sender]; ok != (len(acc.byNonce) > m.cfg.MaxTxsPerSender) {
			t.Fatalf("account %s: in heavySenders %v, holds %d", sender, ok, len(acc.byNonce))
		}
	}
	for n, bucket := range m.queuedByCount {
		for sender, acc := range bucket {
			if m.accounts[sender] != acc || acc.queuedIdx != n {
				t.Fatalf("queuedByCount[%d] holds %s, filed under %d", n, sender, acc.queuedIdx)
			}
		}
	}
	for sender, acc := range m.heavySenders {
		if m.accounts[sender] != acc {
			t.Fatalf("heavySenders holds %s, not an account", sender)
		}
	}
	if held != len(m.txs) || held != m.age.Len() || ready != m.ready || reserved != m.reservedCount || bytes != m.bytes {
		t.Fatalf("counters: held %d txs %d age %d | ready %d counter %d | reserved %d counter %d | bytes %d counter %d",
			held, len(m.txs), m.age.Len(), ready, m.ready, reserved, m.reservedCount, bytes, m.bytes)
	}
	if m.gossip.Len() > held {
		t.Fatalf("gossip queue %d longer than pool %d", m.gossip.Len(), held)
	}
	for el := m.gossip.Front(); el != nil; el = el.Next() {
		e := el.Value.(*entry)
		if m.txs[e.hash] != e || e.gossiped {
			t.Fatalf("gossip queue holds %s (nonce %d): not held, or already handed out", e.hash, e.nonce())
		}
	}
}
