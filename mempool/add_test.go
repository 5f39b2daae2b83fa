package mempool

import (
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/bafomet/bafomet/chain"
	"github.com/ethereum/go-ethereum/crypto"
)

// highS returns raw with its signature replaced by the equivalent high-S
// form, which the wire format forbids.
func highS(t *testing.T, raw []byte) []byte {
	t.Helper()
	tx, err := chain.DecodeTx(raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := crypto.S256().Params().N
	s := new(big.Int).Sub(n, new(big.Int).SetBytes(tx.Signature[32:64]))
	sig := append([]byte(nil), tx.Signature...)
	s.FillBytes(sig[32:64])
	sig[64] ^= 1
	bad := &chain.Tx{ChainID: tx.ChainID, Nonce: tx.Nonce, Payload: tx.Payload, Signature: sig}
	return bad.Bytes()
}

func TestAddRejections(t *testing.T) {
	cfg := Config{MaxTxs: 5, MaxTxsPerSender: 3, MaxNonceGap: 2, MaxTxBytes: 200}
	h := newHarness(t, cfg)
	a, b, c := newKey(t), newKey(t), newKey(t)
	h.state.setNonce(addr(a), 5)
	h.mustAdd(h.sign(a, 5, "x"))
	h.mustAdd(h.sign(a, 6, "x"))
	h.mustAdd(h.sign(b, 0, "x"))
	h.mustAdd(h.sign(b, 1, "x"))

	tests := []struct {
		name   string
		raw    []byte
		want   error
		reason Reason
		detail string
	}{
		{"malformed", []byte{0xc1, 0x01}, ErrMalformed, ReasonMalformed, "malformed transaction"},
		{"wrong chain", signRaw(t, a, "other", 7, "x"), ErrWrongChain, ReasonWrongChain, `got "other", want "bafomet-test"`},
		{"too large", h.sign(c, 0, strings.Repeat("z", 200)), ErrTooLarge, ReasonTooLarge, "limit 200"},
		{"bad signature", highS(t, h.sign(c, 0, "x")), ErrBadSignature, ReasonBadSignature, "lower half"},
		{"nonce too low", h.sign(a, 4, "x"), ErrNonceTooLow, ReasonNonceTooLow, "nonce 4"},
		{"nonce taken", h.sign(a, 6, "y"), ErrNonceTaken, ReasonNonceTaken, "nonce 6"},
		{"nonce too far ahead", h.sign(a, 10, "x"), ErrNonceTooFarAhead, ReasonNonceTooFarAhead, "pending nonce 7, max gap 2"},
		{"rejected by app", h.sign(c, 0, "bad"), ErrRejectedByApp, ReasonRejectedByApp, "payload refused"},
		{"already known", h.sign(a, 5, "x"), ErrAlreadyKnown, ReasonAlreadyKnown, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.m.Add(tt.raw)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if got := ReasonOf(err); got != tt.reason {
				t.Fatalf("reason = %v, want %v", got, tt.reason)
			}
			for _, other := range reasonErrs {
				if other != nil && other != tt.want && errors.Is(err, other) {
					t.Fatalf("err %v also matches %v", err, other)
				}
			}
			if !strings.Contains(err.Error(), tt.detail) {
				t.Fatalf("err %q lacks %q", err, tt.detail)
			}
		})
	}
	// a holds 5 and 6; 7 takes its last slot (and the pool's), so 8 is over the sender limit.
	h.mustAdd(h.sign(a, 7, "x"))
	if _, err := h.m.Add(h.sign(a, 8, "x")); !errors.Is(err, ErrSenderFull) {
		t.Fatalf("4th tx of a: %v, want ErrSenderFull", err)
	}
	if _, err := h.m.Add(h.sign(c, 0, "x")); !errors.Is(err, ErrFull) {
		t.Fatalf("5th tx: %v, want ErrFull", err)
	}
	st := h.m.Stats()
	if st.Admitted != 5 || st.Size != 5 {
		t.Fatalf("admitted %d size %d, want 5 5", st.Admitted, st.Size)
	}
	for _, r := range Reasons() {
		if st.Rejected[r] != 1 {
			t.Errorf("rejected[%v] = %d, want 1", r, st.Rejected[r])
		}
	}
}

func TestAddUnwrapsCause(t *testing.T) {
	h := newHarness(t, Config{})
	k := newKey(t)
	_, err := h.m.Add(h.sign(k, 0, "bad"))
	if !errors.Is(err, errBadPayload) || !errors.Is(err, ErrRejectedByApp) {
		t.Fatalf("err = %v, want both ErrRejectedByApp and the app's cause", err)
	}
	_, err = h.m.Add(highS(t, h.sign(k, 0, "x")))
	if !errors.Is(err, chain.ErrTxSigHighS) {
		t.Fatalf("err = %v, want chain.ErrTxSigHighS as cause", err)
	}
}

func TestAddStateErrorIsNotARejection(t *testing.T) {
	h := newHarness(t, Config{})
	h.state.nonceErr = errors.New("disk on fire")
	_, err := h.m.Add(h.sign(newKey(t), 0, "x"))
	if err == nil || ReasonOf(err) != ReasonNone || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err = %v, want a non-rejection error naming the cause", err)
	}
	if st := h.m.Stats(); st.Size != 0 || st.Admitted != 0 {
		t.Fatalf("stats %+v, want nothing admitted", st)
	}
}

