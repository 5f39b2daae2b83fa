package chain_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/apps/kv"
)

// Badger writes through memory maps of files it does not allocate, so
// running out of space in one kills the process with SIGBUS (in a
// memtable flush, say), and a restart replays into the same full disk. The
// executor keeps a reserve: on a filesystem filling up it refuses to
// commit with ErrDiskFull, the store closes and reopens on the full disk,
// and once space is freed it commits again.
func TestDiskFullRefusesCleanly(t *testing.T) {
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=32m"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): the full-disk case needs root or CAP_SYS_ADMIN", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	filler := filepath.Join(mnt, "filler") // another user of the disk
	if err := os.WriteFile(filler, make([]byte, 8<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(mnt, "data")
	opt := chain.StoreOptions{
		MemTableBytes: 1 << 20, BlockCacheBytes: 1 << 20, IndexCacheBytes: 1 << 20, ValueLogBytes: 1 << 20,
		MinFreeBytes: 10 << 20, Logger: quietLog,
	}
	open := func() (*chain.Store, *chain.Executor) {
		t.Helper()
		s, err := chain.OpenStore(dir, opt)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return s, chain.NewExecutor(s, kv.New(), testChainID, quietLog)
	}
	s, exec := open()
	if _, err := exec.InitGenesis(nil); err != nil {
		t.Fatal(err)
	}
	k := keyN(t, 5)
	var parent chain.Hash
	var height uint64
	apply := func() error {
		b, c := makeBlock(t, height+1, parent, []signed{sign(t, k, height, fmt.Sprintf("k%d=%s", height%50, strings.Repeat("x", 16<<10)))})
		res, err := exec.ApplyBlock(b, c)
		if err == nil {
			height, parent = res.Height, res.Hash
		}
		return err
	}
	// fill commits until the store refuses. Badger frees space in the
	// background (a flushed memtable's file is deleted), so a refusal may
	// be followed by commits that fit again, never by a crash.
	fill := func(when string) {
		t.Helper()
		var err error
		for err = apply(); err == nil && height < 5000; err = apply() {
		}
		if !errors.Is(err, chain.ErrDiskFull) {
			t.Fatalf("%s, at height %d: %v, want ErrDiskFull", when, height, err)
		}
	}
	fill("filling the disk")
	fill("again")
	if err := s.Close(); err != nil { // flushes the memtable into the reserve
		t.Fatal(err)
	}
	s, exec = open() // a restart on the full disk
	if h, err := s.Height(); err != nil || h != height {
		t.Fatalf("height after reopen: %d, %v; want %d", h, err, height)
	}
	fill("after reopen")
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := apply(); err != nil {
		t.Fatalf("after space was freed: %v", err)
	}
	checkStore(t, s, "after space was freed", height, 0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("refused at height %d", height-1)
}
