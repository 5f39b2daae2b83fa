//go:build unix

package chain

import (
	"io/fs"
	"syscall"
)

// allocatedBytes is the space a file occupies on disk: its allocated
// 512-byte blocks.
func allocatedBytes(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return fi.Size()
}

// FreeDiskBytes returns the bytes an unprivileged process may still allocate
// on the filesystem holding path, and whether this platform can tell.
func FreeDiskBytes(path string) (int64, bool, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, false, err
	}
	return int64(st.Bavail) * int64(st.Bsize), true, nil
}
