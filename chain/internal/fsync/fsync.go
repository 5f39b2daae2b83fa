// Package fsync holds the few durable-filesystem steps the chain's
// append-only files share: creating a directory, syncing a directory's
// entries, and listing numbered segment files.
package fsync

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// MkdirSynced creates dir (mode 0700) if it does not exist and makes its
// entry in the parent durable. It syncs the parent even when dir exists: a
// crash may have come between an earlier creation and its sync.
func MkdirSynced(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(filepath.Clean(dir)))
}

// SyncDir makes dir's entries (created, renamed or removed files) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// SegmentName returns the file name of segment index: 16 hex digits and
// suffix.
func SegmentName(index uint64, suffix string) string {
	return fmt.Sprintf("%016x%s", index, suffix)
}

// ListSegments returns, ascending, the indexes of the regular files in dir
// named as SegmentName names them with suffix (index 0 is not a segment).
// Other entries are ignored.
func ListSegments(dir, suffix string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var idx []uint64
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || len(name) != 16+len(suffix) || !strings.HasSuffix(name, suffix) {
			continue
		}
		i, err := strconv.ParseUint(strings.TrimSuffix(name, suffix), 16, 64)
		if err != nil || i == 0 {
			continue
		}
		idx = append(idx, i)
	}
	slices.Sort(idx)
	return idx, nil
}
