package sim

import (
	"crypto/ecdsa"
	"reflect"
	"strings"
	"testing"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
)

// history is a hand-made run for the checker: four validators, validator 3
// Byzantine, a workload with three submitted transactions.
type history struct {
	t    *testing.T
	keys []*ecdsa.PrivateKey
	vs   *chain.ValidatorSet
	work *workload
	c    *checker
}

func newHistory(t *testing.T, quorum int) *history {
	t.Helper()
	keys := ValidatorKeys(7, 4)
	vs, err := ValidatorSet(keys)
	if err != nil {
		t.Fatal(err)
	}
	if quorum == 0 {
		quorum = vs.Quorum()
	}
	h := &history{t: t, keys: keys, vs: vs, work: newWorkload(7, ChainID)}
	h.c = newChecker(7, ChainID, vs, quorum, []bool{true, true, true, false}, h.work.txHash)
	for range 3 {
		tx, err := h.work.next()
		if err != nil {
			t.Fatal(err)
		}
		h.c.submit(tx.hash, tx.sender)
	}
	return h
}

// block builds a block at height with the given workload transactions;
// stamp distinguishes otherwise equal blocks.
func (h *history) block(height uint64, stamp uint64, txs ...int) *chain.Block {
	b := &chain.Block{}
	for _, i := range txs {
		b.Txs = append(b.Txs, h.work.txs[i].raw)
		b.Senders = append(b.Senders, h.work.txs[i].sender)
	}
	b.Header = chain.Header{Height: height, Timestamp: genesisTimeMs + stamp, TxRoot: chain.TxRoot(b.Txs, b.Senders)}
	return b
}

// cert signs a certificate for b in view with the given validators.
func (h *history) cert(b *chain.Block, view uint64, signers ...int) *chain.Certificate {
	c := &chain.Certificate{Height: b.Header.Height, View: view, BlockHash: b.Hash()}
	d := chain.CommitDigest(ChainID, c.Height, view, c.BlockHash)
	for _, i := range signers {
		sig, err := chain.Sign(h.keys[i], d)
		if err != nil {
			h.t.Fatal(err)
		}
		c.Signatures = append(c.Signatures, chain.CommitSig{Validator: uint32(i), Signature: sig})
	}
	return c
}

// propose records a pre-prepare of b in view signed (as far as the checker
// knows) by from.
func (h *history) propose(b *chain.Block, view uint64, from uint32) *ordering.Message {
	m := &ordering.Message{Type: ordering.MsgPrePrepare, From: from, View: view, Height: b.Header.Height, Digest: b.Hash(), Block: b}
	h.c.observe(m)
	return m
}

func kinds(vs []Violation) string {
	var ks []string
	for _, v := range vs {
		ks = append(ks, v.Kind)
	}
	return strings.Join(ks, ",")
}

func TestCheckerAgreement(t *testing.T) {
	tests := []struct {
		name  string
		run   func(h *history)
		kinds string
	}{
		{"same block on every honest node", func(h *history) {
			b := h.block(1, 1, 0)
			h.propose(b, 0, 0)
			c := h.cert(b, 0, 0, 1, 2)
			h.c.commit(0, true, b, c)
			h.c.commit(1, true, b, c)
			h.c.commit(2, true, b, c)
		}, ""},
		{"two honest nodes fork at height 1", func(h *history) {
			a, b := h.block(1, 1, 0), h.block(1, 2, 1)
			h.propose(a, 0, 0)
			h.propose(b, 1, 1)
			h.c.commit(0, true, a, h.cert(a, 0, 0, 1, 2))
			h.c.commit(1, true, b, h.cert(b, 1, 0, 1, 2))
		}, KindAgreement},
		{"a Byzantine node's different block is not a fork", func(h *history) {
			a, b := h.block(1, 1, 0), h.block(1, 2, 1)
			h.propose(a, 0, 0)
			h.propose(b, 1, 1)
			h.c.commit(0, true, a, h.cert(a, 0, 0, 1, 2))
			h.c.commit(3, false, b, h.cert(b, 1, 0, 1, 3))
		}, ""},
		{"fork at a later height after agreeing", func(h *history) {
			a := h.block(1, 1)
			h.propose(a, 0, 0)
			h.c.commit(0, true, a, h.cert(a, 0, 0, 1, 2))
			h.c.commit(1, true, a, h.cert(a, 0, 0, 1, 2))
			x, y := h.block(2, 3, 2), h.block(2, 4, 1)
			h.propose(x, 0, 0)
			h.propose(y, 3, 3) // the Byzantine primary of view 3
			h.c.commit(0, true, x, h.cert(x, 0, 0, 1, 2))
			h.c.commit(2, true, y, h.cert(y, 3, 1, 2, 3))
		}, KindAgreement},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHistory(t, 0)
			tt.run(h)
			if got := kinds(h.c.violations); got != tt.kinds {
				t.Fatalf("violations %q, want %q: %v", got, tt.kinds, h.c.violations)
			}
		})
	}
}

