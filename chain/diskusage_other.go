//go:build !unix

package chain

import "io/fs"

// allocatedBytes is the space a file occupies on disk; without st_blocks
// it is the file's apparent size.
func allocatedBytes(fi fs.FileInfo) int64 { return fi.Size() }

// FreeDiskBytes reports that free space is unknown here.
func FreeDiskBytes(string) (int64, bool, error) { return 0, false, nil }
