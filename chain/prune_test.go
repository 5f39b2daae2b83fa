package chain_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/apps/kv"
)

// openSmallSegments opens n's store with block-file segments of 2 KiB, so
// that a few blocks fill one.
func (n *testNode) openSmallSegments() {
	n.t.Helper()
	s, err := chain.OpenStore(n.dir, chain.StoreOptions{
		MemTableBytes: 16 << 20, BlockCacheBytes: 1 << 20, IndexCacheBytes: 1 << 20, ValueLogBytes: 16 << 20,
		BlockSegmentBytes: 2 << 10, Logger: quietLog,
	})
	if err != nil {
		n.t.Fatal(err)
	}
	n.store = s
	n.exec = chain.NewExecutor(s, n.app, testChainID, quietLog)
}

func (n *testNode) reopenSmallSegments() {
	n.t.Helper()
	if err := n.store.Close(); err != nil {
		n.t.Fatal(err)
	}
	n.openSmallSegments()
}

// pruneChain is a kv chain of blocks heights 1..blocks, each with two
// transactions, checkpoints at 10 and 20, and one transaction signed for
// another chain included at heights 3 and 30 (its index names 30).
type pruneChain struct {
	n       *testNode
	results []*chain.BlockResult // results[h-1] is height h
	foreign chain.Hash           // the transaction included at 3 and 30
}

func newPruneChain(t *testing.T, blocks int) *pruneChain {
	t.Helper()
	n := &testNode{t: t, dir: t.TempDir(), app: kv.New()}
	n.openSmallSegments()
	if _, err := n.exec.InitGenesis(nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.store.Close() })
	k := keyN(t, 1)
	foreignTx, err := chain.SignTx(k, "other-chain", 0, []byte("x=1"))
	if err != nil {
		t.Fatal(err)
	}
	foreign := signed{foreignTx.Bytes(), addr(k)}
	c := &pruneChain{n: n, foreign: foreignTx.Hash()}
	for h := 1; h <= blocks; h++ {
		txs := []signed{
			sign(t, k, uint64(2*h-2), fmt.Sprintf("k%d=%d", h, h)),
			sign(t, k, uint64(2*h-1), fmt.Sprintf("j%d=%s", h, strings.Repeat("v", 200))),
		}
		if h == 3 || h == 30 {
			txs = append(txs, foreign)
		}
		c.results = append(c.results, n.apply(txs...))
		if h == 10 || h == 20 {
			if err := n.store.PutCheckpoint(uint64(h), []byte(fmt.Sprintf("proof %d", h))); err != nil {
				t.Fatal(err)
			}
		}
	}
	return c
}

// heightsUnder returns the heights of the store's keys under prefix.
func heightsUnder(t *testing.T, s *chain.Store, prefix string) []uint64 {
	t.Helper()
	keys, err := chain.PrunedKeys(s, prefix)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]uint64, len(keys))
	for i, k := range keys {
		out[i] = binary.BigEndian.Uint64(k[len(prefix):])
	}
	return out
}

func wantPruned(t *testing.T, what string, err error, earliest uint64) {
	t.Helper()
	if !errors.Is(err, chain.ErrPruned) || errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("%s: %v, want ErrPruned (and not ErrNotFound)", what, err)
	}
	if want := fmt.Sprintf("pruned: the earliest block this node holds is %d", earliest); !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: %q does not say %q", what, err, want)
	}
}

