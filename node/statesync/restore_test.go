package statesync_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/snapshot"
	"github.com/bafomet/bafomet/node/statesync"
)

// testTimeout bounds every restore and discovery a test runs.
const testTimeout = 60 * time.Second

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func newRestorer(t *testing.T, src *source, net *fakeNet, peers []int, lim statesync.Limits) *statesync.Restorer {
	t.Helper()
	r, err := statesync.New(statesync.Config{
		ChainID: testChainID, Validators: src.vs, CheckpointInterval: testCkptEvery,
		Requester: net, Peers: peers, Limits: lim, Log: quietLog,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// honestNet routes every peer to the honest server of src.
func honestNet(src *source, peers ...int) *fakeNet {
	net := newFakeNet()
	for _, p := range peers {
		net.set(p, serve(src.server, p))
	}
	return net
}

// discoverOne runs Discover and wants exactly the candidate of src's
// snapshot.
func discoverOne(t *testing.T, r *statesync.Restorer, src *source) statesync.Candidate {
	t.Helper()
	cs, _, _ := r.Discover(testCtx(t), 0)
	if len(cs) != 1 || cs[0].Height != src.height || cs[0].Manifest != src.manifest.Hash() {
		t.Fatalf("candidates %+v, want the one of height %d manifest %s", cs, src.height, src.manifest.Hash())
	}
	return cs[0]
}

// checkRestored wants sink to hold exactly src's state, height, appHash
// and checkpoint proof.
func checkRestored(t *testing.T, src *source, sink *chain.Store) {
	t.Helper()
	if ok, err := sink.Initialized(); err != nil || !ok {
		t.Fatalf("sink not initialised after a restore: %v", err)
	}
	if h, err := sink.Height(); err != nil || h != src.height {
		t.Fatalf("sink height %d, %v; want %d", h, err, src.height)
	}
	if ah, err := sink.AppHashAt(src.height); err != nil || ah != src.appHash {
		t.Fatalf("sink appHash %s, %v; want %s", ah, err, src.appHash)
	}
	if p, err := sink.Checkpoint(src.height); err != nil || !bytes.Equal(p, encodeProof(t, src.proof)) {
		t.Fatalf("sink checkpoint proof differs from the certified one: %v", err)
	}
	if !equalEntries(readAll(t, sink), src.entries) {
		t.Fatal("sink state differs from the source's")
	}
}

func checkNotInitialised(t *testing.T, sink *chain.Store) {
	t.Helper()
	if ok, err := sink.Initialized(); err != nil || ok {
		t.Fatalf("sink initialised (%v) by a failed restore: %v", ok, err)
	}
}

// TestRestoreHonest: three honest peers; the sink ends with exactly the
// source's state, height, appHash and proof, and the progress is complete
// with no faults.
func TestRestoreHonest(t *testing.T) {
	src := newSource(t, 300, 100, 40, testChainID)
	peers := []int{1, 2, 3}
	r := newRestorer(t, src, honestNet(src, peers...), peers, statesync.Limits{})
	c := discoverOne(t, r, src)
	if !slices.Equal(c.Peers, peers) {
		t.Fatalf("candidate peers %v, want %v", c.Peers, peers)
	}
	sink := openStore(t)
	res, err := r.Restore(testCtx(t), c, sink)
	if err != nil {
		t.Fatal(err)
	}
	if res.Manifest.Hash() != src.manifest.Hash() || res.Proof.AppHash != src.appHash || res.Proof.Height != src.height {
		t.Fatalf("result: manifest %s proof (%d, %s)", res.Manifest.Hash(), res.Proof.Height, res.Proof.AppHash)
	}
	checkRestored(t, src, sink)
	p := r.Progress()
	if p.Restoring || p.Height != src.height || p.ChunksDone != len(src.manifest.Chunks) || p.Chunks != p.ChunksDone ||
		p.Bytes != src.manifest.Bytes || p.TotalBytes != p.Bytes || p.Faults != 0 {
		t.Fatalf("progress %+v", p)
	}
}

// Chunk faults a Byzantine or broken peer can show.
var chunkFaults = []struct {
	name  string
	alter func(ctx context.Context, chunk []byte) ([]byte, error)
}{
	{"corrupted byte", func(_ context.Context, c []byte) ([]byte, error) {
		c = bytes.Clone(c)
		c[len(c)/2] ^= 0x01
		return c, nil
	}},
	{"truncated", func(_ context.Context, c []byte) ([]byte, error) { return c[:len(c)-1], nil }},
	{"empty", func(_ context.Context, c []byte) ([]byte, error) { return nil, nil }},
	{"error", func(_ context.Context, c []byte) ([]byte, error) { return nil, errors.New("no such chunk") }},
	{"hangs past RequestTimeout", func(ctx context.Context, c []byte) ([]byte, error) {
		<-ctx.Done() // the restorer's RequestTimeout ends it
		return nil, ctx.Err()
	}},
}

// TestRestoreAroundBadChunks: peers that serve chunk 0 corrupted,
// truncated, empty, with an error or not at all (past RequestTimeout) are
// counted as faults and not asked for that chunk again, and the restore
// succeeds from the honest peer. The cool-down is 1ns, so only the
// per-chunk exclusion keeps the restorer from asking a bad peer again.
func TestRestoreAroundBadChunks(t *testing.T) {
	src := newSource(t, 300, 100, 40, testChainID)
	peers := []int{1, 2, 3}
	for _, f := range chunkFaults {
		for _, bad := range [][]int{{1}, {1, 2}} {
			t.Run(fmt.Sprintf("%s by %v", f.name, bad), func(t *testing.T) {
				net := honestNet(src, peers...)
				for _, p := range bad {
					net.set(p, alterChunk(serve(src.server, p), 0, f.alter))
				}
				r := newRestorer(t, src, net, peers, statesync.Limits{RequestTimeout: 300 * time.Millisecond, PeerCooldown: time.Nanosecond})
				c := discoverOne(t, r, src)
				sink := openStore(t)
				// A restorer that asked a bad peer again and again would
				// spin until this bound.
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				if _, err := r.Restore(ctx, c, sink); err != nil {
					t.Fatal(err)
				}
				checkRestored(t, src, sink)
				if got := r.Progress().Faults; got != uint64(len(bad)) {
					t.Errorf("Faults %d, want %d", got, len(bad))
				}
				for _, p := range bad {
					if n := net.count(p, statesync.KindChunk, 0); n != 1 {
						t.Errorf("bad peer %d asked %d times for chunk 0, want once", p, n)
					}
				}
				good := 0
				for _, p := range peers {
					if !slices.Contains(bad, p) {
						good += net.count(p, statesync.KindChunk, 0)
					}
				}
				if good != 1 {
					t.Errorf("honest peers asked %d times for chunk 0, want once", good)
				}
			})
		}
	}
}

// TestRestoreFailsWhenNoPeerServesAChunk: when every peer of the
// candidate fails chunk 0, the restore fails, each peer was asked once,
// and the sink is not initialised.
func TestRestoreFailsWhenNoPeerServesAChunk(t *testing.T) {
	src := newSource(t, 300, 100, 40, testChainID)
	peers := []int{1, 2, 3}
	net := newFakeNet()
	for i, p := range peers {
		net.set(p, alterChunk(serve(src.server, p), 0, chunkFaults[i].alter))
	}
	r := newRestorer(t, src, net, peers, statesync.Limits{PeerCooldown: time.Nanosecond})
	c := discoverOne(t, r, src)
	sink := openStore(t)
	_, err := r.Restore(testCtx(t), c, sink)
	if err == nil || !strings.Contains(err.Error(), "every peer") {
		t.Fatalf("restore with no good chunk 0: %v", err)
	}
	checkNotInitialised(t, sink)
	for _, p := range peers {
		if n := net.count(p, statesync.KindChunk, 0); n != 1 {
			t.Errorf("peer %d asked %d times for chunk 0, want once", p, n)
		}
	}
	if got := r.Progress().Faults; got != 3 {
		t.Errorf("Faults %d, want 3", got)
	}
}

// offersHandler answers KindSnapshots with os and nothing else.
func offersHandler(os ...statesync.Offer) handler {
	return func(ctx context.Context, req []byte) ([]byte, error) {
		return mustEncode(&statesync.OffersResponse{Version: v1, Offers: os}), nil
	}
}

func offer(h uint64, m byte) statesync.Offer {
	return statesync.Offer{Height: h, Manifest: chain.Hash{m}}
}

// TestDiscover: with 4 validators (f = 1) an offer counts only from f+1 =
// 2 distinct peers; different manifests at one height are separate
// candidates; candidates come newest first, and maxHeight (inclusive)
// filters them; a peer that errs, hangs or answers garbage adds nothing.
func TestDiscover(t *testing.T) {
	src := newSource(t, 1, 1, 10, testChainID) // for the validator set only
	a40, b40, c30 := offer(40, 0xa), offer(40, 0xb), offer(30, 0xc)
	garbage := func(ctx context.Context, req []byte) ([]byte, error) { return []byte{0xc1, 0x80}, nil }
	failing := func(ctx context.Context, req []byte) ([]byte, error) { return nil, errors.New("refused") }
	hanging := func(ctx context.Context, req []byte) ([]byte, error) { <-ctx.Done(); return nil, ctx.Err() }
	type cand struct {
		o     statesync.Offer
		peers []int
	}
	for _, tc := range []struct {
		name      string
		peers     map[int]handler
		maxHeight uint64
		want      []cand // in order, except among equal heights
		faults    uint64
		answered  int // peers that answered
		offering  int // of those, peers offering any snapshot
	}{
		{"f peers", map[int]handler{0: offersHandler(a40), 1: offersHandler(), 2: offersHandler(), 3: offersHandler()}, 0, nil, 0, 4, 1},
		{"f+1 peers", map[int]handler{0: offersHandler(a40), 1: offersHandler(a40), 2: offersHandler()}, 0, []cand{{a40, []int{0, 1}}}, 0, 3, 2},
		{"all peers", map[int]handler{3: offersHandler(a40), 1: offersHandler(a40), 2: offersHandler(a40)}, 0, []cand{{a40, []int{1, 2, 3}}}, 0, 3, 3},
		{"two manifests at one height", map[int]handler{0: offersHandler(a40), 1: offersHandler(a40), 2: offersHandler(b40), 3: offersHandler(b40)}, 0,
			[]cand{{a40, []int{0, 1}}, {b40, []int{2, 3}}}, 0, 4, 4},
		{"a manifest only f peers offer", map[int]handler{0: offersHandler(a40), 1: offersHandler(a40), 2: offersHandler(a40), 3: offersHandler(b40)}, 0,
			[]cand{{a40, []int{0, 1, 2}}}, 0, 4, 4},
		{"newest first", map[int]handler{1: offersHandler(c30), 2: offersHandler(a40, c30), 3: offersHandler(a40)}, 0,
			[]cand{{a40, []int{2, 3}}, {c30, []int{1, 2}}}, 0, 3, 3},
		{"maxHeight between", map[int]handler{1: offersHandler(a40, c30), 2: offersHandler(a40, c30)}, 35, []cand{{c30, []int{1, 2}}}, 0, 2, 2},
		{"maxHeight at a snapshot", map[int]handler{1: offersHandler(a40, c30), 2: offersHandler(a40, c30)}, 30, []cand{{c30, []int{1, 2}}}, 0, 2, 2},
		{"maxHeight below all", map[int]handler{1: offersHandler(a40, c30), 2: offersHandler(a40, c30)}, 29, nil, 0, 2, 2},
		{"maxHeight above all", map[int]handler{1: offersHandler(a40, c30), 2: offersHandler(a40, c30)}, 1000,
			[]cand{{a40, []int{1, 2}}, {c30, []int{1, 2}}}, 0, 2, 2},
		{"bad peers add nothing", map[int]handler{0: garbage, 1: failing, 2: hanging, 3: offersHandler(a40)}, 0, nil, 1, 1, 1},
		{"no peer keeps snapshots", map[int]handler{1: offersHandler(), 2: offersHandler(), 3: failing}, 0, nil, 0, 2, 0},
		{"bad peers do not stop good ones", map[int]handler{0: garbage, 1: offersHandler(a40), 2: hanging, 3: offersHandler(a40)}, 0,
			[]cand{{a40, []int{1, 3}}}, 1, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			net := newFakeNet()
			var peers []int
			for p, h := range tc.peers {
				net.set(p, h)
				peers = append(peers, p)
			}
			slices.Sort(peers)
			r := newRestorer(t, src, net, peers, statesync.Limits{RequestTimeout: 200 * time.Millisecond})
			got, answered, offering := r.Discover(testCtx(t), tc.maxHeight)
			if answered != tc.answered || offering != tc.offering {
				t.Errorf("answered %d, offering %d; want %d, %d", answered, offering, tc.answered, tc.offering)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("candidates %+v, want %+v", got, tc.want)
			}
			for i, c := range got {
				if i > 0 && c.Height > got[i-1].Height {
					t.Fatalf("candidates not newest first: %+v", got)
				}
				found := false
				for _, w := range tc.want {
					if w.o.Height == c.Height && w.o.Manifest == c.Manifest && slices.Equal(w.peers, c.Peers) {
						found = true
					}
				}
				if !found {
					t.Fatalf("candidate %+v not wanted; want %+v", c, tc.want)
				}
			}
			if f := r.Progress().Faults; f != tc.faults {
				t.Errorf("Faults %d, want %d", f, tc.faults)
			}
		})
	}
}

// alterManifest returns a handler that answers like h except for manifest
// requests, which it answers with the response alter makes of the honest
// one.
func alterManifest(h handler, alter func(*statesync.ManifestResponse)) handler {
	return func(ctx context.Context, req []byte) ([]byte, error) {
		r, err := statesync.DecodeRequest(req)
		if err != nil || r.Kind != statesync.KindManifest {
			return h(ctx, req)
		}
		raw, err := h(ctx, req)
		if err != nil {
			return nil, err
		}
		resp, err := statesync.DecodeManifestResponse(raw)
		if err != nil {
			return nil, err
		}
		alter(resp)
		return mustEncode(resp), nil
	}
}

// TestRestoreRefusesBadManifests: a manifest whose proof has too few
// signatures, is forged, or certifies another appHash, block hash or
// height, or a manifest other than the offered one, is refused from every
// peer; the restore fails before it asks for any chunk and the sink is
// not initialised. One peer's bad manifest alone only costs a fault.
func TestRestoreRefusesBadManifests(t *testing.T) {
	src := newSource(t, 300, 100, 40, testChainID)
	peers := []int{1, 2, 3}
	keys := src.keys
	proof := func(p *statesync.ManifestResponse, h uint64, bh, ah chain.Hash, signers ...int) {
		p.Proof = encodeProof(t, checkpointProof(t, keys, h, bh, ah, signers...))
	}
	other := chain.Hash{0x99}
	for _, tc := range []struct {
		name  string
		alter func(*statesync.ManifestResponse)
	}{
		{"proof with f+1 signatures", func(p *statesync.ManifestResponse) { proof(p, 40, src.blockHash, src.appHash, 0, 1) }},
		{"proof with no signatures", func(p *statesync.ManifestResponse) { proof(p, 40, src.blockHash, src.appHash) }},
		{"proof with a duplicate signer", func(p *statesync.ManifestResponse) { proof(p, 40, src.blockHash, src.appHash, 0, 1, 1) }},
		{"proof with a forged signature", func(p *statesync.ManifestResponse) {
			cp := checkpointProof(t, keys, 40, src.blockHash, src.appHash, 0, 1, 2)
			cp.Checkpoints[2].Signature = bytes.Clone(cp.Checkpoints[0].Signature)
			p.Proof = encodeProof(t, cp)
		}},
		{"proof for another appHash", func(p *statesync.ManifestResponse) { proof(p, 40, src.blockHash, other, 0, 1, 2) }},
		{"proof for another block hash", func(p *statesync.ManifestResponse) { proof(p, 40, other, src.appHash, 0, 1, 2) }},
		{"proof for another height", func(p *statesync.ManifestResponse) { proof(p, 30, src.blockHash, src.appHash, 0, 1, 2) }},
		{"proof off the checkpoint interval", func(p *statesync.ManifestResponse) { proof(p, 41, src.blockHash, src.appHash, 0, 1, 2) }},
		{"no proof", func(p *statesync.ManifestResponse) { p.Proof = nil }},
		{"garbage proof", func(p *statesync.ManifestResponse) { p.Proof = []byte{0xc3, 0x01} }},
		{"another manifest", func(p *statesync.ManifestResponse) {
			m, _ := snapshot.DecodeManifest(p.Manifest)
			m.Entries++
			p.Manifest = m.Encode()
		}},
		{"garbage manifest", func(p *statesync.ManifestResponse) { p.Manifest = []byte{0x80} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			net := newFakeNet()
			for _, p := range peers {
				net.set(p, alterManifest(serve(src.server, p), tc.alter))
			}
			r := newRestorer(t, src, net, peers, statesync.Limits{})
			c := discoverOne(t, r, src)
			sink := openStore(t)
			if _, err := r.Restore(testCtx(t), c, sink); err == nil {
				t.Fatal("restore succeeded")
			}
			checkNotInitialised(t, sink)
			for _, p := range peers {
				if n := net.count(p, statesync.KindManifest, -1); n != 1 {
					t.Errorf("peer %d asked %d times for the manifest, want once", p, n)
				}
				if n := net.count(p, statesync.KindChunk, -1); n != 0 {
					t.Errorf("peer %d asked for %d chunks of a refused manifest", p, n)
				}
			}
			if f := r.Progress().Faults; f != 3 {
				t.Errorf("Faults %d, want 3", f)
			}
		})
	}
	t.Run("one bad peer", func(t *testing.T) {
		net := honestNet(src, peers...)
		net.set(1, alterManifest(serve(src.server, 1), func(p *statesync.ManifestResponse) { proof(p, 40, src.blockHash, other, 0, 1, 2) }))
		r := newRestorer(t, src, net, peers, statesync.Limits{})
		c := discoverOne(t, r, src)
		sink := openStore(t)
		if _, err := r.Restore(testCtx(t), c, sink); err != nil {
			t.Fatal(err)
		}
		checkRestored(t, src, sink)
		if f := r.Progress().Faults; f != 1 {
			t.Errorf("Faults %d, want 1", f)
		}
		if n := net.count(1, statesync.KindChunk, -1); n != 0 {
			t.Errorf("the peer that served a bad manifest was asked for %d chunks in its cool-down", n)
		}
	})
}

// TestRestoreRefusesManifestOfAnotherChain: a snapshot of another chain
// id, offered by every peer with a valid proof, is refused.
func TestRestoreRefusesManifestOfAnotherChain(t *testing.T) {
	src := newSource(t, 50, 10, 40, "another-chain")
	peers := []int{1, 2, 3}
	net := honestNet(src, peers...)
	r := newRestorer(t, src, net, peers, statesync.Limits{})
	c := discoverOne(t, r, src)
	sink := openStore(t)
	_, err := r.Restore(testCtx(t), c, sink)
	if err == nil || !strings.Contains(err.Error(), "another-chain") {
		t.Fatalf("restore of another chain's snapshot: %v", err)
	}
	checkNotInitialised(t, sink)
	for _, p := range peers {
		if n := net.count(p, statesync.KindChunk, -1); n != 0 {
			t.Errorf("peer %d asked for %d chunks of another chain's snapshot", p, n)
		}
	}
}

// TestRestoreChecksTheAccumulator: more than f peers (beyond the fault
// model, to reach the last check) offer a manifest whose chunks leave an
// entry out, with the honest proof of the real appHash. Every chunk
// matches that manifest, but the entries do not hash to the certified
// appHash: FinishStateImport refuses, and the sink is not initialised.
func TestRestoreChecksTheAccumulator(t *testing.T) {
	src := newSource(t, 300, 100, 40, testChainID)
	forged := src.entries[1:]
	chunk := snapshot.EncodeChunk(forged)
	m := &snapshot.Manifest{
		Version: snapshot.Version, ChainID: testChainID, Height: src.height, BlockHash: src.blockHash, AppHash: src.appHash,
		Entries: uint64(len(forged)), Bytes: uint64(len(chunk)), Chunks: []chain.Hash{snapshot.ChunkHash(chunk)},
	}
	dir, err := snapshot.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir.Path(), fmt.Sprintf("%020d", src.height))
	for name, b := range map[string][]byte{"manifest": m.Encode(), "000000.chunk": chunk} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := dir.SetProof(src.height, encodeProof(t, src.proof)); err != nil {
		t.Fatal(err)
	}
	liar := statesync.NewServer(dir)
	peers := []int{1, 2, 3}
	net := honestNet(src, peers...)
	net.set(1, serve(liar, 1))
	net.set(2, serve(liar, 2))
	r := newRestorer(t, src, net, peers, statesync.Limits{})
	cs, _, _ := r.Discover(testCtx(t), 0)
	if len(cs) != 1 || cs[0].Manifest != m.Hash() {
		t.Fatalf("candidates %+v, want the forged manifest only", cs)
	}
	sink := openStore(t)
	if _, err := r.Restore(testCtx(t), cs[0], sink); !errors.Is(err, chain.ErrImportAppHash) {
		t.Fatalf("restore of entries that miss the appHash: %v, want ErrImportAppHash", err)
	}
	checkNotInitialised(t, sink)
}

// TestRestoreCancelled: cancelling the context while a chunk request hangs
// ends the restore promptly with the context's error and leaves the sink
// uninitialised.
func TestRestoreCancelled(t *testing.T) {
	src := newSource(t, 50, 10, 40, testChainID)
	peers := []int{1, 2, 3}
	started := make(chan struct{}, len(peers))
	net := newFakeNet()
	for _, p := range peers {
		net.set(p, alterChunk(serve(src.server, p), 0, func(ctx context.Context, c []byte) ([]byte, error) {
			started <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		}))
	}
	r := newRestorer(t, src, net, peers, statesync.Limits{})
	c := discoverOne(t, r, src)
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	sink := openStore(t)
	go func() {
		_, err := r.Restore(ctx, c, sink)
		done <- err
	}()
	select {
	case <-started:
	case <-time.After(testTimeout):
		t.Fatal("no chunk requested")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled restore: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("restore did not end after its context was cancelled")
	}
	checkNotInitialised(t, sink)
	if f := r.Progress().Faults; f != 0 {
		t.Errorf("a cancelled request counted as %d faults", f)
	}
}

// gate holds every chunk request until two are in flight at once (or a
// bound passes) and records the most in flight: a restorer that fetched
// one chunk at a time would show at most one.
type gate struct {
	mu       sync.Mutex
	inflight int
	most     int
	two      chan struct{}
	once     sync.Once
}

func (g *gate) wrap(h handler) handler {
	return func(ctx context.Context, req []byte) ([]byte, error) {
		if r, err := statesync.DecodeRequest(req); err != nil || r.Kind != statesync.KindChunk {
			return h(ctx, req)
		}
		g.mu.Lock()
		g.inflight++
		g.most = max(g.most, g.inflight)
		if g.inflight >= 2 {
			g.once.Do(func() { close(g.two) })
		}
		g.mu.Unlock()
		defer func() {
			g.mu.Lock()
			g.inflight--
			g.mu.Unlock()
		}()
		select {
		case <-g.two:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Second):
		}
		return h(ctx, req)
	}
}

