package e2e

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestRetentionKeepsDiskFlat is issue 24's retention run: four validators
// with node.retain_blocks = 10000 under `bafomet bench --rate 2000` for
// BAFOMET_RETENTION_MINUTES (default 20) minutes, in five-minute rounds, writing at most 200,000
// distinct keys so that the state itself stops growing. It samples the size
// of validator 0's data directory every 30 s and requires every sample
// after the first half of the run to lie within ±20 % of their median. It
// must run on an otherwise idle machine, so it runs only when
// BAFOMET_RETENTION_BENCH=1.
func TestRetentionKeepsDiskFlat(t *testing.T) {
	if os.Getenv("BAFOMET_RETENTION_BENCH") != "1" {
		t.Skip("set BAFOMET_RETENTION_BENCH=1 to run the retention run (20 minutes; idle machine)")
	}
	minutes := envInt(t, "BAFOMET_RETENTION_MINUTES", 20)
	c := newCluster(t, 4, 8, "kv")
	c.setAll("retain_blocks", "0", "10000")
	c.startAll()
	data := filepath.Join(c.m.Nodes[0].Home, "data")
	type sample struct {
		at     time.Duration
		bytes  int64
		height uint64
	}
	var samples []sample
	done := make(chan struct{})
	stopped := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(stopped)
		tick := time.NewTicker(30 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				var h uint64
				_ = c.call(0, &h, "chain_blockNumber")
				samples = append(samples, sample{time.Since(start), dirBytes(data), h})
			}
		}
	}()
	// One bench run pre-signs at most bench.MaxPresigned transactions
	// (12.5 minutes at 2,000 tx/s): run it in rounds of five minutes, new
	// senders each round, the same bounded key space throughout.
	for left := minutes; left > 0; left -= 5 {
		out, err := exec.Command(c.bin, "bench", "--testnet", filepath.Join(c.dir, "testnet.json"), "--rate", "2000",
			"--duration", strconv.Itoa(min(left, 5))+"m", "--warmup", "0s", "--keys", "200000", "--senders", "256").CombinedOutput()
		if err != nil {
			close(done)
			<-stopped
			t.Fatalf("bench: %v\n%s", err, tail(string(out), 30))
		}
		t.Logf("bench round:\n%s", tail(string(out), 14))
	}
	close(done)
	<-stopped
	var late []int64
	for _, s := range samples {
		t.Logf("%6.1f min  height %7d  data %6.1f MB", s.at.Minutes(), s.height, float64(s.bytes)/1e6)
		if s.at > time.Duration(minutes)*time.Minute/2 {
			late = append(late, s.bytes)
		}
	}
	if len(late) == 0 {
		t.Fatal("no samples in the second half of the run")
	}
	sorted := slices.Clone(late)
	slices.Sort(sorted)
	median := sorted[len(sorted)/2]
	for _, b := range late {
		if float64(b) > 1.2*float64(median) || float64(b) < 0.8*float64(median) {
			t.Errorf("data directory %.1f MB in the second half, median %.1f MB: outside ±20 %%", float64(b)/1e6, float64(median)/1e6)
		}
	}
	var st struct {
		EarliestHeight uint64 `json:"earliestHeight"`
		Height         uint64 `json:"height"`
	}
	c.mustCall(0, &st, "chain_status")
	t.Logf("validator 0 holds blocks %d … %d; data directory median %.1f MB over the second half", st.EarliestHeight, st.Height, float64(median)/1e6)
}

// dirBytes returns the disk space the files under dir take (allocated
// blocks, as du counts: Badger's memory-mapped files are created at their
// full size before they fill).
func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				if st, ok := info.Sys().(*syscall.Stat_t); ok {
					n += st.Blocks * 512
				} else {
					n += info.Size()
				}
			}
		}
		return nil
	})
	return n
}
