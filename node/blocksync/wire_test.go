package blocksync

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain"
)

func TestRequestRoundTrip(t *testing.T) {
	tests := []Request{
		{Version: ProtocolVersion, Kind: KindBlocks, From: 1, Count: 1, MaxBytes: 1},
		{Version: ProtocolVersion, Kind: KindBlocks, From: ^uint64(0), Count: ^uint64(0), MaxBytes: ^uint64(0)},
		{Version: ProtocolVersion, Kind: KindStatus},
	}
	for _, r := range tests {
		enc := EncodeRequest(&r)
		if len(enc) > MaxRequestBytes {
			t.Fatalf("%+v encodes to %d bytes, above MaxRequestBytes %d", r, len(enc), MaxRequestBytes)
		}
		got, err := DecodeRequest(enc)
		if err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		if *got != r {
			t.Fatalf("got %+v, want %+v", *got, r)
		}
	}
}

func TestDecodeRequestRejects(t *testing.T) {
	enc := func(fields ...any) []byte {
		b, err := rlp.EncodeToBytes(fields)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := enc(uint64(1), KindBlocks, uint64(5), uint64(10), uint64(1000))
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"trailing byte", append(append([]byte{}, good...), 0x00), ErrMalformed},
		{"oversize", append(bytes.Repeat([]byte{0}, MaxRequestBytes), 0), ErrTooLarge},
		{"extra field", enc(uint64(1), KindBlocks, uint64(5), uint64(10), uint64(1000), uint64(1)), ErrMalformed},
		{"missing field", enc(uint64(1), KindBlocks, uint64(5), uint64(10)), ErrMalformed},
		{"non-canonical integer", []byte{0xc6, 0x01, 0x01, 0x81, 0x05, 0x0a, 0x01}, ErrMalformed},
		{"leading zero integer", []byte{0xc7, 0x01, 0x01, 0x82, 0x00, 0x05, 0x0a, 0x01}, ErrMalformed},
		{"version 2", enc(uint64(2), KindBlocks, uint64(5), uint64(10), uint64(1000)), ErrVersion},
		{"unknown kind", enc(uint64(1), uint64(3), uint64(5), uint64(10), uint64(1000)), ErrMalformed},
		{"from zero", enc(uint64(1), KindBlocks, uint64(0), uint64(10), uint64(1000)), ErrMalformed},
		{"count zero", enc(uint64(1), KindBlocks, uint64(5), uint64(0), uint64(1000)), ErrMalformed},
		{"max bytes zero", enc(uint64(1), KindBlocks, uint64(5), uint64(10), uint64(0)), ErrMalformed},
		{"status with range", enc(uint64(1), KindStatus, uint64(5), uint64(0), uint64(0)), ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeRequest(tc.in); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if r, err := DecodeRequest(good); err != nil || r.From != 5 || r.Count != 10 || r.MaxBytes != 1000 {
		t.Fatalf("good request: %+v, %v", r, err)
	}
}

// smallResponse is a response with n empty blocks and k checkpoints of
// ckptBytes bytes each.
func smallResponse(t *testing.T, n, k, ckptBytes int) []byte {
	t.Helper()
	r := Response{Version: ProtocolVersion, Height: 7, Blocks: []CertifiedBlock{}, Checkpoints: [][]byte{}}
	for i := range n {
		r.Blocks = append(r.Blocks, CertifiedBlock{
			Block:       chain.Block{Header: chain.Header{Height: uint64(i + 1)}, Txs: [][]byte{}, Senders: []chain.Address{}},
			Certificate: chain.Certificate{Height: uint64(i + 1), Signatures: []chain.CommitSig{}},
		})
	}
	for range k {
		r.Checkpoints = append(r.Checkpoints, bytes.Repeat([]byte{0xaa}, ckptBytes))
	}
	enc, err := rlp.EncodeToBytes(&r)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func TestDecodeResponseLimits(t *testing.T) {
	enc := smallResponse(t, 3, 2, 100)
	exact := ResponseLimits{MaxBytes: len(enc), MaxBlocks: 3, MaxCheckpoints: 2, MaxCheckpointBytes: 100}
	r, err := DecodeResponse(enc, exact)
	if err != nil {
		t.Fatalf("at the limits: %v", err)
	}
	if len(r.Blocks) != 3 || len(r.Checkpoints) != 2 || r.Height != 7 || r.Blocks[2].Block.Header.Height != 3 || r.Latest != nil {
		t.Fatalf("decoded %+v", r)
	}
	tests := []struct {
		name string
		in   []byte
		lim  func(l ResponseLimits) ResponseLimits
		want error
	}{
		{"bytes one below", enc, func(l ResponseLimits) ResponseLimits { l.MaxBytes--; return l }, ErrTooLarge},
		{"blocks one below", enc, func(l ResponseLimits) ResponseLimits { l.MaxBlocks--; return l }, ErrTooMany},
		{"checkpoints one below", enc, func(l ResponseLimits) ResponseLimits { l.MaxCheckpoints--; return l }, ErrTooMany},
		{"checkpoint bytes one below", enc, func(l ResponseLimits) ResponseLimits { l.MaxCheckpointBytes--; return l }, ErrTooLarge},
		{"trailing byte", append(append([]byte{}, enc...), 0xc0), func(l ResponseLimits) ResponseLimits { l.MaxBytes++; return l }, ErrMalformed},
		{"truncated", enc[:len(enc)-1], func(l ResponseLimits) ResponseLimits { return l }, ErrMalformed},
		{"not a list", []byte{0x80}, func(l ResponseLimits) ResponseLimits { return l }, ErrMalformed},
		{"empty list", []byte{0xc0}, func(l ResponseLimits) ResponseLimits { return l }, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeResponse(tc.in, tc.lim(exact)); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestDecodeResponseVersionAndShape(t *testing.T) {
	lim := ResponseLimits{MaxBytes: 1 << 10, MaxBlocks: 10, MaxCheckpoints: 10, MaxCheckpointBytes: 100}
	enc := func(v any) []byte {
		b, err := rlp.EncodeToBytes(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	empty := []any{}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"version 0", enc([]any{uint64(0), uint64(1), empty, empty, empty}), ErrVersion},
		{"earliest present but zero", enc([]any{uint64(1), uint64(1), empty, empty, empty, uint64(0)}), ErrMalformed},
		{"earliest not a number", enc([]any{uint64(1), uint64(1), empty, empty, empty, empty}), ErrMalformed},
		{"field after earliest", enc([]any{uint64(1), uint64(1), empty, empty, empty, uint64(3), uint64(1)}), ErrMalformed},
		{"blocks not a list", enc([]any{uint64(1), uint64(1), empty, []byte{1}, empty}), ErrMalformed},
		{"block not a struct", enc([]any{uint64(1), uint64(1), empty, []any{uint64(5)}, empty}), ErrMalformed},
		{"checkpoint not bytes", enc([]any{uint64(1), uint64(1), empty, empty, []any{empty}}), ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeResponse(tc.in, lim); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	r, err := DecodeResponse(enc([]any{uint64(1), uint64(9), empty, empty, empty}), lim)
	if err != nil || r.Height != 9 || r.Latest != nil || len(r.Blocks) != 0 || r.Earliest != 0 {
		t.Fatalf("minimal response: %+v, %v", r, err)
	}
	r, err = DecodeResponse(enc([]any{uint64(1), uint64(9), empty, empty, empty, uint64(4)}), lim)
	if err != nil || r.Earliest != 4 {
		t.Fatalf("response of a pruned server: %+v, %v", r, err)
	}
	// A server that keeps everything encodes no Earliest: its answers are
	// the bytes a decoder without the field accepts.
	full, err := rlp.EncodeToBytes(&Response{Version: 1, Height: 9, Blocks: []CertifiedBlock{}, Checkpoints: [][]byte{}})
	if err != nil || !bytes.Equal(full, enc([]any{uint64(1), uint64(9), empty, empty, empty})) {
		t.Fatalf("response without Earliest encodes as %x, %v", full, err)
	}
}