func TestCheckerValidity(t *testing.T) {
	tests := []struct {
		name  string
		run   func(h *history)
		kinds string
		want  string // substring of the first description
	}{
		{"never proposed", func(h *history) {
			b := h.block(1, 1, 0)
			h.c.commit(0, true, b, h.cert(b, 0, 0, 1, 2))
		}, KindValidity, "never pre-prepared"},
		{"proposed by a backup, not view 0's primary", func(h *history) {
			b := h.block(1, 1, 0)
			h.propose(b, 0, 1)
			h.c.commit(0, true, b, h.cert(b, 0, 0, 1, 2))
		}, KindValidity, "primary 0"},
		{"proposed in view 0, committed in view 1 without a new view", func(h *history) {
			b := h.block(1, 1, 0)
			h.propose(b, 0, 0)
			h.c.commit(0, true, b, h.cert(b, 1, 0, 1, 2))
		}, KindValidity, "view 1"},
		{"carried forward by view 1's new view", func(h *history) {
			b := h.block(1, 1, 0)
			h.propose(b, 0, 0)
			pp := &ordering.Message{Type: ordering.MsgPrePrepare, From: 1, View: 1, Height: 1, Digest: b.Hash(), Block: b}
			h.c.observe(&ordering.Message{Type: ordering.MsgNewView, From: 1, View: 1,
				NewView: &ordering.NewView{PrePrepares: []*ordering.Message{pp}}})
			h.c.commit(0, true, b, h.cert(b, 1, 0, 1, 2))
		}, "", ""},
		{"new view from a non-primary carries nothing", func(h *history) {
			b := h.block(1, 1, 0)
			pp := &ordering.Message{Type: ordering.MsgPrePrepare, From: 2, View: 1, Height: 1, Digest: b.Hash(), Block: b}
			h.c.observe(&ordering.Message{Type: ordering.MsgNewView, From: 2, View: 1,
				NewView: &ordering.NewView{PrePrepares: []*ordering.Message{pp}}})
			h.c.commit(0, true, b, h.cert(b, 1, 0, 1, 2))
		}, KindValidity, "never pre-prepared"},
		{"transaction never submitted", func(h *history) {
			b := h.block(1, 1, 0)
			b.Txs = append(b.Txs, []byte("forged"))
			b.Senders = append(b.Senders, chain.Address{})
			b.Header.TxRoot = chain.TxRoot(b.Txs, b.Senders)
			h.propose(b, 0, 0)
			h.c.commit(0, true, b, h.cert(b, 0, 0, 1, 2))
		}, KindValidity, "tx 1"},
		{"transaction attributed to the wrong sender", func(h *history) {
			b := h.block(1, 1, 0, 1)
			b.Senders[1] = b.Senders[0]
			b.Header.TxRoot = chain.TxRoot(b.Txs, b.Senders)
			h.propose(b, 0, 0)
			h.c.commit(0, true, b, h.cert(b, 0, 0, 1, 2))
		}, KindValidity, "attributed"},
		{"tx root does not match", func(h *history) {
			b := h.block(1, 1, 0)
			b.Header.TxRoot = chain.Hash{1}
			h.propose(b, 0, 0)
			h.c.commit(0, true, b, h.cert(b, 0, 0, 1, 2))
		}, KindValidity, "transactions root"},
		{"Byzantine node's invalid block is not checked", func(h *history) {
			b := h.block(1, 1, 0)
			h.c.commit(3, false, b, h.cert(b, 0, 0, 1, 2))
		}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHistory(t, 0)
			tt.run(h)
			if got := kinds(h.c.violations); got != tt.kinds {
				t.Fatalf("violations %q, want %q: %v", got, tt.kinds, h.c.violations)
			}
			if tt.want != "" && !strings.Contains(h.c.violations[0].Description, tt.want) {
				t.Fatalf("description %q lacks %q", h.c.violations[0].Description, tt.want)
			}
		})
	}
}

