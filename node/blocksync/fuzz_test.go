package blocksync

import (
	"bytes"
	"context"
	"testing"

	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain"
)

// FuzzDecodeRequest: any input either fails to decode or decodes to a
// request whose canonical encoding is exactly the input; the server never
// panics on it.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(blocksReq(1, 64, 1<<20))
	f.Add(EncodeRequest(&Request{Version: ProtocolVersion, Kind: KindStatus}))
	f.Add(blocksReq(^uint64(0), ^uint64(0), ^uint64(0)))
	f.Add([]byte{0xc5, 0x01, 0x01, 0x01, 0x01, 0x01})
	f.Add([]byte{0xc0})
	f.Add([]byte{})
	s, err := NewServer(emptySource{}, ServerConfig{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err == nil && !bytes.Equal(EncodeRequest(r), b) {
			t.Fatalf("%x decodes to %+v, which encodes differently", b, r)
		}
		_, _ = s.Handle(context.Background(), 0, b)
	})
}

// FuzzDecodeResponse: any input either fails or decodes within the limits
// to a response that re-encodes to exactly the input; verifying it never
// panics.
//
// Its seeds are kept to a few dozen bytes. The engine minimizes every input
// that finds new coverage, and its minimizer tries removing every span of
// bytes, which is quadratic in the input's length; canonical RLP, whose
// length prefixes break under almost any removal, never shrinks, so a seed
// of a kilobyte makes each minimization run to its time limit. Signed
// blocks and checkpoint proofs, which are that large, are fuzzed by
// FuzzVerifyResponse instead.
func FuzzDecodeResponse(f *testing.F) {
	for _, r := range []*Response{
		{Version: ProtocolVersion, Blocks: []CertifiedBlock{}, Checkpoints: [][]byte{}},
		{Version: ProtocolVersion, Height: 7, Latest: &chain.Certificate{Height: 7}, Blocks: []CertifiedBlock{}, Checkpoints: [][]byte{{0xc0}}},
		{Version: ProtocolVersion, Height: 9, Blocks: []CertifiedBlock{}, Checkpoints: [][]byte{}, Earliest: 5},
	} {
		f.Add(encodeSeed(f, r))
	}
	f.Add([]byte{0xc5, 0x01, 0x01, 0xc0, 0xc0, 0xc0})
	f.Add([]byte{0xc6, 0x01, 0x01, 0xc0, 0xc0, 0xc0, 0x80}) // earliest present but 0
	f.Add([]byte{0xc7, 0x01, 0x01, 0xc0, 0xc0, 0xc0, 0x05, 0x05})
	f.Add([]byte{0xc0})
	v := NewVerifier(testChainID, fuzzValidators(f), 0)
	f.Fuzz(func(t *testing.T, in []byte) {
		checkResponse(t, v, in)
	})
}

// FuzzVerifyResponse mutates a valid signed response of one certified block
// and one checkpoint proof: the input is a list of edits, three bytes each
// (a big-endian offset and a byte that replaces the one there), and a last
// byte, when the length is not a multiple of three, that truncates the
// response by that many bytes. Every result must satisfy the invariants of
// FuzzDecodeResponse. The input stays a few bytes long however deep in the
// response the edits land, so minimizing it is cheap.
func FuzzVerifyResponse(f *testing.F) {
	vs, keys := testValidators(f)
	b := &chain.Block{Header: chain.Header{Height: 1, ValidatorsHash: vs.Hash(), TxRoot: chain.TxRoot(nil, nil)}, Txs: [][]byte{}, Senders: []chain.Address{}}
	cert := certify(f, keys, b, 0, 0, 1, 2)
	proof := encodeProof(f, checkpointProof(f, keys, 1, b.Hash(), chain.Hash{1}, 0, 1, 2))
	valid := encodeSeed(f, &Response{Version: ProtocolVersion, Height: 1, Latest: cert, Blocks: []CertifiedBlock{{Block: *b, Certificate: *cert}}, Checkpoints: [][]byte{proof}})
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{0, 10, 0xff})
	f.Add([]byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x01})
	v := NewVerifier(testChainID, vs, 0)
	in := make([]byte, len(valid))
	f.Fuzz(func(t *testing.T, edits []byte) {
		if len(edits) > 3*16+1 {
			return
		}
		in = append(in[:0], valid...)
		for ; len(edits) >= 3; edits = edits[3:] {
			at := (int(edits[0])<<8 | int(edits[1])) % len(in)
			in[at] = edits[2]
		}
		if len(edits) > 0 {
			in = in[:len(in)-min(len(in), int(edits[0]))]
		}
		checkResponse(t, v, in)
	})
}

// fuzzLimits are the response limits the fuzz targets decode with.
var fuzzLimits = ResponseLimits{MaxBytes: 1 << 16, MaxBlocks: 4, MaxCheckpoints: 4, MaxCheckpointBytes: 1 << 12}

// checkResponse decodes in within fuzzLimits and, when it decodes, checks
// that it re-encodes to exactly in and verifies it as blocks from height 1.
func checkResponse(t *testing.T, v *Verifier, in []byte) {
	r, err := DecodeResponse(in, fuzzLimits)
	if err != nil {
		return
	}
	if len(r.Blocks) > fuzzLimits.MaxBlocks || len(r.Checkpoints) > fuzzLimits.MaxCheckpoints {
		t.Fatalf("limits exceeded: %d blocks, %d checkpoints", len(r.Blocks), len(r.Checkpoints))
	}
	enc, err := rlp.EncodeToBytes(r)
	if err != nil || !bytes.Equal(enc, in) {
		t.Fatalf("%x re-encodes to %x (%v)", in, enc, err)
	}
	_, _ = v.VerifyRange(r.Blocks, 1, 2)
	for _, cp := range r.Checkpoints {
		_, _ = v.DecodeCheckpoint(cp)
	}
}

func encodeSeed(f *testing.F, r *Response) []byte {
	enc, err := rlp.EncodeToBytes(r)
	if err != nil {
		f.Fatal(err)
	}
	return enc
}

func fuzzValidators(f *testing.F) *chain.ValidatorSet {
	vs, _ := testValidators(f)
	return vs
}

// emptySource is a chain at height 0.
type emptySource struct{}

func (emptySource) Height() (uint64, error) { return 0, nil }
func (emptySource) Block(h uint64) (*chain.Block, error) {
	return nil, chain.ErrNotFound
}
func (emptySource) Certificate(h uint64) (*chain.Certificate, error) {
	return nil, chain.ErrNotFound
}
func (emptySource) Checkpoint(h uint64) ([]byte, error) { return nil, chain.ErrNotFound }
