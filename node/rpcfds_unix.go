//go:build unix

package node

import (
	"fmt"
	"syscall"
)

// openFileLimit returns the soft RLIMIT_NOFILE (0 when unlimited).
func openFileLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("getrlimit RLIMIT_NOFILE: %w", err)
	}
	if rl.Cur == ^uint64(0) { // RLIM_INFINITY
		return 0, nil
	}
	return uint64(rl.Cur), nil
}
