package statesync_test

import (
	"bytes"
	"testing"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/snapshot"
	"github.com/bafomet/bafomet/node/blocksync"
	"github.com/bafomet/bafomet/node/statesync"
)

// FuzzDecodeRequest: the decoder never panics; what it accepts is within
// MaxRequestBytes, re-encodes to the same bytes, has the current version,
// follows its kind's field rules, and is recognised by IsRequest.
func FuzzDecodeRequest(f *testing.F) {
	for _, r := range []statesync.Request{
		{Version: v1, Kind: statesync.KindSnapshots},
		{Version: v1, Kind: statesync.KindManifest, Height: 40},
		{Version: v1, Kind: statesync.KindChunk, Height: 40, Index: 2},
		{Version: v1, Kind: statesync.KindChunk, Height: ^uint64(0), Index: snapshot.MaxChunks - 1},
		{Version: 2, Kind: statesync.KindChunk, Height: 1},
	} {
		f.Add(statesync.EncodeRequest(&r))
	}
	f.Add(blocksync.EncodeRequest(&blocksync.Request{Version: 1, Kind: blocksync.KindBlocks, From: 1, Count: 8, MaxBytes: 1 << 20}))
	f.Add([]byte{0xc0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := statesync.DecodeRequest(b)
		if err != nil {
			return
		}
		if len(b) > statesync.MaxRequestBytes {
			t.Fatalf("accepted %d bytes", len(b))
		}
		if !bytes.Equal(statesync.EncodeRequest(r), b) {
			t.Fatal("accepted request does not re-encode to its input")
		}
		if r.Version != statesync.ProtocolVersion {
			t.Fatalf("accepted version %d", r.Version)
		}
		switch r.Kind {
		case statesync.KindSnapshots:
			if r.Height != 0 || r.Index != 0 {
				t.Fatalf("accepted %+v", r)
			}
		case statesync.KindManifest:
			if r.Height == 0 || r.Index != 0 {
				t.Fatalf("accepted %+v", r)
			}
		case statesync.KindChunk:
			if r.Height == 0 || r.Index >= snapshot.MaxChunks {
				t.Fatalf("accepted %+v", r)
			}
		default:
			t.Fatalf("accepted kind %d", r.Kind)
		}
		if !statesync.IsRequest(b) {
			t.Fatal("a decodable request is not recognised by IsRequest")
		}
	})
}

// FuzzIsRequest: IsRequest never panics, never claims a block-sync
// request, and whatever it rejects DecodeRequest refuses too (so routing
// by IsRequest loses no valid state-sync request).
func FuzzIsRequest(f *testing.F) {
	f.Add(statesync.EncodeRequest(&statesync.Request{Version: v1, Kind: statesync.KindSnapshots}))
	f.Add(statesync.EncodeRequest(&statesync.Request{Version: v1, Kind: statesync.KindChunk, Height: 3, Index: 1}))
	f.Add(blocksync.EncodeRequest(&blocksync.Request{Version: 1, Kind: blocksync.KindStatus}))
	f.Add([]byte{0xc2, 0x01, 0x10})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		is := statesync.IsRequest(b)
		if _, err := statesync.DecodeRequest(b); err == nil && !is {
			t.Fatal("IsRequest false for a request DecodeRequest accepts")
		}
		if r, err := blocksync.DecodeRequest(b); err == nil && is {
			t.Fatalf("IsRequest true for block-sync request %+v", r)
		}
	})
}

// FuzzDecodeOffers: the decoder never panics; what it accepts is within
// MaxOffersBytes, re-encodes to the same bytes, has the current version,
// and holds at most MaxOffers offers at non-zero, strictly decreasing
// heights.
func FuzzDecodeOffers(f *testing.F) {
	for _, os := range [][]statesync.Offer{nil, offers(5), offers(30, 20, 10), offers(descending(statesync.MaxOffers)...)} {
		f.Add(mustEncode(&statesync.OffersResponse{Version: v1, Offers: os}))
	}
	f.Add(mustEncode(&statesync.OffersResponse{Version: v1, Offers: offers(descending(statesync.MaxOffers + 1)...)}))
	f.Add(mustEncode(&statesync.OffersResponse{Version: v1, Offers: offers(3, 3)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := statesync.DecodeOffers(b)
		if err != nil {
			return
		}
		if len(b) > statesync.MaxOffersBytes {
			t.Fatalf("accepted %d bytes", len(b))
		}
		if !bytes.Equal(mustEncode(r), b) {
			t.Fatal("accepted offers do not re-encode to their input")
		}
		if r.Version != statesync.ProtocolVersion {
			t.Fatalf("accepted version %d", r.Version)
		}
		if len(r.Offers) > statesync.MaxOffers {
			t.Fatalf("accepted %d offers", len(r.Offers))
		}
		for i, o := range r.Offers {
			if o.Height == 0 || (i > 0 && o.Height >= r.Offers[i-1].Height) {
				t.Fatalf("accepted offer %d at height %d after %v", i, o.Height, r.Offers[:i])
			}
		}
	})
}

// FuzzDecodeManifestResponse: the decoder never panics; what it accepts
// is within MaxManifestResponseBytes, re-encodes to the same bytes, has
// the current version and a proof of at most snapshot.MaxProofBytes.
func FuzzDecodeManifestResponse(f *testing.F) {
	_, keys := testValidators(f)
	m := &snapshot.Manifest{Version: snapshot.Version, ChainID: testChainID, Height: 10, Entries: 2, Bytes: 50, Chunks: []chain.Hash{{1}}}
	p := checkpointProof(f, keys, 10, chain.Hash{2}, chain.Hash{3}, 0, 1, 2)
	f.Add(mustEncode(&statesync.ManifestResponse{Version: v1, Manifest: m.Encode(), Proof: encodeProof(f, p)}))
	f.Add(mustEncode(&statesync.ManifestResponse{Version: v1}))
	f.Add(mustEncode(&statesync.ManifestResponse{Version: 2, Manifest: []byte{1}, Proof: []byte{2}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := statesync.DecodeManifestResponse(b)
		if err != nil {
			return
		}
		if len(b) > statesync.MaxManifestResponseBytes {
			t.Fatalf("accepted %d bytes", len(b))
		}
		if !bytes.Equal(mustEncode(r), b) {
			t.Fatal("accepted response does not re-encode to its input")
		}
		if r.Version != statesync.ProtocolVersion || len(r.Proof) > snapshot.MaxProofBytes {
			t.Fatalf("accepted version %d with a proof of %d bytes", r.Version, len(r.Proof))
		}
	})
}

// FuzzDecodeChunkResponse: the decoder never panics; what it accepts is
// within MaxChunkResponseBytes, re-encodes to the same bytes and has the
// current version.
func FuzzDecodeChunkResponse(f *testing.F) {
	entries, _ := testState(5, 10)
	f.Add(mustEncode(&statesync.ChunkResponse{Version: v1, Chunk: snapshot.EncodeChunk(entries)}))
	f.Add(mustEncode(&statesync.ChunkResponse{Version: v1}))
	f.Add(mustEncode(&statesync.ChunkResponse{Version: 0, Chunk: []byte{1}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := statesync.DecodeChunkResponse(b)
		if err != nil {
			return
		}
		if len(b) > statesync.MaxChunkResponseBytes {
			t.Fatalf("accepted %d bytes", len(b))
		}
		if !bytes.Equal(mustEncode(r), b) {
			t.Fatal("accepted response does not re-encode to its input")
		}
		if r.Version != statesync.ProtocolVersion {
			t.Fatalf("accepted version %d", r.Version)
		}
	})
}
