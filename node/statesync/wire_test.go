package statesync_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/snapshot"
	"github.com/bafomet/bafomet/node/blocksync"
	"github.com/bafomet/bafomet/node/statesync"
)

const v1 = statesync.ProtocolVersion

// rawRequest is a request with any fields, to encode what EncodeRequest's
// callers would not.
type rawRequest struct{ Version, Kind, Height, Index uint64 }

// TestRequestRoundTrip: every valid request of each kind decodes to itself
// and is recognised by IsRequest.
func TestRequestRoundTrip(t *testing.T) {
	for _, r := range []statesync.Request{
		{Version: v1, Kind: statesync.KindSnapshots},
		{Version: v1, Kind: statesync.KindManifest, Height: 1},
		{Version: v1, Kind: statesync.KindManifest, Height: ^uint64(0)},
		{Version: v1, Kind: statesync.KindChunk, Height: 7},
		{Version: v1, Kind: statesync.KindChunk, Height: ^uint64(0), Index: snapshot.MaxChunks - 1},
	} {
		enc := statesync.EncodeRequest(&r)
		if len(enc) > statesync.MaxRequestBytes {
			t.Errorf("%+v encodes to %d bytes, over MaxRequestBytes", r, len(enc))
		}
		got, err := statesync.DecodeRequest(enc)
		if err != nil || *got != r {
			t.Errorf("%+v: decoded %+v, %v", r, got, err)
		}
		if !statesync.IsRequest(enc) {
			t.Errorf("%+v: IsRequest false", r)
		}
	}
}

