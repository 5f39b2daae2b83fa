package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// mountSmallTmpfs mounts a tmpfs of size bytes on a new directory, or skips
// the test when this process may not mount one.
func mountSmallTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): the full-disk case needs root or CAP_SYS_ADMIN", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// A validator whose disk fills up in the middle of appending a record that
// carries copies of a valid frame (client data) must restart by itself:
// the failed append is never read back, every acknowledged record is, and
// once space is freed the log takes appends again.
func TestFullDiskTornTail(t *testing.T) {
	mnt := mountSmallTmpfs(t, 1<<20)
	dir := filepath.Join(mnt, "wal")
	quiet := Options{Logger: discardLogger()}
	l, _, err := Open(dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(dir, segment{index: 1}.name())
	start, _ := os.ReadFile(seg)
	acked := []Record{rec(1, "prepare 1")}
	if err := l.Append(acked); err != nil {
		t.Fatal(err)
	}
	written, _ := os.ReadFile(seg)
	frame := written[len(start):]
	value := bytes.Repeat(append(append([]byte("k="), frame...), ';'), 3000/(len(frame)+3)+1)
	// Something else on the disk takes most of the space.
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, 900<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	var appendErr error
	for h := uint64(2); appendErr == nil; h++ {
		r := rec(h, "pre-prepare "+string(value))
		if appendErr = l.Append([]Record{r}); appendErr == nil {
			acked = append(acked, r)
		}
		if h > 1000 {
			t.Fatal("the disk never filled up")
		}
	}
	if !errors.Is(appendErr, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v, want ENOSPC", appendErr)
	}
	l.Close() // the node stops; it restarts with the disk still full

	l2, got, err := Open(dir, quiet)
	if err != nil {
		t.Fatalf("reopen on the full disk: %v", err)
	}
	sameRecords(t, got, acked)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := l2.Append([]Record{rec(9999, "after space was freed")}); err != nil {
		t.Fatalf("append after space was freed: %v", err)
	}
	l2.Close()
	l3, got, err := Open(dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	l3.Close()
	sameRecords(t, got, append(acked, rec(9999, "after space was freed")))
	t.Logf("%d records acknowledged before the disk was full", len(acked))
}
