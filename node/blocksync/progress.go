package blocksync

import (
	"time"
)

// rateMeter measures the delivery rate over the last progress interval.
type rateMeter struct {
	at     time.Time
	height uint64
}

func (m *rateMeter) reset(now time.Time, height uint64) { m.at, m.height = now, height }

// sample returns blocks per second since the previous sample and starts a
// new interval.
func (m *rateMeter) sample(now time.Time, height uint64) float64 {
	elapsed := now.Sub(m.at).Seconds()
	var rate float64
	if elapsed > 0 && height >= m.height {
		rate = float64(height-m.height) / elapsed
	}
	m.reset(now, height)
	return rate
}

// eta estimates the time to cover remaining blocks at rate; zero when the
// rate is unknown.
func eta(remaining uint64, rate float64) time.Duration {
	if rate <= 0 {
		return 0
	}
	return time.Duration(float64(remaining) / rate * float64(time.Second)).Round(time.Second)
}

// logProgress samples the rate and logs where the sync stands.
func (f *Fetcher) logProgress(now time.Time) {
	f.mu.Lock()
	cur, target := f.status.Current, f.status.Target
	rate := f.rate.sample(now, cur)
	f.status.BlocksPerSec = rate
	faults := f.status.Faults
	f.mu.Unlock()
	var remaining uint64
	if target > cur {
		remaining = target - cur
	}
	f.log.Info("block sync progress", "height", cur, "target", target, "blocks_per_sec", int64(rate),
		"eta", eta(remaining, rate), "in_flight", f.sched.inFlight(), "usable_peers", f.sched.usable(now), "faults", faults)
}

// logDone logs the completed sync with its average rate.
func (f *Fetcher) logDone(start time.Time) {
	st := f.Status()
	elapsed := time.Since(start)
	var rate float64
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(st.Current-st.Start) / s
	}
	f.log.Info("block sync complete", "height", st.Current, "blocks", st.Current-st.Start,
		"elapsed", elapsed.Round(time.Millisecond), "blocks_per_sec", int64(rate), "faults", st.Faults)
}
