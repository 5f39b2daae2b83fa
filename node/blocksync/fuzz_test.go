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
func FuzzDecodeResponse(f *testing.F) {
	vs, keys := testValidators(f)
	b := &chain.Block{Header: chain.Header{Height: 1, ValidatorsHash: vs.Hash(), TxRoot: chain.TxRoot(nil, nil)}, Txs: [][]byte{}, Senders: []chain.Address{}}
	cert := certify(f, keys, b, 0, 0, 1, 2)
	proof := encodeProof(f, checkpointProof(f, keys, 1, b.Hash(), chain.Hash{1}, 0, 1, 2))
	full := Response{Version: ProtocolVersion, Height: 1, Latest: cert, Blocks: []CertifiedBlock{{Block: *b, Certificate: *cert}}, Checkpoints: [][]byte{proof}}
	for _, r := range []*Response{&full, {Version: ProtocolVersion, Blocks: []CertifiedBlock{}, Checkpoints: [][]byte{}}} {
		enc, err := rlp.EncodeToBytes(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
	}
	f.Add([]byte{0xc5, 0x01, 0x01, 0xc0, 0xc0, 0xc0})
	f.Add([]byte{0xc0})
	lim := ResponseLimits{MaxBytes: 1 << 16, MaxBlocks: 4, MaxCheckpoints: 4, MaxCheckpointBytes: 1 << 12}
	v := NewVerifier(testChainID, vs, 0)
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := DecodeResponse(in, lim)
		if err != nil {
			return
		}
		if len(r.Blocks) > lim.MaxBlocks || len(r.Checkpoints) > lim.MaxCheckpoints {
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
	})
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
