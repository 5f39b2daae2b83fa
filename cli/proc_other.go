//go:build !linux

package cli

import "syscall"

// childProcAttr puts a child validator in its own process group, so that a
// terminal's Ctrl-C reaches only devnet, which stops the children in order.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
