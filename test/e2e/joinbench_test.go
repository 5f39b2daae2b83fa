package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestJoinTimeStateVsBlockSync is issue 24's join-time benchmark: four
// validators, three of them committing BAFOMET_JOIN_BENCH_TXS (default
// 1,000,000) kv transactions under `bafomet bench --rate max`; then the
// fourth joins from an empty home, alternately by block sync from height 1
// (node.state_sync = false) and by state sync, BAFOMET_JOIN_BENCH_RUNS
// times each (default 3), with the network idle. It reports each join's
// time from process start to the network's tip, and the medians. It takes
// many minutes and must run on an otherwise idle machine, so it runs only
// when BAFOMET_JOIN_BENCH=1.
func TestJoinTimeStateVsBlockSync(t *testing.T) {
	if os.Getenv("BAFOMET_JOIN_BENCH") != "1" {
		t.Skip("set BAFOMET_JOIN_BENCH=1 to run the join-time benchmark (minutes; idle machine)")
	}
	want := envInt(t, "BAFOMET_JOIN_BENCH_TXS", 1_000_000)
	runs := envInt(t, "BAFOMET_JOIN_BENCH_RUNS", 3)
	c := newCluster(t, 4, 8, "kv")
	c.setAll("snapshot_interval", "10", "1")
	for i := 0; i < 3; i++ {
		c.start(i)
	}
	urls := strings.Join([]string{c.m.Nodes[0].RPC, c.m.Nodes[1].RPC, c.m.Nodes[2].RPC}, ",")
	committed, started := 0, time.Now()
	for committed < want {
		out, err := exec.Command(c.bin, "bench", "--rpc", urls, "--rate", "max", "--duration", "60s",
			"--warmup", "1s", "--drain", "20s", "--senders", "256").CombinedOutput()
		if err != nil {
			t.Fatalf("bench: %v\n%s", err, tail(string(out), 20))
		}
		committed = c.txsUpTo(0, c.tip(0))
		t.Logf("chain: %d transactions at height %d after %v", committed, c.tip(0), time.Since(started).Round(time.Second))
	}
	time.Sleep(5 * time.Second) // the last snapshots written and their checkpoints stable
	tip := c.tip(0)
	home := c.m.Nodes[3].Home
	times := map[string][]time.Duration{}
	for r := 0; r < runs; r++ {
		for _, mode := range []string{"block", "state"} {
			for _, p := range []string{"data", "wal", "config/validator.ran"} {
				if err := os.RemoveAll(filepath.Join(home, p)); err != nil {
					t.Fatal(err)
				}
			}
			if mode == "block" {
				c.setConfig(3, "state_sync", "true", "false")
			}
			logStart := len(c.log(3))
			start := time.Now()
			c.start(3)
			for c.tip(3) < tip {
				if time.Since(start) > 30*time.Minute {
					t.Fatalf("%s sync run %d: at height %d of %d after 30 minutes", mode, r, c.tip(3), tip)
				}
				time.Sleep(20 * time.Millisecond)
			}
			took := time.Since(start)
			if mode == "state" {
				for _, line := range strings.Split(c.log(3)[logStart:], "\n") {
					if strings.Contains(line, "state sync: snapshot restored") || strings.Contains(line, "state sync: restoring snapshot") {
						t.Log(line)
					}
				}
			}
			c.kill(3)
			if mode == "block" {
				c.setConfig(3, "state_sync", "false", "true")
			}
			times[mode] = append(times[mode], took)
			t.Logf("run %d: %s sync joined a chain of %d transactions (height %d) in %v", r, mode, committed, tip, took.Round(time.Millisecond))
		}
	}
	median := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	b, s := median(times["block"]), median(times["state"])
	t.Logf("join time for %d transactions, %d blocks: block sync %v, state sync %v (medians of %d alternated runs): %.1f× faster",
		committed, tip, b.Round(time.Millisecond), s.Round(time.Millisecond), runs, b.Seconds()/s.Seconds())
	if b < 10*s {
		t.Errorf("state sync is only %.1f× faster than block sync, want at least 10×", b.Seconds()/s.Seconds())
	}
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}
