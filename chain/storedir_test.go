package chain_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/apps/kv"
	"github.com/bafomet/bafomet/chain/internal/fsync"
)

// Badger creates memtable and value-log files without syncing their
// directory. After every acknowledged commit the store's directory must
// have been synced since the last file appeared in it. Tables are left
// out: Badger syncs the directory after building them, in the background.
func TestStoreSyncsNewBadgerFiles(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var synced []string // the directory's files at the latest sync
	list := func() []string {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			if n := e.Name(); !e.IsDir() && !strings.HasSuffix(n, ".sst") {
				names = append(names, n)
			}
		}
		return names
	}
	chain.SetSyncStoreDir(t, func(d string) error {
		if d == dir {
			mu.Lock()
			synced = list()
			mu.Unlock()
		}
		return fsync.SyncDir(d)
	})
	s, err := chain.OpenStore(dir, chain.StoreOptions{
		MemTableBytes: 1 << 20, BlockCacheBytes: 1 << 20, IndexCacheBytes: 1 << 20, ValueLogBytes: 1 << 20, Logger: quietLog,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	exec := chain.NewExecutor(s, kv.New(), testChainID, quietLog)
	if _, err := exec.InitGenesis(nil); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		for _, name := range list() {
			if !slices.Contains(synced, name) {
				t.Fatalf("%s: %s is in the store directory, which was not synced since it appeared", when, name)
			}
		}
	}
	check("open")
	k := keyN(t, 1)
	seen := map[string]bool{}
	for _, n := range list() {
		seen[n] = true
	}
	created := 0
	parent := chain.Hash{}
	for h := uint64(1); h <= 200 && created < 3; h++ {
		var txs []signed
		for i := range 4 {
			nonce := (h-1)*4 + uint64(i)
			txs = append(txs, sign(t, k, nonce, fmt.Sprintf("k%d=%s", nonce, strings.Repeat("v", 8<<10))))
		}
		b, c := makeBlock(t, h, parent, txs)
		res, err := exec.ApplyBlock(b, c)
		if err != nil {
			t.Fatal(err)
		}
		parent = res.Hash
		check(fmt.Sprintf("height %d", h))
		for _, n := range list() {
			if !seen[n] {
				seen[n] = true
				created++
			}
		}
		if err := s.PutMeta("m", []byte{byte(h)}); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("meta at height %d", h))
	}
	if created < 3 {
		t.Fatalf("Badger created %d files; the test needs some", created)
	}
}

// Badger creates a memtable or value-log file empty and sizes it next; a
// kill in between leaves a zero-length file that Badger's open refuses.
// The store must open past such files with what it had.
func TestStoreOpensPastEmptyLogFiles(t *testing.T) {
	dir := t.TempDir()
	opts := chain.StoreOptions{
		MemTableBytes: 1 << 20, BlockCacheBytes: 1 << 20, IndexCacheBytes: 1 << 20, ValueLogBytes: 1 << 20, Logger: quietLog,
	}
	s, err := chain.OpenStore(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	exec := chain.NewExecutor(s, kv.New(), testChainID, quietLog)
	if _, err := exec.InitGenesis(nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	maxFid := map[string]int{".mem": 0, ".vlog": 0}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		for ext := range maxFid {
			if id, ok := strings.CutSuffix(e.Name(), ext); ok {
				var fid int
				if _, err := fmt.Sscan(id, &fid); err == nil {
					maxFid[ext] = max(maxFid[ext], fid)
				}
			}
		}
	}
	for _, name := range []string{fmt.Sprintf("%05d.mem", maxFid[".mem"]+1), fmt.Sprintf("%06d.vlog", maxFid[".vlog"]+1)} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err = chain.OpenStore(dir, opts)
	if err != nil {
		t.Fatalf("open with empty log files: %v", err)
	}
	defer s.Close()
	if _, err := s.Height(); err != nil {
		t.Fatalf("read after reopening: %v", err)
	}
}
