// Package fsync holds the few durable-filesystem steps the chain's
// append-only files share: creating a directory, syncing a directory's
// entries, and listing numbered segment files.
package fsync

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// MkdirSynced creates dir (mode 0700), and any missing parents, and makes
// the entry of every level it created durable in the level above. It syncs
// dir's parent even when dir exists: a crash may have come between an
// earlier creation and its sync.
func MkdirSynced(dir string) error {
	dir = filepath.Clean(dir)
	var missing []string // deepest first
	for d := dir; ; d = filepath.Dir(d) {
		_, err := os.Stat(d)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	toSync := []string{filepath.Dir(dir)}
	for _, d := range missing[min(1, len(missing)):] {
		toSync = append(toSync, filepath.Dir(d))
	}
	for _, d := range toSync {
		if err := syncDir(d); err != nil {
			return fmt.Errorf("sync %s: %w", d, err)
		}
	}
	return nil
}

// syncDir is SyncDir (a variable for tests).
var syncDir = SyncDir

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
