package bench

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Report is the outcome of a run; `bafomet bench --json` prints it as one
// JSON object. Counts and rates cover the measured window (after warmup)
// unless a field says otherwise; docs/performance.md defines each field.
type Report struct {
	Setup RunSetup `json:"setup"`
	// Offered is the open-loop tokens issued in the window; Missed those no
	// sender could take because every sender's window was full. Both are 0
	// in closed loop.
	Offered int `json:"offered"`
	Missed  int `json:"missed"`
	// Accepted is the transactions submitted in the window that a node
	// accepted; Committed our transactions whose block arrived in the
	// window.
	Accepted     int     `json:"accepted"`
	Committed    int     `json:"committed"`
	AcceptedTPS  float64 `json:"accepted_tps"`
	CommittedTPS float64 `json:"committed_tps"`
	// LatencyMs is submit-to-commit latency of the transactions submitted
	// in the window: from the start of the accepted request to the arrival
	// of its block on the observer's subscription.
	LatencyMs Latency `json:"latency_ms"`
	// Rejections counts refusals in the window by reason.
	Rejections map[string]int `json:"rejections"`
	Blocks     BlockStats     `json:"blocks"`
	// Uncommitted is the transactions (whole run) still not seen committed
	// when the drain period ended.
	Uncommitted int `json:"uncommitted"`
	// UncommittedStatus says where a sample of those are, by the node
	// they were sent to (chain_getTransaction); absent when none are.
	UncommittedStatus map[string]int `json:"uncommitted_status,omitempty"`
	SendersExhausted  int            `json:"senders_exhausted"`
	Resubscribed      int            `json:"resubscribed"`
	// Profile is the CPU profile file written, or why it is missing.
	Profile string      `json:"profile,omitempty"`
	Nodes   []ProcStats `json:"nodes"`
	Bench   ProcStats   `json:"bench_process"`
}

// RunSetup echoes what was run.
type RunSetup struct {
	Nodes        int     `json:"nodes"`
	Observer     string  `json:"observer"`
	Rate         string  `json:"rate"` // "max" or tx/s
	DurationS    float64 `json:"duration_s"`
	WarmupS      float64 `json:"warmup_s"`
	Senders      int     `json:"senders"`
	Window       int     `json:"window"`
	Batch        int     `json:"batch"`
	PayloadBytes int     `json:"payload_bytes"`
	TxBytes      int     `json:"tx_bytes"`
	Presigned    int     `json:"presigned"`
	ChainID      string  `json:"chain_id"`
	StartHeight  uint64  `json:"start_height"`
}

// BlockStats describes the blocks that arrived in the window.
type BlockStats struct {
	Count       int     `json:"count"`
	PerSecond   float64 `json:"per_second"`
	TxsPerBlock float64 `json:"txs_per_block"`
	MaxTxs      int     `json:"max_txs"`
	Txs         int     `json:"txs"` // every transaction, ours or not
	FirstHeight uint64  `json:"first_height"`
	LastHeight  uint64  `json:"last_height"`
}

// report builds the Report from the tracker after the run.
func (t *tracker) report(d time.Duration) Report {
	t.mu.Lock()
	defer t.mu.Unlock()
	rej := make(map[string]int, len(t.rejections))
	for k, v := range t.rejections {
		rej[k] = v
	}
	return Report{
		Offered: t.offered, Missed: t.missed,
		Accepted: t.accepted, Committed: t.committed,
		AcceptedTPS: PerSecond(t.accepted, d), CommittedTPS: PerSecond(t.committed, d),
		LatencyMs:  Summarize(t.latencies),
		Rejections: rej,
		Blocks: BlockStats{
			Count: t.blocks, PerSecond: PerSecond(t.blocks, d), TxsPerBlock: Mean(t.blockTxs, t.blocks),
			MaxTxs: t.maxBlockTxs, Txs: t.blockTxs, FirstHeight: t.firstHeight, LastHeight: t.lastHeight,
		},
		Uncommitted:      len(t.pending),
		SendersExhausted: t.exhausted,
	}
}

// WriteText prints the report for people.
func (r *Report) WriteText(w io.Writer) {
	s := r.Setup
	fmt.Fprintf(w, "bench: %d node(s), rate %s, %gs measured after %gs warmup, %d senders (window %d, batch %d), %d-byte transactions\n",
		s.Nodes, s.Rate, s.DurationS, s.WarmupS, s.Senders, s.Window, s.Batch, s.TxBytes)
	fmt.Fprintf(w, "committed  %.1f tx/s (%d txs)\n", r.CommittedTPS, r.Committed)
	fmt.Fprintf(w, "accepted   %.1f tx/s (%d txs)", r.AcceptedTPS, r.Accepted)
	if r.Offered > 0 {
		fmt.Fprintf(w, "; offered %d, missed %d (no sender free to take them)", r.Offered, r.Missed)
	}
	fmt.Fprintln(w)
	l := r.LatencyMs
	fmt.Fprintf(w, "latency    p50 %.1f ms  p95 %.1f ms  p99 %.1f ms  max %.1f ms  (%d samples)\n", l.P50, l.P95, l.P99, l.Max, l.Samples)
	b := r.Blocks
	fmt.Fprintf(w, "blocks     %d (%.2f/s), %.1f txs/block, max %d, heights %d-%d\n", b.Count, b.PerSecond, b.TxsPerBlock, b.MaxTxs, b.FirstHeight, b.LastHeight)
	fmt.Fprintf(w, "rejections %s\n", formatCounts(r.Rejections))
	fmt.Fprintf(w, "uncommitted after drain %d; senders out of transactions %d; resubscriptions %d\n", r.Uncommitted, r.SendersExhausted, r.Resubscribed)
	if len(r.UncommittedStatus) > 0 {
		fmt.Fprintf(w, "uncommitted sample by status: %s\n", formatCounts(r.UncommittedStatus))
	}
	if r.Profile != "" {
		fmt.Fprintf(w, "cpu profile %s\n", r.Profile)
	}
	for _, p := range append(append([]ProcStats(nil), r.Nodes...), r.Bench) {
		if p.Error != "" {
			fmt.Fprintf(w, "%-8s pid %d: %s\n", p.Name, p.PID, p.Error)
			continue
		}
		fmt.Fprintf(w, "%-8s pid %d: cpu %.0f%%  rss start %.0f MB, mid %.0f MB, end %.0f MB, max %.0f MB",
			p.Name, p.PID, p.CPUPercent, p.RSSStartMB, p.RSSMidMB, p.RSSEndMB, p.RSSMaxMB)
		if p.RSSAnonMaxMB > 0 {
			fmt.Fprintf(w, " (anon max %.0f MB, file-backed max %.0f MB)", p.RSSAnonMaxMB, p.RSSFileMaxMB)
		}
		fmt.Fprintln(w)
	}
}

// formatCounts prints "none" or "a 3, b 1" sorted by name.
func formatCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// progressLine formats one progress line from the counters now and one
// interval ago.
func progressLine(elapsed time.Duration, phase string, now, prev counters, outstanding int, interval time.Duration) string {
	return fmt.Sprintf("[%5.1fs %-7s] accepted %7.0f/s  committed %7.0f/s  rejected %6.0f/s  outstanding %6d  height %d (+%d blocks)",
		elapsed.Seconds(), phase,
		PerSecond(now.accepted-prev.accepted, interval), PerSecond(now.committed-prev.committed, interval),
		PerSecond(now.rejected-prev.rejected, interval), outstanding, now.height, now.blocks-prev.blocks)
}
