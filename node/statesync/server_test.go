package statesync_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/snapshot"
	"github.com/bafomet/bafomet/node/statesync"
)

// putManifest places a manifest-only snapshot of height h (no entries) in
// dir, as Dir.Write lays one out, and returns its hash. Writing many
// snapshots this way needs no store per height.
func putManifest(t *testing.T, dir *snapshot.Dir, h uint64) chain.Hash {
	t.Helper()
	m := &snapshot.Manifest{Version: snapshot.Version, ChainID: testChainID, Height: h, BlockHash: chain.Hash{byte(h)}}
	p := filepath.Join(dir.Path(), fmt.Sprintf("%020d", h))
	if err := os.Mkdir(p, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p, "manifest"), m.Encode(), 0o600); err != nil {
		t.Fatal(err)
	}
	return m.Hash()
}

func request(t *testing.T, srv *statesync.Server, r statesync.Request) ([]byte, error) {
	t.Helper()
	return srv.Handle(context.Background(), 1, statesync.EncodeRequest(&r))
}

// TestServerOffers: the server offers only snapshots with a stored
// checkpoint proof, newest first, at most MaxOffers, each with its
// manifest's hash; the answer passes DecodeOffers.
func TestServerOffers(t *testing.T) {
	dir, err := snapshot.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := statesync.NewServer(dir)
	if raw, err := request(t, srv, statesync.Request{Version: v1, Kind: statesync.KindSnapshots}); err != nil {
		t.Fatal(err)
	} else if r, err := statesync.DecodeOffers(raw); err != nil || len(r.Offers) != 0 {
		t.Fatalf("empty dir offers %+v, %v", r, err)
	}

	hashes := map[uint64]chain.Hash{}
	var want []statesync.Offer
	const n = statesync.MaxOffers + 6
	for i := n; i >= 1; i-- { // newest first
		h := uint64(10 * i)
		hashes[h] = putManifest(t, dir, h)
		if i > n-2 || i == n-5 { // the two newest and one in between have no stable checkpoint yet
			continue
		}
		if err := dir.SetProof(h, []byte("proof")); err != nil {
			t.Fatal(err)
		}
		if len(want) < statesync.MaxOffers {
			want = append(want, statesync.Offer{Height: h, Manifest: hashes[h]})
		}
	}
	// A snapshot directory with a proof but no manifest is not offered.
	if err := os.Mkdir(filepath.Join(dir.Path(), fmt.Sprintf("%020d", 1000)), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := dir.SetProof(1000, []byte("proof")); err != nil {
		t.Fatal(err)
	}

	for range 2 { // the second answer comes from the hash cache
		raw, err := request(t, srv, statesync.Request{Version: v1, Kind: statesync.KindSnapshots})
		if err != nil {
			t.Fatal(err)
		}
		r, err := statesync.DecodeOffers(raw)
		if err != nil {
			t.Fatalf("the server's offers do not decode: %v", err)
		}
		if fmt.Sprint(r.Offers) != fmt.Sprint(want) {
			t.Fatalf("offers\n%v\nwant\n%v", r.Offers, want)
		}
	}
	if got := srv.Served.Offers.Load(); got != 3 {
		t.Fatalf("Served.Offers %d, want 3", got)
	}
}

// TestServerAnswers: the manifest answer is the stored manifest and proof,
// the chunk answers are the stored chunks (hashing to what the manifest
// names); unknown heights and chunks, a snapshot without a proof and
// malformed requests are errors, and only answers are counted.
func TestServerAnswers(t *testing.T) {
	src := newSource(t, 50, 100, 20, testChainID)
	srv := src.server
	raw, err := request(t, srv, statesync.Request{Version: v1, Kind: statesync.KindManifest, Height: 20})
	if err != nil {
		t.Fatal(err)
	}
	mr, err := statesync.DecodeManifestResponse(raw)
	if err != nil {
		t.Fatal(err)
	}
	m, err := snapshot.DecodeManifest(mr.Manifest)
	if err != nil || m.Hash() != src.manifest.Hash() {
		t.Fatalf("served manifest: %v (same hash %v)", err, err == nil && m.Hash() == src.manifest.Hash())
	}
	if !bytes.Equal(mr.Proof, encodeProof(t, src.proof)) {
		t.Fatal("served proof is not the stored one")
	}
	if len(m.Chunks) == 0 {
		t.Fatal("snapshot has no chunks")
	}
	for i, want := range m.Chunks {
		raw, err := request(t, srv, statesync.Request{Version: v1, Kind: statesync.KindChunk, Height: 20, Index: uint64(i)})
		if err != nil {
			t.Fatal(err)
		}
		cr, err := statesync.DecodeChunkResponse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if snapshot.ChunkHash(cr.Chunk) != want {
			t.Fatalf("chunk %d does not hash to the manifest's", i)
		}
	}

	putManifest(t, src.dir, 30) // no proof yet
	for _, tc := range []struct {
		name string
		req  []byte
		want error // nil: any error
	}{
		{"manifest at an unknown height", statesync.EncodeRequest(&statesync.Request{Version: v1, Kind: statesync.KindManifest, Height: 21}), snapshot.ErrNotFound},
		{"manifest without a proof", statesync.EncodeRequest(&statesync.Request{Version: v1, Kind: statesync.KindManifest, Height: 30}), snapshot.ErrNotFound},
		{"chunk at an unknown height", statesync.EncodeRequest(&statesync.Request{Version: v1, Kind: statesync.KindChunk, Height: 21}), snapshot.ErrNotFound},
		{"chunk past the last", statesync.EncodeRequest(&statesync.Request{Version: v1, Kind: statesync.KindChunk, Height: 20, Index: uint64(len(m.Chunks))}), snapshot.ErrNotFound},
		{"chunk at the last index", statesync.EncodeRequest(&statesync.Request{Version: v1, Kind: statesync.KindChunk, Height: 20, Index: snapshot.MaxChunks - 1}), snapshot.ErrNotFound},
		{"malformed request", statesync.EncodeRequest(&statesync.Request{Version: v1, Kind: statesync.KindManifest}), statesync.ErrMalformed},
		{"other version", statesync.EncodeRequest(&statesync.Request{Version: 2, Kind: statesync.KindSnapshots}), statesync.ErrVersion},
		{"garbage", []byte{0xff, 0x00}, statesync.ErrMalformed},
	} {
		if _, err := srv.Handle(context.Background(), 2, tc.req); err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if got, want := srv.Served.Manifests.Load(), uint64(1); got != want {
		t.Errorf("Served.Manifests %d, want %d", got, want)
	}
	if got, want := srv.Served.Chunks.Load(), uint64(len(m.Chunks)); got != want {
		t.Errorf("Served.Chunks %d, want %d", got, want)
	}
}
