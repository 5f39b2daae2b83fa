package chain_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/apps/kv"
)

// killLoopDirEnv names the store directory of TestKillLoopChild; unset, that
// test does nothing.
const killLoopDirEnv = "BAFOMET_KILL_LOOP_DIR"

// TestKillLoop runs a child process that applies blocks — one at a time
// and in batches, with values of 4 KiB and more — and kills it with SIGKILL
// at a random moment, over and over on the same store. After every kill the
// store must open, hold every block the child acknowledged, and be
// consistent: the appHash of the whole state recomputed from every state
// and nonce key equals the stored accumulator's and the latest height's,
// blocks chain by parent hash, and every block, receipt list and
// certificate reads and matches its block.
func TestKillLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("kill loop: spawns child processes")
	}
	iterations := 24
	seed := time.Now().UnixNano()
	if s := os.Getenv("BAFOMET_KILL_LOOP_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d (BAFOMET_KILL_LOOP_SEED)", seed)
	rng := rand.New(rand.NewSource(seed))
	dir := t.TempDir()
	var lastAck uint64
	var verified uint64 // heights already checked block by block
	for i := range iterations {
		acked, out := runAndKill(t, dir, time.Duration(20+rng.Intn(400))*time.Millisecond)
		lastAck = max(lastAck, acked)
		s, err := chain.OpenStore(dir, chain.StoreOptions{
			MemTableBytes: 1 << 20, BlockCacheBytes: 1 << 20, IndexCacheBytes: 1 << 20, ValueLogBytes: 1 << 20, Logger: quietLog,
		})
		if err != nil {
			t.Fatalf("kill %d: open after the kill: %v\nchild output:\n%s", i, err, out)
		}
		h := checkStore(t, s, fmt.Sprintf("kill %d", i), lastAck, verified)
		verified = h
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if lastAck < uint64(iterations) {
		t.Fatalf("the children acknowledged only %d blocks in %d runs", lastAck, iterations)
	}
	t.Logf("%d kills, %d blocks acknowledged", iterations, lastAck)
}

// runAndKill starts the child on dir, kills it after d (counted from its
// first acknowledgement), and returns the highest height it acknowledged
// and its output.
func runAndKill(t *testing.T, dir string, d time.Duration) (uint64, []byte) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillLoopChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), killLoopDirEnv+"="+dir)
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
	var acked uint64
	var lines []string
	first := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			lines = append(lines, line)
			if h, ok := strings.CutPrefix(line, "ack "); ok {
				if n, err := strconv.ParseUint(h, 10, 64); err == nil {
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
		t.Fatalf("child ended by itself (%v), not by the kill:\n%s", err, out)
	}
	return acked, out
}

// checkStore checks the store after a kill (see TestKillLoop) and returns
// its height; heights up to from were checked after an earlier kill.
func checkStore(t *testing.T, s *chain.Store, when string, acked, from uint64) uint64 {
	t.Helper()
	h, err := s.Height()
	if errors.Is(err, chain.ErrNotInitialized) && acked == 0 {
		return 0 // killed before the genesis state was committed
	}
	if err != nil {
		t.Fatalf("%s: height: %v", when, err)
	}
	if h < acked {
		t.Fatalf("%s: height %d, but the child acknowledged %d", when, h, acked)
	}
	recomputed, stored, err := chain.StateHashes(s)
	if err != nil {
		t.Fatalf("%s: state hashes: %v", when, err)
	}
	latest, err := s.AppHashAt(h)
	if err != nil {
		t.Fatalf("%s: appHash at %d: %v", when, h, err)
	}
	if recomputed != stored || stored != latest {
		t.Fatalf("%s at height %d: appHash of the whole state %s, of the stored accumulator %s, stored for the height %s",
			when, h, recomputed, stored, latest)
	}
	start := max(from, 1) - 1
	var parent chain.Hash
	if start > 0 {
		b, err := s.Block(start)
		if err != nil {
			t.Fatalf("%s: block %d: %v", when, start, err)
		}
		parent = b.Hash()
	}
	for x := start + 1; x <= h; x++ {
		b, err := s.Block(x)
		if err != nil {
			t.Fatalf("%s: block %d of %d: %v", when, x, h, err)
		}
		hash := b.Hash()
		if b.Header.Height != x || b.Header.ParentHash != parent {
			t.Fatalf("%s: block %d has height %d and parent %s, want parent %s", when, x, b.Header.Height, b.Header.ParentHash, parent)
		}
		if byHash, err := s.BlockByHash(hash); err != nil || byHash.Header.Height != x {
			t.Fatalf("%s: block %d by hash: %v", when, x, err)
		}
		c, err := s.Certificate(x)
		if err != nil || c.Height != x || c.BlockHash != hash {
			t.Fatalf("%s: certificate %d: %+v, %v", when, x, c, err)
		}
		rs, err := s.Receipts(x)
		if err != nil || len(rs) != len(b.Txs) {
			t.Fatalf("%s: receipts %d: %d for %d txs, %v", when, x, len(rs), len(b.Txs), err)
		}
		for i, r := range rs {
			if r.Code != 0 {
				t.Fatalf("%s: block %d tx %d: receipt code %d", when, x, i, r.Code)
			}
		}
		if _, err := s.AppHashAt(x); err != nil {
			t.Fatalf("%s: appHash at %d: %v", when, x, err)
		}
		parent = hash
	}
	return h
}

// TestKillLoopChild is TestKillLoop's child: it applies blocks to the
// store in $BAFOMET_KILL_LOOP_DIR until killed, printing "ack <height>"
// after each commit returns.
func TestKillLoopChild(t *testing.T) {
	dir := os.Getenv(killLoopDirEnv)
	if dir == "" {
		t.Skip("run by TestKillLoop")
	}
	s, err := chain.OpenStore(dir, chain.StoreOptions{
		MemTableBytes: 1 << 20, BlockCacheBytes: 1 << 20, IndexCacheBytes: 1 << 20, ValueLogBytes: 1 << 20, Logger: quietLog,
	})
	if err != nil {
		t.Fatal(err)
	}
	exec := chain.NewExecutor(s, kv.New(), testChainID, quietLog)
	h, err := s.Height()
	var parent chain.Hash
	switch {
	case errors.Is(err, chain.ErrNotInitialized):
		if _, err := exec.InitGenesis(nil); err != nil {
			t.Fatal(err)
		}
	case err != nil:
		t.Fatal(err)
	case h > 0:
		_, parent, err = s.LatestBlock()
		if err != nil {
			t.Fatal(err)
		}
	}
	k := keyN(t, 7)
	nonce, err := s.Nonce(addr(k))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for {
		n := 1
		if rng.Intn(2) == 0 {
			n = 2 + rng.Intn(4) // a batch, as execution catching up commits them
		}
		var blocks []*chain.Block
		var certs []*chain.Certificate
		for range n {
			var txs []signed
			for range 1 + rng.Intn(4) {
				size := 1 + rng.Intn(64)
				if rng.Intn(2) == 0 {
					size = 4<<10 + rng.Intn(12<<10) // 4 KiB and more: into the value log
				}
				key := fmt.Sprintf("k%d", rng.Intn(40)) // keys are overwritten: old pairs leave the hash
				txs = append(txs, sign(t, k, nonce, key+"="+strings.Repeat(string(rune('a'+rng.Intn(26))), size)))
				nonce++
			}
			h++
			b, c := makeBlock(t, h, parent, txs)
			parent = b.Hash()
			blocks, certs = append(blocks, b), append(certs, c)
		}
		if _, err := exec.ApplyBlocks(blocks, certs); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("ack %d\n", h)
	}
}
