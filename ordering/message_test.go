package ordering

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain"
)

func TestQuorumMaths(t *testing.T) {
	tests := []struct {
		n, f, q, weak int
	}{
		{1, 0, 1, 1}, {2, 0, 2, 1}, {3, 0, 3, 1}, {4, 1, 3, 2}, {5, 1, 4, 2},
		{6, 1, 5, 2}, {7, 2, 5, 3}, {10, 3, 7, 4}, {100, 33, 67, 34},
	}
	for _, tt := range tests {
		if got := chain.MaxFaulty(tt.n); got != tt.f {
			t.Errorf("n=%d: f=%d, want %d", tt.n, got, tt.f)
		}
		if got := quorum(tt.n, false); got != tt.q {
			t.Errorf("n=%d: q=%d, want %d", tt.n, got, tt.q)
		}
		if got := quorum(tt.n, true); got != tt.weak {
			t.Errorf("n=%d: weakened q=%d, want %d", tt.n, got, tt.weak)
		}
		// Two quorums intersect in at least f+1 validators.
		if 2*tt.q-tt.n < tt.f+1 {
			t.Errorf("n=%d: quorums intersect in %d < f+1", tt.n, 2*tt.q-tt.n)
		}
	}
}

func signed(t testing.TB, key int, m *Message) *Message {
	t.Helper()
	m.From = uint32(key)
	if err := SignMessage(NewKeySigner(testKey(key)), testChainID, m); err != nil {
		t.Fatal(err)
	}
	return m
}

func sampleBlock() *chain.Block {
	txs := [][]byte{[]byte("a=1")}
	senders := []chain.Address{{1}}
	return &chain.Block{Header: chain.Header{Height: 1, ParentHash: genesisHash, Timestamp: 5, TxRoot: chain.TxRoot(txs, senders)},
		Txs: txs, Senders: senders}
}

func sampleMessages(t testing.TB) []*Message {
	b := sampleBlock()
	pp := signed(t, 0, &Message{Type: MsgPrePrepare, View: 0, Height: 1, Digest: b.Hash(), Block: b})
	p1 := signed(t, 1, &Message{Type: MsgPrepare, Height: 1, Digest: b.Hash()})
	p2 := signed(t, 2, &Message{Type: MsgPrepare, Height: 1, Digest: b.Hash()})
	cp := signed(t, 3, &Message{Type: MsgCheckpoint, Height: 10, Digest: b.Hash(), AppHash: genesisApp})
	vc := signed(t, 1, &Message{Type: MsgViewChange, View: 1, Height: 20, ViewChange: &ViewChange{
		Checkpoint: &CheckpointProof{Height: 10, BlockHash: b.Hash(), AppHash: genesisApp, Checkpoints: []*Message{cp}},
		Prepared:   []*PreparedProof{{PrePrepare: pp, Prepares: []*Message{p1, p2}}},
	}})
	nv := signed(t, 1, &Message{Type: MsgNewView, View: 1, Height: 20, NewView: &NewView{ViewChanges: []*Message{vc}, PrePrepares: []*Message{pp}}})
	cm := signed(t, 2, &Message{Type: MsgCommit, View: 0, Height: 1, Digest: b.Hash()})
	return []*Message{pp, p1, cm, cp, vc, nv}
}

func TestMessageRoundTripAndVerify(t *testing.T) {
	vs, _ := testValidators(t, 4)
	for _, m := range sampleMessages(t) {
		enc, err := EncodeMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeMessage(enc, 0)
		if err != nil {
			t.Fatalf("%s: decode: %v", m.Type, err)
		}
		re, _ := EncodeMessage(got)
		if !bytes.Equal(re, enc) {
			t.Fatalf("%s: re-encoding differs", m.Type)
		}
		if err := VerifyMessage(testChainID, vs, got); err != nil {
			t.Fatalf("%s: verify: %v", m.Type, err)
		}
		if err := VerifyMessage("other-chain", vs, got); !errors.Is(err, ErrMsgBadSignature) {
			t.Fatalf("%s on another chain: %v", m.Type, err)
		}
		got.View++
		if err := VerifyMessage(testChainID, vs, got); !errors.Is(err, ErrMsgBadSignature) {
			t.Fatalf("%s with a changed view: %v", m.Type, err)
		}
	}
}