// checkHolds checks that the store holds exactly heights earliest..latest
// of c: their keys, and nothing of the heights below.
func (c *pruneChain) checkHolds(t *testing.T, earliest uint64) {
	t.Helper()
	s := c.n.store
	latest := uint64(len(c.results))
	if got, _ := s.EarliestHeight(); got != earliest {
		t.Fatalf("EarliestHeight = %d, want %d", got, earliest)
	}
	for _, prefix := range []string{"b/", "r/", "c/"} {
		hs := heightsUnder(t, s, prefix)
		if uint64(len(hs)) != latest-earliest+1 || hs[0] != earliest || hs[len(hs)-1] != latest {
			t.Fatalf("%s keys at heights %v, want %d..%d", prefix, hs, earliest, latest)
		}
	}
	if hs := heightsUnder(t, s, "a/"); earliest > 1 && (hs[0] != earliest || uint64(len(hs)) != latest-earliest+1) {
		t.Fatalf("a/ keys at heights %v, want %d..%d", hs, earliest, latest)
	}
	hashes, err := chain.PrunedKeys(s, "h/")
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(hashes)) != latest-earliest+1 {
		t.Fatalf("%d h/ keys, want %d", len(hashes), latest-earliest+1)
	}
	for h := uint64(1); h <= latest; h++ {
		r := c.results[h-1]
		b, berr := s.Block(h)
		_, cerr := s.Certificate(h)
		_, rerr := s.Receipts(h)
		_, aerr := s.AppHashAt(h)
		_, herr := s.BlockByHash(r.Hash)
		if h < earliest {
			for i, err := range []error{berr, cerr, rerr, aerr} {
				wantPruned(t, fmt.Sprintf("read %d of height %d", i, h), err, earliest)
			}
			if !errors.Is(herr, chain.ErrNotFound) {
				t.Fatalf("block by hash of pruned height %d: %v, want ErrNotFound", h, herr)
			}
			for _, tx := range r.TxHashes[:2] {
				if _, err := s.Tx(tx); !errors.Is(err, chain.ErrNotFound) {
					t.Fatalf("tx %s of pruned height %d: %v, want ErrNotFound", tx, h, err)
				}
			}
			continue
		}
		if berr != nil || cerr != nil || rerr != nil || aerr != nil || herr != nil {
			t.Fatalf("height %d: %v %v %v %v %v", h, berr, cerr, rerr, aerr, herr)
		}
		if b.Hash() != r.Hash {
			t.Fatalf("block %d hash %s, want %s", h, b.Hash(), r.Hash)
		}
		if ah, _ := s.AppHashAt(h); ah != r.AppHash {
			t.Fatalf("appHash %d = %s, want %s", h, ah, r.AppHash)
		}
		for i, tx := range r.TxHashes[:2] {
			rec, err := s.Tx(tx)
			if err != nil || rec.Height != h || rec.Index != uint64(i) {
				t.Fatalf("tx %d of height %d: %+v, %v", i, h, rec, err)
			}
		}
	}
	switch rec, err := s.Tx(c.foreign); {
	case latest >= 30:
		if err != nil || rec.Height != 30 {
			t.Fatalf("the transaction included at 3 and 30: %+v, %v; want its record at 30", rec, err)
		}
	case earliest > 3:
		if !errors.Is(err, chain.ErrNotFound) {
			t.Fatalf("the transaction included at pruned height 3: %+v, %v", rec, err)
		}
	case err != nil || rec.Height != 3:
		t.Fatalf("the transaction included at 3: %+v, %v", rec, err)
	}
	recomputed, stored, err := chain.StateHashes(s)
	if err != nil || recomputed != stored || stored != c.results[latest-1].AppHash {
		t.Fatalf("state hashes %s / %s, latest appHash %s, %v", recomputed, stored, c.results[latest-1].AppHash, err)
	}
}

// TestPruneDeletesHeightsBelow: Prune deletes exactly the keys of the
// heights below its target (blocks, receipts, certificates, appHashes,
// checkpoints but the latest, the block-hash index and the transaction
// index entries that name them), raises the earliest height, turns reads
// of those heights into ErrPruned, deletes the block-file segments that
// hold only pruned blocks, and leaves the state and every later height as
// they were, across a reopen; the chain goes on.
func TestPruneDeletesHeightsBelow(t *testing.T) {
	c := newPruneChain(t, 40)
	s := c.n.store
	if e, _ := s.EarliestHeight(); e != 1 {
		t.Fatalf("earliest before pruning %d, want 1", e)
	}
	first, _ := chain.BlockSegments(s)
	e, err := s.Prune(context.Background(), 21)
	if err != nil || e != 21 {
		t.Fatalf("Prune(21) = %d, %v", e, err)
	}
	c.checkHolds(t, 21)
	if got := heightsUnder(t, s, "k/"); len(got) != 1 || got[0] != 20 {
		t.Fatalf("checkpoints after pruning to 21: %v, want the latest (20) kept", got)
	}
	if p, err := s.Checkpoint(20); err != nil || string(p) != "proof 20" {
		t.Fatalf("latest checkpoint: %q, %v", p, err)
	}
	newFirst, _ := chain.BlockSegments(s)
	if newFirst <= first {
		t.Fatalf("oldest block-file segment still %d after pruning 20 blocks of 2 KiB segments", newFirst)
	}
	if _, err := os.Stat(filepath.Join(c.n.dir, "blocks", "0000000000000001.blk")); !os.IsNotExist(err) {
		t.Fatalf("segment 1 still there: %v", err)
	}

	c.n.reopenSmallSegments()
	c.checkHolds(t, 21)
	k := keyN(t, 1)
	c.results = append(c.results, c.n.apply(sign(t, k, 80, "after=1"), sign(t, k, 81, "after=2")))
	c.checkHolds(t, 21)
}