// TestDecodeRequestRules: the version, the kind and the fields each kind
// allows, the index limit, canonical RLP and nothing after it.
func TestDecodeRequestRules(t *testing.T) {
	enc := func(r rawRequest) []byte { return mustEncode(&r) }
	valid := enc(rawRequest{v1, statesync.KindChunk, 5, 3})
	for _, tc := range []struct {
		name string
		b    []byte
		want error // nil: accepted
	}{
		{"chunk at the last index", enc(rawRequest{v1, statesync.KindChunk, 5, snapshot.MaxChunks - 1}), nil},
		{"chunk index MaxChunks", enc(rawRequest{v1, statesync.KindChunk, 5, snapshot.MaxChunks}), statesync.ErrMalformed},
		{"chunk at height 0", enc(rawRequest{v1, statesync.KindChunk, 0, 0}), statesync.ErrMalformed},
		{"manifest at height 0", enc(rawRequest{v1, statesync.KindManifest, 0, 0}), statesync.ErrMalformed},
		{"manifest with an index", enc(rawRequest{v1, statesync.KindManifest, 5, 1}), statesync.ErrMalformed},
		{"snapshots with a height", enc(rawRequest{v1, statesync.KindSnapshots, 5, 0}), statesync.ErrMalformed},
		{"snapshots with an index", enc(rawRequest{v1, statesync.KindSnapshots, 0, 1}), statesync.ErrMalformed},
		{"block-sync kind", enc(rawRequest{v1, blocksync.KindBlocks, 5, 0}), statesync.ErrMalformed},
		{"kind below", enc(rawRequest{v1, statesync.KindSnapshots - 1, 0, 0}), statesync.ErrMalformed},
		{"kind above", enc(rawRequest{v1, statesync.KindChunk + 1, 5, 0}), statesync.ErrMalformed},
		{"version 0", enc(rawRequest{0, statesync.KindSnapshots, 0, 0}), statesync.ErrVersion},
		{"version 2", enc(rawRequest{2, statesync.KindChunk, 5, 3}), statesync.ErrVersion},
		{"trailing byte", append(bytes.Clone(valid), 0x00), statesync.ErrMalformed},
		{"truncated", valid[:len(valid)-1], statesync.ErrMalformed},
		{"too few fields", mustEncode([]uint64{v1, statesync.KindSnapshots, 0}), statesync.ErrMalformed},
		{"too many fields", mustEncode([]uint64{v1, statesync.KindSnapshots, 0, 0, 0}), statesync.ErrMalformed},
		{"non-canonical integer", []byte{0xc5, 0x01, 0x10, 0x81, 0x05, 0x03}, statesync.ErrMalformed}, // height 0x05 as 0x81 0x05
		{"leading zero", []byte{0xc6, 0x01, 0x12, 0x82, 0x00, 0x05, 0x03}, statesync.ErrMalformed},
		{"not a list", []byte{0x01}, statesync.ErrMalformed},
		{"empty", nil, statesync.ErrMalformed},
		{"at the byte limit", padded(statesync.MaxRequestBytes), statesync.ErrMalformed},
		{"over the byte limit", padded(statesync.MaxRequestBytes + 1), statesync.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := statesync.DecodeRequest(tc.b)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !bytes.Equal(statesync.EncodeRequest(r), tc.b) {
					t.Fatal("accepted request does not re-encode to its input")
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// padded returns a canonical RLP list of exactly n bytes (n ≥ 58) that is
// not a request: one string filling it.
func padded(n int) []byte {
	// list header 2 bytes (0xf8 len) + string header 2 bytes (0xb8 len).
	s := bytes.Repeat([]byte{0xaa}, n-4)
	b := mustEncode([][]byte{s})
	if len(b) != n {
		panic("padded: wrong length")
	}
	return b
}

// TestIsRequest: state-sync kinds only, and nothing that is not an RLP
// list with a second integer item; a block-sync request is not one.
func TestIsRequest(t *testing.T) {
	bs := blocksync.EncodeRequest(&blocksync.Request{Version: 1, Kind: blocksync.KindBlocks, From: 1, Count: 1, MaxBytes: 1 << 20})
	st := blocksync.EncodeRequest(&blocksync.Request{Version: 1, Kind: blocksync.KindStatus})
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"block-sync blocks", bs, false},
		{"block-sync status", st, false},
		{"kind 15", mustEncode(&rawRequest{v1, 15, 0, 0}), false},
		{"kind 19", mustEncode(&rawRequest{v1, 19, 0, 0}), false},
		{"kind 16, any version", mustEncode(&rawRequest{9, statesync.KindSnapshots, 0, 0}), true},
		{"kind 18 with bad fields", mustEncode(&rawRequest{v1, statesync.KindChunk, 0, 0}), true},
		{"one item", mustEncode([]uint64{v1}), false},
		{"kind is a list", mustEncode([]any{v1, []uint64{16}}), false},
		{"not a list", mustEncode(uint64(16)), false},
		{"empty", nil, false},
		{"empty list", []byte{0xc0}, false},
		{"truncated list", []byte{0xc3, 0x01}, false},
	} {
		if got := statesync.IsRequest(tc.b); got != tc.want {
			t.Errorf("%s: IsRequest %v, want %v", tc.name, got, tc.want)
		}
	}
}

func offers(heights ...uint64) []statesync.Offer {
	out := make([]statesync.Offer, len(heights))
	for i, h := range heights {
		out[i] = statesync.Offer{Height: h, Manifest: chain.Hash{byte(h), 0xee}}
	}
	return out
}

func descending(n int) []uint64 {
	hs := make([]uint64, n)
	for i := range hs {
		hs[i] = uint64(1000 - 10*i)
	}
	return hs
}

// TestDecodeOffersLimits: exactly MaxOffers offers are accepted, one more
// is refused; heights must be non-zero and strictly decreasing; the
// version, trailing bytes and the byte limit are checked.
func TestDecodeOffersLimits(t *testing.T) {
	enc := func(version uint64, os []statesync.Offer) []byte {
		return mustEncode(&statesync.OffersResponse{Version: version, Offers: os})
	}
	atLimit := enc(v1, offers(descending(statesync.MaxOffers)...))
	if len(atLimit) > statesync.MaxOffersBytes {
		t.Fatalf("MaxOffers offers take %d bytes, over MaxOffersBytes %d", len(atLimit), statesync.MaxOffersBytes)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"none", enc(v1, nil), nil},
		{"one at height 1", enc(v1, offers(1)), nil},
		{"exactly MaxOffers", atLimit, nil},
		{"MaxOffers+1", enc(v1, offers(descending(statesync.MaxOffers+1)...)), statesync.ErrTooLarge},
		{"height 0", enc(v1, offers(5, 0)), statesync.ErrMalformed},
		{"same height twice", enc(v1, offers(5, 5)), statesync.ErrMalformed},
		{"oldest first", enc(v1, offers(4, 5)), statesync.ErrMalformed},
		{"version 0", enc(0, offers(5)), statesync.ErrVersion},
		{"version 2", enc(2, offers(5)), statesync.ErrVersion},
		{"trailing byte", append(enc(v1, offers(5)), 0x80), statesync.ErrMalformed},
		{"short manifest hash", mustEncode([]any{v1, []any{[]any{uint64(5), []byte{1, 2, 3}}}}), statesync.ErrMalformed},
		{"over the byte limit", append(bytes.Clone(atLimit), make([]byte, statesync.MaxOffersBytes)...), statesync.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := statesync.DecodeOffers(tc.b)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !bytes.Equal(mustEncode(r), tc.b) {
					t.Fatal("accepted offers do not re-encode to their input")
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestDecodeManifestResponseLimits: a proof of exactly MaxProofBytes is
// accepted and one byte more refused; the version, trailing bytes and the
// byte limit are checked.
func TestDecodeManifestResponseLimits(t *testing.T) {
	m := (&snapshot.Manifest{Version: snapshot.Version, ChainID: "c", Height: 3}).Encode()
	enc := func(version uint64, manifest, proof []byte) []byte {
		return mustEncode(&statesync.ManifestResponse{Version: version, Manifest: manifest, Proof: proof})
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"small", enc(v1, m, []byte("proof")), nil},
		{"empty fields", enc(v1, nil, nil), nil},
		{"proof of MaxProofBytes", enc(v1, m, make([]byte, snapshot.MaxProofBytes)), nil},
		{"proof of MaxProofBytes+1", enc(v1, m, make([]byte, snapshot.MaxProofBytes+1)), statesync.ErrTooLarge},
		{"version 2", enc(2, m, nil), statesync.ErrVersion},
		{"trailing byte", append(enc(v1, m, nil), 0x80), statesync.ErrMalformed},
		{"missing proof", mustEncode([]any{v1, m}), statesync.ErrMalformed},
		{"over the byte limit", enc(v1, make([]byte, statesync.MaxManifestResponseBytes), nil), statesync.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := statesync.DecodeManifestResponse(tc.b)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !bytes.Equal(mustEncode(r), tc.b) {
					t.Fatal("accepted response does not re-encode to its input")
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestDecodeChunkResponseLimits: a chunk of MaxChunkBytes fits the
// response limit; the version, trailing bytes and the byte limit are
// checked.
func TestDecodeChunkResponseLimits(t *testing.T) {
	enc := func(version uint64, chunk []byte) []byte {
		return mustEncode(&statesync.ChunkResponse{Version: version, Chunk: chunk})
	}
	big := enc(v1, make([]byte, snapshot.MaxChunkBytes))
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"small", enc(v1, []byte{0xc0}), nil},
		{"chunk of MaxChunkBytes", big, nil},
		{"version 0", enc(0, []byte{1}), statesync.ErrVersion},
		{"trailing byte", append(enc(v1, []byte{1}), 0x80), statesync.ErrMalformed},
		{"chunk is a list", mustEncode([]any{v1, []uint64{1}}), statesync.ErrMalformed},
		{"over the byte limit", enc(v1, make([]byte, statesync.MaxChunkResponseBytes)), statesync.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := statesync.DecodeChunkResponse(tc.b)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !bytes.Equal(mustEncode(r), tc.b) {
					t.Fatal("accepted response does not re-encode to its input")
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}