// A commit signs exactly the certificate digest.
func TestCommitSignsCertificateDigest(t *testing.T) {
	vs, _ := testValidators(t, 4)
	b := sampleBlock()
	cert := &chain.Certificate{Height: 1, View: 2, BlockHash: b.Hash()}
	for i := 0; i < 3; i++ {
		m := signed(t, i, &Message{Type: MsgCommit, View: 2, Height: 1, Digest: b.Hash()})
		cert.Signatures = append(cert.Signatures, chain.CommitSig{Validator: uint32(i), Signature: m.Signature})
	}
	if err := cert.Verify(testChainID, vs); err != nil {
		t.Fatal(err)
	}
}

// Types differ in domain: a prepare's signature is not a commit's.
func TestSignatureDomainsDiffer(t *testing.T) {
	vs, _ := testValidators(t, 4)
	p := signed(t, 1, &Message{Type: MsgPrepare, View: 0, Height: 1, Digest: genesisHash})
	c := *p
	c.Type = MsgCommit
	if err := VerifyMessage(testChainID, vs, &c); !errors.Is(err, ErrMsgBadSignature) {
		t.Fatalf("prepare signature accepted as commit: %v", err)
	}
}

func TestDecodeMessageRejects(t *testing.T) {
	msgs := sampleMessages(t)
	good, _ := EncodeMessage(msgs[1])
	mutate := func(f func(m *Message)) []byte {
		m := *msgs[1]
		f(&m)
		enc, err := rlp.EncodeToBytes(&m)
		if err != nil {
			t.Fatal(err)
		}
		return enc
	}
	tests := []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"trailing bytes", append(append([]byte{}, good...), 0x80), 0, ErrMsgMalformed},
		{"oversize", good, len(good) - 1, ErrMsgTooLarge},
		{"at the size limit", good, len(good), nil},
		{"empty", nil, 0, ErrMsgMalformed},
		{"unknown type", mutate(func(m *Message) { m.Type = 9 }), 0, ErrMsgUnknownType},
		{"short signature", mutate(func(m *Message) { m.Signature = m.Signature[:64] }), 0, ErrMsgMalformed},
		{"prepare with block", mutate(func(m *Message) { m.Block = sampleBlock() }), 0, ErrMsgMalformed},
		{"prepare with appHash", mutate(func(m *Message) { m.AppHash = genesisApp }), 0, ErrMsgMalformed},
		{"pre-prepare without block", mutate(func(m *Message) { m.Type = MsgPrePrepare }), 0, ErrMsgMalformed},
		{"view change without body", mutate(func(m *Message) { m.Type = MsgViewChange }), 0, ErrMsgMalformed},
		{"new view without body", mutate(func(m *Message) { m.Type = MsgNewView }), 0, ErrMsgMalformed},
		{"nested new view", mutate(func(m *Message) {
			m.Type, m.NewView = MsgNewView, &NewView{PrePrepares: []*Message{msgs[5]}}
		}), 0, ErrMsgMalformed},
		{"view change with empty proof", mutate(func(m *Message) {
			m.Type, m.ViewChange = MsgViewChange, &ViewChange{Prepared: []*PreparedProof{{PrePrepare: msgs[1]}}}
		}), 0, ErrMsgMalformed},
	}
	for _, tt := range tests {
		_, err := DecodeMessage(tt.in, tt.max)
		if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestKeySignerIsDeterministic(t *testing.T) {
	s := NewKeySigner(testKey(0))
	d := crypto.Keccak256Hash([]byte("x"))
	a, err := s.Sign(d)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Sign(d)
	if !bytes.Equal(a, b) {
		t.Fatal("signatures differ for one digest")
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, m := range sampleMessages(f) {
		enc, err := EncodeMessage(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
	}
	vs, _ := testValidators(f, 4)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b, 1<<20)
		if err != nil {
			return
		}
		enc, err := EncodeMessage(m)
		if err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("decode accepted a non-canonical encoding")
		}
		_ = VerifyMessage(testChainID, vs, m) // must not panic
		c, err := New(Config{ChainID: testChainID, Validators: vs, Self: 3, Signer: NewKeySigner(testKey(3)), CheckpointInterval: 10},
			Restore{BlockHash: genesisHash, BlockTimestamp: genesisTs, AppHashes: []AppHashAt{{0, genesisApp}}})
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Step(m) // must not panic
	})
}