// TestPruneLimits: a target at or below the earliest height prunes
// nothing; a target above the latest height stops at it, so the latest
// block (the edge) stays.
func TestPruneLimits(t *testing.T) {
	c := newPruneChain(t, 12)
	s := c.n.store
	if e, err := s.Prune(context.Background(), 1); err != nil || e != 1 {
		t.Fatalf("Prune(1) = %d, %v", e, err)
	}
	c.checkHolds(t, 1)
	if e, err := s.Prune(context.Background(), 1000); err != nil || e != 12 {
		t.Fatalf("Prune(1000) = %d, %v; want the latest height, 12", e, err)
	}
	c.checkHolds(t, 12)
	if _, _, err := s.LatestBlock(); err != nil {
		t.Fatal(err)
	}
}

// TestPruneBatches: one prune transaction takes at most the batch's
// heights and keys, and never splits a height.
func TestPruneBatches(t *testing.T) {
	c := newPruneChain(t, 20)
	s := c.n.store
	s.SetPruneBatch(4, 1000)
	var commits int
	s.SetPruneHook(func(stage string) error {
		if stage == "committed" {
			commits++
		}
		return nil
	})
	if e, err := s.Prune(context.Background(), 13); err != nil || e != 13 {
		t.Fatalf("Prune(13) = %d, %v", e, err)
	}
	if commits != 3 {
		t.Fatalf("%d transactions for 12 heights in batches of 4", commits)
	}
	// 7 keys per height (b, r, c, a, k, h and two t/) : 10 keys allow
	// one height per transaction, never half of one.
	s.SetPruneBatch(4, 10)
	commits = 0
	if e, err := s.Prune(context.Background(), 16); err != nil || e != 16 {
		t.Fatalf("Prune(16) = %d, %v", e, err)
	}
	if commits != 3 {
		t.Fatalf("%d transactions for 3 heights at 10 keys each", commits)
	}
	c.checkHolds(t, 16)
}

// TestPruneCrashLeavesConsistentStore: a prune stopped before a batch's
// commit (a crash) keeps every height of that batch; one stopped after the
// commit but before the block-file segments are deleted opens with the
// extra segments, and the next prune deletes them. Either way the store
// reopens holding exactly the heights from its earliest one.
func TestPruneCrashLeavesConsistentStore(t *testing.T) {
	c := newPruneChain(t, 30)
	s := c.n.store
	s.SetPruneBatch(5, 1000)
	batches := 0
	s.SetPruneHook(func(stage string) error {
		if stage == "planned" {
			batches++
			if batches == 2 {
				return errors.New("crash")
			}
		}
		return nil
	})
	if _, err := s.Prune(context.Background(), 21); err == nil {
		t.Fatal("prune with a crash before the second commit succeeded")
	}
	c.checkHolds(t, 6)
	c.n.reopenSmallSegments()
	c.checkHolds(t, 6)

	s = c.n.store
	s.SetPruneBatch(20, 1000)
	s.SetPruneHook(func(stage string) error {
		if stage == "committed" {
			return errors.New("crash")
		}
		return nil
	})
	firstBefore, _ := chain.BlockSegments(s)
	if _, err := s.Prune(context.Background(), 21); err == nil {
		t.Fatal("prune with a crash after the commit succeeded")
	}
	c.n.reopenSmallSegments()
	c.checkHolds(t, 21)
	s = c.n.store
	if first, _ := chain.BlockSegments(s); first != firstBefore {
		t.Fatalf("segments deleted (oldest %d, was %d) although the prune stopped before", first, firstBefore)
	}
	if e, err := s.Prune(context.Background(), 21); err != nil || e != 21 {
		t.Fatalf("Prune(21) again = %d, %v", e, err)
	}
	if first, _ := chain.BlockSegments(s); first <= firstBefore {
		t.Fatalf("oldest segment still %d after the next prune", first)
	}
	c.checkHolds(t, 21)
}

// TestImportedStoreEarliest: a store imported from a snapshot at 7 holds
// no block up to 7: its earliest height is 8 at once, block 7 reads as
// pruned, and the appHash at 7 it holds still reads. (Such a store does
// not reopen before its first block yet: the open looks for the latest
// height's receipts.)
func TestImportedStoreEarliest(t *testing.T) {
	n := &testNode{t: t, dir: t.TempDir(), app: kv.New()}
	n.open()
	defer func() { n.close() }()
	var empty chain.LtHash
	if err := n.store.FinishStateImport(chain.StateImportHead{Height: 7, AppHash: empty.AppHash(), LtHash: &empty}); err != nil {
		t.Fatal(err)
	}
	if e, _ := n.store.EarliestHeight(); e != 8 {
		t.Fatalf("earliest height %d after importing at 7, want 8", e)
	}
	if ah, err := n.store.AppHashAt(7); err != nil || ah != empty.AppHash() {
		t.Fatalf("appHash at 7: %s, %v", ah, err)
	}
	_, err := n.store.Block(7)
	wantPruned(t, "block 7", err, 8)
	if e, err := n.store.Prune(context.Background(), 7); err != nil || e != 8 {
		t.Fatalf("Prune on an imported store: %d, %v", e, err)
	}
}
