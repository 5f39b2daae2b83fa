package wal

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const walKillDirEnv = "BAFOMET_WAL_KILL_DIR"

// TestKillLoop kills, with SIGKILL at random moments, a child process that
// appends batches of records of up to 256 KiB, whose data holds copies of a
// frame the log wrote (as client transactions inside a pre-prepare can),
// across segment roll-overs. After every kill the log opens by itself and
// holds every record the child acknowledged, in order, and nothing else but
// possibly the batch the kill interrupted.
func TestKillLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("kill loop: spawns child processes")
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	dir := t.TempDir()
	acked := 0
	for i := range 20 {
		n, out := killWALChild(t, dir, time.Duration(10+rng.Intn(200))*time.Millisecond)
		acked = max(acked, n)
		l, recs, err := Open(dir, Options{SegmentBytes: walKillSegmentBytes, Logger: discardLogger()})
		if err != nil {
			t.Fatalf("kill %d: open: %v\nchild:\n%s", i, err, out)
		}
		l.Close()
		if len(recs) < acked {
			t.Fatalf("kill %d: %d records, but the child acknowledged %d", i, len(recs), acked)
		}
		for j, r := range recs {
			if want := fmt.Sprintf("rec %d;", j); !bytes.HasPrefix(r.Data, []byte(want)) || r.Height != uint64(j) {
				t.Fatalf("kill %d: record %d is height %d, %.20q; want height %d, %q", i, j, r.Height, r.Data, j, want)
			}
		}
		acked = len(recs) // what the next child starts from
	}
	t.Logf("20 kills, %d records", acked)
}

const walKillSegmentBytes = 1 << 20

func killWALChild(t *testing.T, dir string, d time.Duration) (int, []byte) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillLoopChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), walKillDirEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acked := 0
	var lines []string
	first, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var once sync.Once
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			if s, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
				if n, err := strconv.Atoi(s); err == nil {
					acked = max(acked, n)
					once.Do(func() { close(first) })
				}
			}
			mu.Unlock()
		}
	}()
	select {
	case <-first:
	case <-done:
	case <-time.After(30 * time.Second):
	}
	time.Sleep(d)
	_ = cmd.Process.Kill()
	<-done
	err = cmd.Wait()
	mu.Lock()
	defer mu.Unlock()
	out := []byte(strings.Join(lines, "\n") + "\n" + stderr.String())
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Exited() {
		t.Fatalf("child ended by itself (%v):\n%s", err, out)
	}
	return acked, out
}

// TestKillLoopChild is TestKillLoop's child: it appends to the log in
// $BAFOMET_WAL_KILL_DIR until killed, printing "ack <records>" after each
// append returns.
func TestKillLoopChild(t *testing.T) {
	dir := os.Getenv(walKillDirEnv)
	if dir == "" {
		t.Skip("run by TestKillLoop")
	}
	l, recs, err := Open(dir, Options{SegmentBytes: walKillSegmentBytes, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	n := len(recs)
	if n == 0 {
		if err := l.Append([]Record{{Height: 0, Data: []byte("rec 0;")}}); err != nil {
			t.Fatal(err)
		}
		n = 1
		fmt.Printf("ack %d\n", n)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	first, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	frame := first[segmentHeaderBytes:min(len(first), segmentHeaderBytes+frameHeaderBytes+recordHeaderBytes+64)]
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for {
		var batch []Record
		for range 1 + rng.Intn(3) {
			var data []byte
			data = fmt.Appendf(data, "rec %d;", n+len(batch))
			for len(data) < rng.Intn(256<<10) {
				data = append(data, frame...)
				data = append(data, byte(rng.Intn(256)))
			}
			batch = append(batch, Record{Height: uint64(n + len(batch)), Data: data})
		}
		if err := l.Append(batch); err != nil {
			t.Fatal(err)
		}
		n += len(batch)
		fmt.Printf("ack %d\n", n)
	}
}
