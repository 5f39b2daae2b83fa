package ordering

import (
	"math"

	"github.com/bafomet/bafomet/chain"
)

// MaxViewChangeBytes bounds the encoded size of a view change an honest
// validator of a set of n sends with the given log window: a stable
// checkpoint proof and, for each height of the window, a commit
// certificate or a header-only prepared certificate (the larger of the
// two is counted). Blocks never ride in a view change, so the bound does
// not depend on the block size.
func MaxViewChangeBytes(n int, logWindow uint64) int {
	q := chain.Quorum(n)
	perHeight := max(encodedSize(maxCertificate(q)), encodedSize(maxPreparedProof(q)))
	body := encodedSize(&ViewChange{Checkpoint: maxCheckpointProof(q)})
	return saturatingAdd(encodedSize(maxMessage(MsgViewChange)), body, saturatingMul(perHeight, logWindow))
}

// MaxNewViewBytes bounds the encoded size of a NewView an honest primary
// sends: a quorum of view changes and a header-only pre-prepare for each
// height of the window. A node's frame limit must be at least this (and at
// least a block plus its message) for every view change to travel.
func MaxNewViewBytes(n int, logWindow uint64) int {
	q := chain.Quorum(n)
	vcs := saturatingMul(MaxViewChangeBytes(n, logWindow), uint64(q))
	pps := saturatingMul(encodedSize(maxHeaderOnlyPrePrepare()), logWindow)
	return saturatingAdd(encodedSize(maxMessage(MsgNewView)), vcs, pps)
}

func maxMessage(t MsgType) *Message {
	return &Message{Type: t, From: math.MaxUint32, View: math.MaxUint64, Height: math.MaxUint64,
		Digest: fullHash(), AppHash: fullHash(), Signature: make([]byte, chain.SignatureLength)}
}

func maxHeaderOnlyPrePrepare() *Message {
	m := maxMessage(MsgPrePrepare)
	var proposer chain.Address
	for i := range proposer {
		proposer[i] = 0xff
	}
	m.Block = &chain.Block{Header: chain.Header{Height: math.MaxUint64, ParentHash: fullHash(), Timestamp: math.MaxUint64,
		Proposer: proposer, TxRoot: fullHash(), AppHash: fullHash(), ValidatorsHash: fullHash()}}
	return m
}

func maxPreparedProof(q int) *PreparedProof {
	p := &PreparedProof{PrePrepare: maxHeaderOnlyPrePrepare()}
	for range q - 1 {
		p.Prepares = append(p.Prepares, maxMessage(MsgPrepare))
	}
	return p
}

func maxCertificate(q int) *chain.Certificate {
	c := &chain.Certificate{Height: math.MaxUint64, View: math.MaxUint64, BlockHash: fullHash()}
	for range q {
		c.Signatures = append(c.Signatures, chain.CommitSig{Validator: math.MaxUint32, Signature: make([]byte, chain.SignatureLength)})
	}
	return c
}

func maxCheckpointProof(q int) *CheckpointProof {
	p := &CheckpointProof{Height: math.MaxUint64, BlockHash: fullHash(), AppHash: fullHash()}
	for range q {
		p.Checkpoints = append(p.Checkpoints, maxMessage(MsgCheckpoint))
	}
	return p
}

func fullHash() chain.Hash {
	var h chain.Hash
	for i := range h {
		h[i] = 0xff
	}
	return h
}

// encodedSize is the RLP size of v, plus room for the list headers that
// nest it (a few bytes each).
func encodedSize(v any) int {
	enc, err := encodeRLP(v)
	if err != nil {
		panic("ordering: encoding a size template: " + err.Error())
	}
	return len(enc) + 16
}

func saturatingMul(a int, b uint64) int {
	if b != 0 && uint64(a) > uint64(math.MaxInt)/b {
		return math.MaxInt
	}
	return a * int(b)
}

func saturatingAdd(xs ...int) int {
	sum := 0
	for _, x := range xs {
		if x > math.MaxInt-sum {
			return math.MaxInt
		}
		sum += x
	}
	return sum
}
