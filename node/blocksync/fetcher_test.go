package blocksync

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bafomet/bafomet/chain"
)

// testLimits are small limits that make a 600-block sync use many ranges.
func testLimits() Limits {
	return Limits{
		RangeBlocks: 32, MaxResponseBytes: 1 << 20, MaxInFlight: 4, MaxPerPeer: 1, WindowBlocks: 256,
		MaxBufferedBytes: 8 << 20, DeliverQueue: 16, RequestTimeout: 2 * time.Second,
		PeerCooldown: time.Hour, BehindRetry: 20 * time.Millisecond, ProgressInterval: time.Second,
	}
}

func newFetcher(t *testing.T, c *testChain, net Requester, peers []int, start, target uint64, lim Limits) *Fetcher {
	t.Helper()
	startHash := genesisHash
	if start > 0 {
		startHash = c.hashes[start-1]
	}
	f, err := NewFetcher(Config{
		ChainID: testChainID, Validators: c.vs, CheckpointInterval: testCkptEvery, Requester: net,
		Peers: peers, Start: start, StartHash: startHash, Target: target, Limits: lim, Log: quietLog,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// collect runs f to completion and returns what it delivered.
func collect(t *testing.T, f *Fetcher) []Item {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	var items []Item
	for it := range f.Blocks() {
		items = append(items, it)
	}
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	return items
}

// checkItems asserts that items are exactly blocks from..to of c.
func checkItems(t *testing.T, c *testChain, items []Item, from, to uint64) {
	t.Helper()
	if uint64(len(items)) != to-from+1 {
		t.Fatalf("%d blocks delivered, want %d", len(items), to-from+1)
	}
	for i, it := range items {
		h := from + uint64(i)
		if it.Block.Header.Height != h || it.Hash != c.hashes[h-1] || it.Block.Hash() != c.hashes[h-1] || it.Certificate.BlockHash != c.hashes[h-1] {
			t.Fatalf("item %d: height %d hash %s, want %d %s", i, it.Block.Header.Height, it.Hash, h, c.hashes[h-1])
		}
		if wantCkpt := h%testCkptEvery == 0; (it.Checkpoint != nil) != wantCkpt {
			t.Fatalf("height %d: checkpoint %v, want %v", h, it.Checkpoint != nil, wantCkpt)
		}
	}
}

func honestNet(t *testing.T, c *testChain, peers ...int) *fakeNet {
	t.Helper()
	net := newFakeNet()
	s, err := NewServer(c.store, ServerConfig{CheckpointInterval: testCkptEvery})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		net.serve(p, s)
	}
	return net
}

func TestSyncFromThreePeersExecutesToSameState(t *testing.T) {
	c := getShared(t)
	net := honestNet(t, c, 0, 1, 2)
	f := newFetcher(t, c, net, []int{0, 1, 2}, 0, sharedHeight, testLimits())
	items := collect(t, f)
	checkItems(t, c, items, 1, sharedHeight)

	store, exec := newNode(t, t.TempDir())
	defer store.Close()
	perPeer := map[int]int{}
	for _, it := range items {
		res, err := exec.ApplyBlock(it.Block, it.Certificate)
		if err != nil {
			t.Fatal(err)
		}
		if res.AppHash != c.appHashes[res.Height] {
			t.Fatalf("height %d: appHash %s, honest chain %s", res.Height, res.AppHash, c.appHashes[res.Height])
		}
		if it.Checkpoint != nil {
			if err := CheckAppHash(it.Checkpoint, res.Height, res.AppHash); err != nil {
				t.Fatal(err)
			}
		}
		perPeer[it.Peer]++
	}
	for _, p := range []int{0, 1, 2} {
		if perPeer[p] == 0 {
			t.Fatalf("peer %d served nothing: %v", p, perPeer)
		}
	}
	st := f.Status()
	if st != (Status{Syncing: false, Start: 0, Current: sharedHeight, Target: sharedHeight, BlocksPerSec: st.BlocksPerSec, Faults: 0}) {
		t.Fatalf("status %+v", st)
	}
	if f.SetTarget(sharedHeight + 1) {
		t.Fatal("SetTarget after the end reported success")
	}
}

func TestSyncFromMidChainAndPartialResponses(t *testing.T) {
	c := getShared(t)
	net := newFakeNet()
	// Each response holds at most about three blocks: ranges are split.
	small, err := NewServer(c.store, ServerConfig{MaxBytes: responseOverheadBytes + 3*itemSize(t, c, 1) + 600})
	if err != nil {
		t.Fatal(err)
	}
	net.serve(0, small)
	net.serve(1, small)
	items := collect(t, newFetcher(t, c, net, []int{0, 1}, 200, 320, testLimits()))
	checkItems(t, c, items, 201, 320)
}

func TestSyncNothingToDo(t *testing.T) {
	c := getShared(t)
	net := honestNet(t, c, 0)
	f := newFetcher(t, c, net, []int{0}, 100, 50, testLimits())
	if items := collect(t, f); len(items) != 0 || net.callsTo(0) != 0 {
		t.Fatalf("%d items, %d calls", len(items), net.callsTo(0))
	}
	if st := f.Status(); st.Current != 100 || st.Target != 100 || st.Syncing {
		t.Fatalf("status %+v", st)
	}
	if err := f.Run(context.Background()); !errors.Is(err, ErrAlreadyRun) {
		t.Fatalf("second run: %v", err)
	}
}

func TestSetTargetWhileSyncing(t *testing.T) {
	c := getShared(t)
	f := newFetcher(t, c, honestNet(t, c, 0, 1), []int{0, 1}, 0, 100, testLimits())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	var items []Item
	for it := range f.Blocks() {
		items = append(items, it)
		if it.Block.Header.Height == 50 {
			if !f.SetTarget(400) || !f.SetTarget(300) {
				t.Fatal("SetTarget refused while syncing")
			}
			if st := f.Status(); st.Target != 400 || !st.Syncing {
				t.Fatalf("status after SetTarget %+v", st)
			}
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkItems(t, c, items, 1, 400)
}

func TestWrongStartHashDeliversNothing(t *testing.T) {
	c := getShared(t)
	net := honestNet(t, c, 0, 1, 2)
	f, err := NewFetcher(Config{
		ChainID: testChainID, Validators: c.vs, Requester: net, Peers: []int{0, 1, 2},
		Start: 100, StartHash: chain.Hash{0xbe, 0xef}, Target: 200, Limits: testLimits(), Log: quietLog,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for f.Status().Faults < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("run: %v", err)
	}
	n := 0
	for range f.Blocks() {
		n++
	}
	// Every peer's first range fails to link to the wrong start hash; with
	// an hour of cool-down none is asked again.
	if st := f.Status(); n != 0 || st.Faults != 3 || st.Current != 100 || st.Syncing {
		t.Fatalf("%d delivered, status %+v", n, st)
	}
}
