package bench

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of
// samples sorted in ascending order: the smallest sample such that at least
// p percent of the samples are at or below it. It returns 0 for no samples.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Latency summarises submit-to-commit latencies in milliseconds.
type Latency struct {
	Samples int     `json:"samples"`
	P50     float64 `json:"p50"`
	P95     float64 `json:"p95"`
	P99     float64 `json:"p99"`
	Max     float64 `json:"max"`
	Mean    float64 `json:"mean"`
}

// Summarize sorts samples in place and returns their summary.
func Summarize(samples []time.Duration) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	slices.Sort(samples)
	var sum time.Duration
	for _, s := range samples {
		sum += s
	}
	return Latency{
		Samples: len(samples),
		P50:     ms(Percentile(samples, 50)),
		P95:     ms(Percentile(samples, 95)),
		P99:     ms(Percentile(samples, 99)),
		Max:     ms(samples[len(samples)-1]),
		Mean:    ms(sum / time.Duration(len(samples))),
	}
}

// ms converts d to milliseconds rounded to the microsecond.
func ms(d time.Duration) float64 { return round3(float64(d.Microseconds()) / 1000) }

// PerSecond returns count per second of d, rounded to three decimals; 0
// when d is not positive.
func PerSecond(count int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return round3(float64(count) / d.Seconds())
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// Mean returns sum/n rounded to three decimals; 0 when n is 0.
func Mean(sum, n int) float64 {
	if n == 0 {
		return 0
	}
	return round3(float64(sum) / float64(n))
}
