package node

import (
	"crypto/ecdsa"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
	"github.com/bafomet/bafomet/p2p"
)

const gateChainID = "gate-test"

type banCall struct {
	index  int
	d      time.Duration
	reason string
}

// gateFixture is a gate over n validators with a log window of 2, a
// settable clock and a record of its bans.
type gateFixture struct {
	g    *consensusGate
	keys []*ecdsa.PrivateKey
	now  time.Time
	bans []banCall
}

func newGateFixture(t *testing.T, n int, mod func(*gateConfig)) *gateFixture {
	t.Helper()
	f := &gateFixture{now: time.Unix(1_000_000, 0)}
	vals := make([]chain.Validator, n)
	for i := range vals {
		k, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		f.keys = append(f.keys, k)
		vals[i] = chain.Validator{Name: "v" + string(rune('0'+i)), PubKey: crypto.CompressPubkey(&k.PublicKey)}
	}
	vs, err := chain.NewValidatorSet(vals)
	if err != nil {
		t.Fatal(err)
	}
	cfg := gateConfig{
		ChainID: gateChainID, Validators: vs, MaxFrame: 1 << 20, LogWindow: 2,
		SeenFrames: 1024, SeenTTL: time.Hour, ScoreWindow: 10 * time.Second,
		BanInvalid: 3, BanRepeats: 5, BanDuration: time.Minute,
		Ban: func(i int, d time.Duration, reason string) bool {
			f.bans = append(f.bans, banCall{i, d, reason})
			return true
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:    func() time.Time { return f.now },
	}
	if mod != nil {
		mod(&cfg)
	}
	f.g = newConsensusGate(cfg)
	return f
}

// sign signs m as validator m.From and returns it.
func (f *gateFixture) sign(t *testing.T, m *ordering.Message) *ordering.Message {
	t.Helper()
	if err := ordering.SignMessage(ordering.NewKeySigner(f.keys[m.From]), gateChainID, m); err != nil {
		t.Fatal(err)
	}
	return m
}

func encode(t *testing.T, m *ordering.Message) []byte {
	t.Helper()
	b, err := ordering.EncodeMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *gateFixture) prepare(t *testing.T, from uint32, view, height uint64) *ordering.Message {
	return f.sign(t, &ordering.Message{Type: ordering.MsgPrepare, From: from, View: view, Height: height, Digest: chain.Hash{byte(height)}})
}

func (f *gateFixture) admit(from int, frame []byte) *ordering.Message {
	return f.g.admit(p2p.Inbound{From: from, Proto: p2p.ProtoConsensus, Data: frame})
}

// A frame seen before is dropped before any signature is checked, whoever
// sends it; only repeats of a peer's own frames count against it; once
// the frame is forgotten (after 1 to 3 seen_ttl) it is checked again.
func TestGateDropsRepeatBeforeSignatureCheck(t *testing.T) {
	f := newGateFixture(t, 4, func(c *gateConfig) { c.SeenTTL = time.Second })
	frame := encode(t, f.prepare(t, 1, 0, 5))
	if f.admit(1, frame) == nil {
		t.Fatal("a valid prepare was dropped")
	}
	if got := f.g.sigChecks.Load(); got != 1 {
		t.Fatalf("signature checks = %d, want 1", got)
	}
	for range 3 {
		if f.admit(1, frame) != nil || f.admit(2, frame) != nil {
			t.Fatal("a repeated frame passed")
		}
	}
	if got := f.g.sigChecks.Load(); got != 1 {
		t.Fatalf("signature checks = %d after repeats, want 1", got)
	}
	if got := f.g.dropped[dropRepeat].Load(); got != 6 {
		t.Fatalf("repeats dropped = %d, want 6", got)
	}
	if s := f.g.scores[1]; s == nil || s.repeats != 3 {
		t.Fatalf("peer 1 score %+v, want 3 repeats", s)
	}
	if s := f.g.scores[2]; s != nil {
		t.Fatalf("peer 2 scored %+v for repeating another peer's frame", s)
	}
	f.now = f.now.Add(3 * time.Second)
	if f.admit(1, frame) == nil {
		t.Fatal("a frame older than 3×seen_ttl was still dropped as a repeat")
	}
}

// The seen set holds at most seen_frames per generation: with room for 2,
// the first of four frames is still remembered after two more (previous
// generation) and forgotten after four.
func TestGateSeenFramesBound(t *testing.T) {
	f := newGateFixture(t, 4, func(c *gateConfig) { c.SeenFrames = 2; c.BanRepeats = 100 })
	var frames [][]byte
	for h := range uint64(5) {
		frames = append(frames, encode(t, f.prepare(t, 1, 0, h+1)))
	}
	for _, fr := range frames[:3] {
		f.admit(1, fr)
	}
	if f.admit(1, frames[0]) != nil {
		t.Fatal("frame 0 forgotten with 3 frames seen and room for 2 per generation")
	}
	f.admit(1, frames[3])
	f.admit(1, frames[4])
	if f.admit(1, frames[0]) == nil {
		t.Fatal("frame 0 still remembered after two full generations")
	}
	if len(f.g.seen.cur) > 2 || len(f.g.seen.prev) > 2 {
		t.Fatalf("generations of %d and %d entries, limit 2", len(f.g.seen.cur), len(f.g.seen.prev))
	}
}

// ban_repeats repeats of its own frames within score_window ban a peer,
// once; fewer do not, nor the same number spread over two windows.
func TestGateBansAtRepeatLimit(t *testing.T) {
	f := newGateFixture(t, 4, nil) // ban_repeats 5
	a := encode(t, f.prepare(t, 1, 0, 1))
	b := encode(t, f.prepare(t, 1, 0, 2))
	f.admit(1, a)
	f.admit(1, b)
	for range 4 {
		f.admit(1, a)
	}
	f.now = f.now.Add(10 * time.Second) // a new window
	for range 4 {
		f.admit(1, b)
	}
	if len(f.bans) != 0 {
		t.Fatalf("banned after 4 repeats per window: %+v", f.bans)
	}
	f.admit(1, b)
	if len(f.bans) != 1 || f.bans[0].index != 1 || f.bans[0].d != time.Minute || !strings.HasPrefix(f.bans[0].reason, banRepeats) {
		t.Fatalf("bans %+v, want peer 1 for a minute for repeats", f.bans)
	}
	if got := f.g.bans[1].Load(); got != 1 {
		t.Fatalf("repeat bans counted %d, want 1", got)
	}
}

// ban_invalid invalid frames — a signature by another key, an undecodable
// frame — within score_window ban a peer.
func TestGateBansAtInvalidLimit(t *testing.T) {
	f := newGateFixture(t, 4, nil) // ban_invalid 3
	forged := func(h uint64) []byte {
		m := &ordering.Message{Type: ordering.MsgPrepare, From: 1, Height: h, Digest: chain.Hash{1}}
		if err := ordering.SignMessage(ordering.NewKeySigner(f.keys[2]), gateChainID, m); err != nil {
			t.Fatal(err)
		}
		return encode(t, m)
	}
	if f.admit(3, forged(1)) != nil || f.admit(3, []byte{0xc0, 1, 2}) != nil {
		t.Fatal("an invalid frame passed")
	}
	if len(f.bans) != 0 {
		t.Fatalf("banned after 2 invalid frames: %+v", f.bans)
	}
	if f.admit(3, forged(2)) != nil {
		t.Fatal("a forged prepare passed")
	}
	if len(f.bans) != 1 || f.bans[0].index != 3 || !strings.HasPrefix(f.bans[0].reason, banInvalid) {
		t.Fatalf("bans %+v, want peer 3 for invalid frames", f.bans)
	}
	if f.g.dropped[dropBadSignature].Load() != 2 || f.g.dropped[dropUndecodable].Load() != 1 {
		t.Fatalf("dropped: bad signature %d, undecodable %d; want 2 and 1",
			f.g.dropped[dropBadSignature].Load(), f.g.dropped[dropUndecodable].Load())
	}
}

func TestMaxSignatures(t *testing.T) {
	for _, c := range []struct {
		n          int
		window     uint64
		vc, nv     int
		comparison string
	}{
		{4, 2, 15, 63, "1+4+2×5; 1+4×15+2"},
		{4, 200, 1005, 4221, "1+4+200×5; 1+4×1005+200"},
		{1, 2, 6, 9, "1+1+2×2; 1+6+2"},
	} {
		vc, nv := maxSignatures(c.n, c.window)
		if vc != c.vc || nv != c.nv {
			t.Errorf("maxSignatures(%d, %d) = %d, %d; want %d, %d (%s)", c.n, c.window, vc, nv, c.vc, c.nv, c.comparison)
		}
	}
}

// viewChange builds a view change from validator 1 to view 1 with a
// checkpoint proof of 4 and, per height of the window (2), a prepared
// certificate of a pre-prepare and 4 prepares: 15 signatures, the most a
// valid one carries with n = 4.
func (f *gateFixture) viewChange(t *testing.T, extraPrepare bool) *ordering.Message {
	t.Helper()
	cp := &ordering.CheckpointProof{Height: 2, BlockHash: chain.Hash{2}, AppHash: chain.Hash{3}}
	for i := range uint32(4) {
		cp.Checkpoints = append(cp.Checkpoints, f.sign(t, &ordering.Message{Type: ordering.MsgCheckpoint, From: i, Height: 2, Digest: chain.Hash{2}, AppHash: chain.Hash{3}}))
	}
	body := &ordering.ViewChange{Checkpoint: cp}
	for h := uint64(3); h <= 4; h++ {
		pp := f.sign(t, &ordering.Message{Type: ordering.MsgPrePrepare, From: 0, Height: h, Digest: chain.Hash{byte(h)},
			Block: &chain.Block{Header: chain.Header{Height: h}}})
		p := &ordering.PreparedProof{PrePrepare: pp}
		for i := range uint32(4) {
			p.Prepares = append(p.Prepares, f.prepare(t, i, 0, h))
		}
		body.Prepared = append(body.Prepared, p)
	}
	if extraPrepare {
		body.Prepared[1].Prepares = append(body.Prepared[1].Prepares, f.prepare(t, 3, 0, 4))
	}
	return f.sign(t, &ordering.Message{Type: ordering.MsgViewChange, From: 1, View: 1, Height: 4, ViewChange: body})
}

// A view change at the signature bound has every signature checked before
// the driver; one past it, and a new view past its own bound, are dropped
// without a single check; a bad nested signature is caught.
func TestGateSignatureBound(t *testing.T) {
	f := newGateFixture(t, 4, func(c *gateConfig) { c.BanInvalid = 100 })
	vc := f.viewChange(t, false)
	if got := countSignatures(vc); got != 15 {
		t.Fatalf("fixture carries %d signatures, want 15", got)
	}
	if f.admit(1, encode(t, vc)) == nil {
		t.Fatal("a view change at the bound was dropped")
	}
	if got := f.g.sigChecks.Load(); got != 15 {
		t.Fatalf("signature checks = %d, want 15", got)
	}
	if f.admit(1, encode(t, f.viewChange(t, true))) != nil {
		t.Fatal("a view change of 16 signatures passed")
	}
	nv := func(pps int) []byte {
		body := &ordering.NewView{}
		for range 4 {
			body.ViewChanges = append(body.ViewChanges, vc)
		}
		for h := range pps {
			body.PrePrepares = append(body.PrePrepares, f.sign(t, &ordering.Message{Type: ordering.MsgPrePrepare, From: 0, View: 4,
				Height: uint64(h + 3), Digest: chain.Hash{byte(h)}, Block: &chain.Block{Header: chain.Header{Height: uint64(h + 3)}}}))
		}
		return encode(t, f.sign(t, &ordering.Message{Type: ordering.MsgNewView, From: 0, View: 4, NewView: body}))
	}
	if f.admit(0, nv(3)) != nil {
		t.Fatal("a new view of 64 signatures passed")
	}
	if got := f.g.sigChecks.Load(); got != 15 {
		t.Fatalf("signature checks = %d after oversigned messages, want 15", got)
	}
	if got := f.g.dropped[dropTooManySigs].Load(); got != 2 {
		t.Fatalf("too_many_signatures drops = %d, want 2", got)
	}
	if f.admit(0, nv(2)) == nil {
		t.Fatal("a new view at the bound (63) was dropped")
	}
	bad := f.viewChange(t, false)
	bad.View = 2
	bad.ViewChange.Prepared[0].Prepares[2].Signature[5] ^= 1
	f.sign(t, bad)
	if f.admit(1, encode(t, bad)) != nil || f.g.dropped[dropBadSignature].Load() != 1 {
		t.Fatal("a view change with a bad nested signature passed")
	}
}

// A new view from a validator that is not its view's primary is dropped
// before its signatures are checked.
func TestGateNewViewFromNonPrimary(t *testing.T) {
	f := newGateFixture(t, 4, nil)
	m := f.sign(t, &ordering.Message{Type: ordering.MsgNewView, From: 1, View: 4, NewView: &ordering.NewView{}})
	if f.admit(1, encode(t, m)) != nil || f.g.dropped[dropNotPrimary].Load() != 1 || f.g.sigChecks.Load() != 0 {
		t.Fatalf("new view from a non-primary: not_primary drops %d, checks %d", f.g.dropped[dropNotPrimary].Load(), f.g.sigChecks.Load())
	}
}
