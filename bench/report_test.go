package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	prev := counters{accepted: 100, committed: 50, rejected: 1, blocks: 3, height: 3}
	now := counters{accepted: 1100, committed: 1050, rejected: 3, blocks: 5, height: 5}
	got := progressLine(4500*time.Millisecond, "measure", now, prev, 42, time.Second)
	want := "[  4.5s measure] accepted    1000/s  committed    1000/s  rejected      2/s  outstanding     42  height 5 (+2 blocks)"
	if got != want {
		t.Fatalf("progressLine =\n%q\nwant\n%q", got, want)
	}
}

func TestPhase(t *testing.T) {
	w := window{start: at(1000), end: at(2000)}
	for _, tt := range []struct {
		t    time.Time
		want string
	}{{at(0), "warmup"}, {at(1000), "measure"}, {at(2000), "drain"}} {
		if got := phase(tt.t, w); got != tt.want {
			t.Errorf("phase(%s) = %q, want %q", tt.t.Sub(t0), got, tt.want)
		}
	}
}

func TestWriteText(t *testing.T) {
	r := Report{
		Setup:   RunSetup{Nodes: 4, Rate: "3000", DurationS: 20, WarmupS: 3, Senders: 64, Window: 32, Batch: 1, TxBytes: 196},
		Offered: 60000, Missed: 10, Accepted: 59990, Committed: 59000, AcceptedTPS: 2999.5, CommittedTPS: 2950,
		LatencyMs:  Latency{Samples: 59990, P50: 80, P95: 150.5, P99: 290, Max: 400},
		Rejections: map[string]int{ReasonSenderFull: 2, ReasonMempoolFull: 5},
		Blocks:     BlockStats{Count: 40, PerSecond: 2, TxsPerBlock: 1475, MaxTxs: 2000, FirstHeight: 10, LastHeight: 49},
		Profile:    "cpu.pprof",
		Nodes:      []ProcStats{{Name: "node0", PID: 9, CPUPercent: 81.4, RSSStartMB: 100, RSSMidMB: 120, RSSEndMB: 130, RSSMaxMB: 131}, {Name: "node1", Error: "process id unknown"}},
		Bench:      ProcStats{Name: "bench", PID: 8, CPUPercent: 20, RSSStartMB: 50, RSSMidMB: 50, RSSEndMB: 50, RSSMaxMB: 50},
	}
	var b bytes.Buffer
	r.WriteText(&b)
	want := `bench: 4 node(s), rate 3000, 20s measured after 3s warmup, 64 senders (window 32, batch 1), 196-byte transactions
committed  2950.0 tx/s (59000 txs)
accepted   2999.5 tx/s (59990 txs); offered 60000, missed 10 (no sender free to take them)
latency    p50 80.0 ms  p95 150.5 ms  p99 290.0 ms  max 400.0 ms  (59990 samples)
blocks     40 (2.00/s), 1475.0 txs/block, max 2000, heights 10-49
rejections mempool_full 5, sender_full 2
uncommitted after drain 0; senders out of transactions 0; resubscriptions 0
cpu profile cpu.pprof
node0    pid 9: cpu 81%  rss start 100 MB, mid 120 MB, end 130 MB, max 131 MB
node1    pid 0: process id unknown
bench    pid 8: cpu 20%  rss start 50 MB, mid 50 MB, end 50 MB, max 50 MB
`
	if b.String() != want {
		t.Fatalf("WriteText =\n%s\nwant\n%s", b.String(), want)
	}
	if got := formatCounts(nil); got != "none" {
		t.Fatalf("formatCounts(nil) = %q", got)
	}
}

func TestReleaseNeverBlocks(t *testing.T) {
	s := testSender(1)
	s.release() // nothing held: returns at once
	hold(s, 1)
	s.release()
	if len(s.slots) != 0 {
		t.Fatalf("%d slots held after release, want 0", len(s.slots))
	}
}

// TestWriteTextSplitsRSS: a process whose anonymous memory was sampled gets
// its RSS split in the text report; one without keeps the plain line.
func TestWriteTextSplitsRSS(t *testing.T) {
	r := Report{
		Nodes: []ProcStats{{Name: "node0", PID: 9, CPUPercent: 40, RSSStartMB: 100, RSSMidMB: 120, RSSEndMB: 130, RSSMaxMB: 131,
			RSSAnonMaxMB: 120, RSSFileMaxMB: 11}},
		Bench: ProcStats{Name: "bench", PID: 8, CPUPercent: 20, RSSStartMB: 50, RSSMidMB: 50, RSSEndMB: 50, RSSMaxMB: 50},
	}
	var b bytes.Buffer
	r.WriteText(&b)
	for _, line := range []string{
		"node0    pid 9: cpu 40%  rss start 100 MB, mid 120 MB, end 130 MB, max 131 MB (anon max 120 MB, file-backed max 11 MB)\n",
		"bench    pid 8: cpu 20%  rss start 50 MB, mid 50 MB, end 50 MB, max 50 MB\n",
	} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("WriteText lacks %q:\n%s", line, b.String())
		}
	}
}
