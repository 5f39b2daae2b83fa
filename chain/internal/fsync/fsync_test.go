package fsync

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// MkdirSynced makes every level it creates durable, not only the last.
func TestMkdirSyncedSyncsEveryCreatedLevel(t *testing.T) {
	root := t.TempDir()
	var synced []string
	syncDir = func(d string) error {
		synced = append(synced, d)
		return SyncDir(d)
	}
	t.Cleanup(func() { syncDir = SyncDir })

	dir := filepath.Join(root, "a", "b", "c")
	if err := MkdirSynced(dir); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("stat %s: %v", dir, err)
	}
	for _, want := range []string{root, filepath.Join(root, "a"), filepath.Join(root, "a", "b")} {
		if !slices.Contains(synced, want) {
			t.Fatalf("synced %v, want %s among them (it holds a level MkdirSynced created)", synced, want)
		}
	}

	synced = nil
	if err := MkdirSynced(dir); err != nil { // exists: its parent is synced again
		t.Fatal(err)
	}
	if !slices.Equal(synced, []string{filepath.Join(root, "a", "b")}) {
		t.Fatalf("synced %v for an existing directory, want its parent only", synced)
	}
}
