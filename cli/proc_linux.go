package cli

import "syscall"

// childProcAttr puts a child validator in its own process group, so that a
// terminal's Ctrl-C reaches only devnet (which stops the children in
// order), and has the kernel send it SIGTERM if devnet itself dies.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