func TestMaxTxBytesLimit(t *testing.T) {
	k := newKey(t)
	raw := signRaw(t, k, testChain, 0, "payload")
	for _, tt := range []struct {
		limit int
		want  error
	}{
		{len(raw), nil},
		{len(raw) - 1, ErrTooLarge},
	} {
		h := newHarness(t, Config{MaxTxBytes: tt.limit})
		if _, err := h.m.Add(raw); !errors.Is(err, tt.want) {
			t.Errorf("limit %d: err = %v, want %v", tt.limit, err, tt.want)
		}
	}
}

func TestMaxNonceGapLimit(t *testing.T) {
	h := newHarness(t, Config{MaxNonceGap: 3})
	k := newKey(t)
	h.mustAdd(h.sign(k, 3, "x")) // pending nonce 0, gap 3: the limit
	if _, err := h.m.Add(h.sign(k, 4, "x")); !errors.Is(err, ErrNonceTooFarAhead) {
		t.Fatalf("nonce 4: %v, want ErrNonceTooFarAhead", err)
	}
	h.mustAdd(h.sign(k, 0, "x")) // pending nonce 1 → 4 is within the gap now
	h.mustAdd(h.sign(k, 4, "x"))
}

func TestFullAtBytesLimit(t *testing.T) {
	k := newKey(t)
	raw0 := signRaw(t, k, testChain, 0, "aaaa")
	raw1 := signRaw(t, k, testChain, 1, "bbbb")
	for _, tt := range []struct {
		name  string
		limit int
		want  error
	}{
		{"exactly fits", len(raw0) + len(raw1), nil},
		{"one byte short", len(raw0) + len(raw1) - 1, ErrFull},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{MaxBytes: tt.limit})
			h.mustAdd(raw0)
			if _, err := h.m.Add(raw1); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestConfigValidateAndDefaults(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	err := (Config{MaxTxs: -1, TTL: -1}).Validate()
	if err == nil || !strings.Contains(err.Error(), "max_txs") || !strings.Contains(err.Error(), "ttl") {
		t.Fatalf("err = %v, want max_txs and ttl named", err)
	}
	if err := (Config{MaxTxBytes: 10, MaxBytes: 5}).Validate(); err == nil {
		t.Fatal("max_tx_bytes > max_bytes accepted")
	}
	got := New(Config{MaxTxs: -5}, testChain, newFakeState()).Config()
	d := DefaultConfig()
	if got.MaxTxs != d.MaxTxs || got.MaxBytes != d.MaxBytes || got.TTL != d.TTL ||
		got.MaxNonceGap != d.MaxNonceGap || got.ReserveHeights != d.ReserveHeights {
		t.Fatalf("defaults not applied: %+v", got)
	}
}

func TestReasonNames(t *testing.T) {
	want := []string{"malformed", "wrong_chain", "too_large", "bad_signature", "nonce_too_low",
		"nonce_too_far_ahead", "nonce_taken", "sender_full", "rejected_by_app", "already_known", "mempool_full"}
	rs := Reasons()
	if len(rs) != len(want) {
		t.Fatalf("%d reasons, want %d", len(rs), len(want))
	}
	for i, r := range rs {
		if r.String() != want[i] {
			t.Errorf("reason %d = %q, want %q", i, r, want[i])
		}
	}
	var kinds []string
	for _, k := range DropKinds() {
		kinds = append(kinds, k.String())
	}
	if got := strings.Join(kinds, ","); got != "ttl,nonce_overtaken,recheck_failed,evicted" {
		t.Errorf("drop kinds = %s", got)
	}
	if StatusPending.String() != "pending" || StatusQueued.String() != "queued" || StatusDropped.String() != "dropped" {
		t.Error("status names changed")
	}
	if ReasonOf(nil) != ReasonNone || ReasonOf(errors.New("x")) != ReasonNone {
		t.Fatal("ReasonOf of a non-rejection is not ReasonNone")
	}
}

// TestAddTxChecksLikeAdd: a transaction the caller decoded (the RPC path)
// still meets the mempool's own size limit and chain id, and is then held
// exactly as Add would hold it.
func TestAddTxChecksLikeAdd(t *testing.T) {
	h := newHarness(t, Config{MaxTxBytes: 200})
	k := newKey(t)
	decode := func(raw []byte) *chain.Tx {
		tx, err := chain.DecodeTx(raw, 0)
		if err != nil {
			t.Fatal(err)
		}
		return tx
	}
	if _, err := h.m.AddTx(decode(signRaw(t, k, "other", 0, "x"))); !errors.Is(err, ErrWrongChain) {
		t.Fatalf("other chain: %v", err)
	}
	if _, err := h.m.AddTx(decode(h.sign(k, 0, strings.Repeat("x", 200)))); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	raw := h.sign(k, 0, "x")
	hash, err := h.m.AddTx(decode(raw))
	if err != nil || hash != crypto.Keccak256Hash(raw) {
		t.Fatalf("AddTx = %s, %v", hash, err)
	}
	if _, err := h.m.Add(raw); !errors.Is(err, ErrAlreadyKnown) {
		t.Fatalf("Add after AddTx: %v", err)
	}
	if s := h.m.Stats(); s.Size != 1 {
		t.Fatalf("pool holds %d, want 1", s.Size)
	}
}