// TestRestoreManyChunksInParallel: a state over 2 × ChunkBytes (3 chunks)
// restores with its chunks fetched from several peers at once, each chunk
// exactly once and never more than Fetchers at a time; then, on a fresh
// sink, every peer failing one chunk fails the restore after the other
// chunks were imported, and the sink is still not initialised.
func TestRestoreManyChunksInParallel(t *testing.T) {
	src := newSource(t, 3000, 3000, 40, testChainID)
	if n := len(src.manifest.Chunks); n < 3 {
		t.Fatalf("snapshot of %d bytes has %d chunks, want ≥ 3", src.manifest.Bytes, n)
	}
	peers := []int{1, 2, 3}
	g := &gate{two: make(chan struct{})}
	net := newFakeNet()
	for _, p := range peers {
		net.set(p, g.wrap(serve(src.server, p)))
	}
	const fetchers = 2
	r := newRestorer(t, src, net, peers, statesync.Limits{Fetchers: fetchers})
	c := discoverOne(t, r, src)
	sink := openStore(t)
	if _, err := r.Restore(testCtx(t), c, sink); err != nil {
		t.Fatal(err)
	}
	checkRestored(t, src, sink)
	if g.most != fetchers {
		t.Errorf("at most %d chunk requests in flight, want %d (Fetchers)", g.most, fetchers)
	}
	from := map[int]bool{}
	for i := range src.manifest.Chunks {
		asked := 0
		for _, p := range peers {
			if n := net.count(p, statesync.KindChunk, i); n > 0 {
				asked += n
				from[p] = true
			}
		}
		if asked != 1 {
			t.Errorf("chunk %d asked for %d times, want once", i, asked)
		}
	}
	if len(from) < 2 {
		t.Errorf("chunks fetched from peers %v only, want several", from)
	}
	if p := r.Progress(); p.ChunksDone != len(src.manifest.Chunks) || p.Bytes != src.manifest.Bytes || p.Faults != 0 {
		t.Errorf("progress %+v", p)
	}

	t.Run("every peer fails the last chunk", func(t *testing.T) {
		last := uint64(len(src.manifest.Chunks) - 1)
		net := newFakeNet()
		for _, p := range peers {
			net.set(p, alterChunk(serve(src.server, p), last, chunkFaults[0].alter))
		}
		r := newRestorer(t, src, net, peers, statesync.Limits{Fetchers: 1, PeerCooldown: time.Nanosecond})
		sink := openStore(t)
		if _, err := r.Restore(testCtx(t), c, sink); err == nil {
			t.Fatal("restore without a good last chunk succeeded")
		}
		if done := r.Progress().ChunksDone; done != int(last) {
			t.Errorf("%d chunks imported before the last failed, want %d", done, last)
		}
		checkNotInitialised(t, sink)
	})
}
