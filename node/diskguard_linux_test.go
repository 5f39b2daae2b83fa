package node

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/rpc"
)

// TestFullTmpfsPausesAndResumes puts node 0's data directory and consensus
// log on a small tmpfs and fills it from outside: the real free-space
// check pauses the node, freeing the space resumes it, and after a restart
// the node opens its store and log as they were and keeps up.
func TestFullTmpfsPausesAndResumes(t *testing.T) {
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=640m"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): the real full-disk case needs root or CAP_SYS_ADMIN", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	tn := newTestNet(t, 4)
	cfg, err := LoadConfig(tn.homes[0])
	must(t, err)
	cfg.Node.DataDir, cfg.Node.WALDir = filepath.Join(mnt, "data"), filepath.Join(mnt, "wal")
	cfg.Node.MinFreeDisk = 1 // raised to twice the store's reserve
	must(t, cfg.WriteConfig(filepath.Join(tn.homes[0], ConfigFile)))
	for i := range 4 {
		tn.start(i)
	}
	n0 := tn.nodes[0]
	tn.send(0, 0, "before=fill")
	waitNonce(t, tn, 1)

	free, ok, err := chain.FreeDiskBytes(mnt)
	if err != nil || !ok {
		t.Fatalf("free space of the tmpfs: %d %v %v", free, ok, err)
	}
	filler := filepath.Join(mnt, "filler")
	must(t, os.WriteFile(filler, make([]byte, free-n0.disk.min+(8<<20)), 0o600))
	waitFor(t, "node 0 paused", func() bool { return n0.disk.Low() })
	if code, _ := sendRawTx(t, n0, tn, 1, "refused=yes"); code != rpc.CodeDiskLow {
		t.Fatalf("chain_sendTransaction on a full disk: code %d, want %d", code, rpc.CodeDiskLow)
	}
	tn.send(1, 1, "during=fill")
	waitNonceOn(t, tn, []int{1, 2, 3}, 2)

	must(t, os.Remove(filler))
	waitFor(t, "node 0 resumed", func() bool { return !n0.disk.Low() })
	waitNonce(t, tn, 2)
	tn.stop(0)
	tn.start(0)
	tn.send(0, 2, "after=restart")
	waitNonce(t, tn, 3)
}
