package chain

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/bafomet/bafomet/chain/internal/fsync"
)

// dirTimeGranularity bounds how coarse the filesystem's directory
// modification times are (Linux stamps them from a clock that advances
// once per scheduler tick, at most 10 ms). A directory modified less than
// this before it was synced may have been modified again since with the
// same time stamp.
const dirTimeGranularity = 100 * time.Millisecond

// syncStoreDir makes a directory's entries durable (a variable for tests).
var syncStoreDir = fsync.SyncDir

// storeDir makes the directory entries of the files Badger creates
// durable. Badger syncs what it writes into its files, and syncs its
// directory after it creates tables, but not after it creates a memtable
// or value-log file (ristretto's mmap helper syncs the directory only for
// files it finds empty, and those are created at their full size), so on
// a filesystem that does not order directory updates before later data
// writes a commit written to a new file could be acknowledged and then
// lost with the file's entry.
//
// sync runs after every Badger write the Store acknowledges: it syncs the
// directory when its modification time changed since the last sync (or
// was too recent then to tell later changes apart), which costs one stat
// per write and a directory sync only when Badger added or removed files.
type storeDir struct {
	path string

	mu     sync.Mutex
	synced time.Time // modification time the last sync covered; zero for none
}

// checkFree returns ErrDiskFull when the filesystem holding the store has
// less than min bytes free (see StoreOptions.MinFreeBytes).
func (d *storeDir) checkFree(min int64) error {
	if min < 0 {
		return nil
	}
	free, ok, err := FreeDiskBytes(d.path)
	if err != nil {
		return fmt.Errorf("free space of %s: %w", d.path, err)
	}
	if ok && free < min {
		return fmt.Errorf("%w: %d bytes free on the filesystem of %s, the store keeps %d in reserve", ErrDiskFull, free, d.path, min)
	}
	return nil
}

func (d *storeDir) sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	st, err := os.Stat(d.path)
	if err != nil {
		return fmt.Errorf("sync store directory: %w", err)
	}
	mtime := st.ModTime()
	if !d.synced.IsZero() && mtime.Equal(d.synced) {
		return nil
	}
	if err := syncStoreDir(d.path); err != nil {
		return fmt.Errorf("sync store directory %s: %w", d.path, err)
	}
	d.synced = time.Time{}
	if time.Since(mtime) > dirTimeGranularity {
		d.synced = mtime
	}
	return nil
}

// removeEmptyLogs deletes the zero-length memtable (.mem) and value-log
// (.vlog) files in a Badger directory. Badger creates such a file empty
// and then sizes it; a process killed in between leaves a file Badger's
// open refuses ("Create a new file"), so the store would never open
// again. An empty file holds no entry, so nothing refers to it.
func removeEmptyLogs(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read store directory: %w", err)
	}
	removed := false
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if !e.Type().IsRegular() || ext != ".mem" && ext != ".vlog" {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return fmt.Errorf("stat %s: %w", e.Name(), err)
		}
		if info.Size() != 0 {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("remove empty %s: %w", e.Name(), err)
		}
		removed = true
	}
	if removed {
		if err := syncStoreDir(dir); err != nil {
			return fmt.Errorf("sync store directory %s: %w", dir, err)
		}
	}
	return nil
}
