package chain

import (
	"io"
	"log/slog"
	"testing"
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