func TestCheckerCertificate(t *testing.T) {
	tests := []struct {
		name   string
		quorum int
		cert   func(h *history, b *chain.Block) *chain.Certificate
		kinds  string
	}{
		{"quorum of valid signatures", 0, func(h *history, b *chain.Block) *chain.Certificate {
			return h.cert(b, 0, 0, 1, 2)
		}, ""},
		{"one signature short of quorum", 0, func(h *history, b *chain.Block) *chain.Certificate {
			return h.cert(b, 0, 0, 1)
		}, KindCertificate},
		{"weakened quorum accepts f+1", 2, func(h *history, b *chain.Block) *chain.Certificate {
			return h.cert(b, 0, 0, 1)
		}, ""},
		{"weakened quorum still rejects f", 2, func(h *history, b *chain.Block) *chain.Certificate {
			return h.cert(b, 0, 0)
		}, KindCertificate},
		{"corrupted signature", 0, func(h *history, b *chain.Block) *chain.Certificate {
			c := h.cert(b, 0, 0, 1, 2)
			c.Signatures[1].Signature[3] ^= 1
			return c
		}, KindCertificate},
		{"duplicate signer", 0, func(h *history, b *chain.Block) *chain.Certificate {
			return h.cert(b, 0, 0, 1, 1)
		}, KindCertificate},
		{"certificate for another block", 0, func(h *history, b *chain.Block) *chain.Certificate {
			return h.cert(h.block(1, 99), 0, 0, 1, 2)
		}, KindCertificate},
		{"certificate for another height", 0, func(h *history, b *chain.Block) *chain.Certificate {
			c := h.cert(b, 0, 0, 1, 2)
			c.Height = 2
			return c
		}, KindCertificate},
		{"missing certificate", 0, func(h *history, b *chain.Block) *chain.Certificate {
			return nil
		}, KindCertificate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHistory(t, tt.quorum)
			b := h.block(1, 1, 0)
			h.propose(b, 0, 0)
			h.c.commit(0, true, b, tt.cert(h, b))
			if got := kinds(h.c.violations); got != tt.kinds {
				t.Fatalf("violations %q, want %q: %v", got, tt.kinds, h.c.violations)
			}
		})
	}
}

func TestCheckerHonestEquivocation(t *testing.T) {
	vote := func(from uint32, typ ordering.MsgType, view, height uint64, d byte) *ordering.Message {
		return &ordering.Message{Type: typ, From: from, View: view, Height: height, Digest: chain.Hash{d}}
	}
	tests := []struct {
		name  string
		msgs  []*ordering.Message
		kinds string
	}{
		{"same vote twice", []*ordering.Message{vote(1, ordering.MsgPrepare, 0, 1, 1), vote(1, ordering.MsgPrepare, 0, 1, 1)}, ""},
		{"two prepares at one view and height", []*ordering.Message{vote(1, ordering.MsgPrepare, 0, 1, 1), vote(1, ordering.MsgPrepare, 0, 1, 2)}, KindEquivocate},
		{"two commits at one view and height", []*ordering.Message{vote(2, ordering.MsgCommit, 3, 5, 1), vote(2, ordering.MsgCommit, 3, 5, 2)}, KindEquivocate},
		{"different views", []*ordering.Message{vote(1, ordering.MsgPrepare, 0, 1, 1), vote(1, ordering.MsgPrepare, 1, 1, 2)}, ""},
		{"prepare and commit differ in type", []*ordering.Message{vote(1, ordering.MsgPrepare, 0, 1, 1), vote(1, ordering.MsgCommit, 0, 1, 2)}, ""},
		{"Byzantine validator equivocates", []*ordering.Message{vote(3, ordering.MsgPrepare, 0, 1, 1), vote(3, ordering.MsgPrepare, 0, 1, 2)}, ""},
		{"checkpoints are not votes", []*ordering.Message{vote(1, ordering.MsgCheckpoint, 0, 10, 1), vote(1, ordering.MsgCheckpoint, 0, 10, 2)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHistory(t, 0)
			for _, m := range tt.msgs {
				h.c.observe(m)
			}
			if got := kinds(h.c.violations); got != tt.kinds {
				t.Fatalf("violations %q, want %q: %v", got, tt.kinds, h.c.violations)
			}
		})
	}
}

func TestCheckerRecordsStepAndCapsViolations(t *testing.T) {
	h := newHistory(t, 0)
	h.c.step, h.c.tick = 41, 9
	for i := range MaxViolations + 5 {
		b := h.block(uint64(i+1), 1)
		h.c.commit(0, true, b, nil)
	}
	if len(h.c.violations) != MaxViolations {
		t.Fatalf("%d violations recorded, want the cap %d", len(h.c.violations), MaxViolations)
	}
	v := h.c.violations[0]
	want := Violation{Kind: KindCertificate, Seed: 7, Step: 41, Tick: 9, Height: 1, Nodes: []int{0},
		Description: "slot 0 committed height 1 without a certificate"}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("first violation %+v, want %+v", v, want)
	}
}

// One finding seen by several messages of one step is one violation; the
// same words at a later step are another.
func TestViolationRecordedOncePerStep(t *testing.T) {
	c := newChecker(1, ChainID, nil, 3, []bool{true, true, true, true}, nil)
	c.step = 5
	c.violate(KindAgreement, where{height: 1}, "height %d certified twice", 1)
	c.violate(KindAgreement, where{height: 1}, "height %d certified twice", 1)
	if len(c.violations) != 1 {
		t.Fatalf("%d violations for one finding in one step, want 1", len(c.violations))
	}
	c.step = 6
	c.violate(KindAgreement, where{height: 1}, "height %d certified twice", 1)
	if len(c.violations) != 2 {
		t.Fatalf("%d violations after a later step, want 2", len(c.violations))
	}
}
