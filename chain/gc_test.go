package chain

import (
	"io"
	"log/slog"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// TestCollectGarbageOnFreshStore: on a store with nothing to reclaim,
// garbage collection rewrites nothing and reports no error.
func TestCollectGarbageOnFreshStore(t *testing.T) {
	s, err := OpenStore(t.TempDir(), StoreOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n, err := s.CollectGarbage(0.5, 8)
	if err != nil || n != 0 {
		t.Fatalf("CollectGarbage = %d, %v; want 0, nil", n, err)
	}
}

// TestDiskUsageCountsWrittenBytes: a fresh store's preallocated value log
// is not counted as used, and written data is.
func TestDiskUsageCountsWrittenBytes(t *testing.T) {
	s, err := OpenStore(t.TempDir(), StoreOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before, err := s.DiskUsage()
	if err != nil {
		t.Fatal(err)
	}
	if before <= 0 || before >= s.opt.ValueLogBytes {
		t.Fatalf("fresh store uses %d bytes; want more than 0 and less than one value-log file (%d)", before, s.opt.ValueLogBytes)
	}
	value := make([]byte, 128<<10) // above the value threshold: goes to the value log
	for i := range 80 {
		value[0] = byte(i)
		if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte{'t', byte(i)}, value) }); err != nil {
			t.Fatal(err)
		}
	}
	after, err := s.DiskUsage()
	if err != nil {
		t.Fatal(err)
	}
	if written := int64(80 * len(value)); after-before < written {
		t.Fatalf("usage grew by %d bytes after writing %d", after-before, written)
	}
}
