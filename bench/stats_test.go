package bench

import (
	"testing"
	"time"
)

func msList(vals ...int) []time.Duration {
	out := make([]time.Duration, len(vals))
	for i, v := range vals {
		out[i] = time.Duration(v) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name    string
		samples []time.Duration
		p       float64
		want    time.Duration
	}{
		{"empty", nil, 50, 0},
		{"single p50", msList(7), 50, 7 * time.Millisecond},
		{"single p99", msList(7), 99, 7 * time.Millisecond},
		{"ten p50", msList(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 50, 5 * time.Millisecond},
		{"ten p95", msList(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 95, 10 * time.Millisecond},
		{"ten p10", msList(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 10, 1 * time.Millisecond},
		{"ten p11", msList(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 11, 2 * time.Millisecond},
		{"hundred p50", msList(hundred...), 50, 50 * time.Millisecond},
		{"hundred p95", msList(hundred...), 95, 95 * time.Millisecond},
		{"hundred p99", msList(hundred...), 99, 99 * time.Millisecond},
		{"hundred p100", msList(hundred...), 100, 100 * time.Millisecond},
		{"p0 is the minimum", msList(3, 4), 0, 3 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.samples, tt.p); got != tt.want {
				t.Fatalf("Percentile(p%g) = %s, want %s", tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	got := Summarize(msList(40, 10, 30, 20))
	want := Latency{Samples: 4, P50: 20, P95: 40, P99: 40, Max: 40, Mean: 25}
	if got != want {
		t.Fatalf("Summarize = %+v, want %+v", got, want)
	}
	frac := Summarize([]time.Duration{1500 * time.Microsecond, 2 * time.Millisecond})
	if frac.P50 != 1.5 || frac.Mean != 1.75 {
		t.Fatalf("fractional ms: %+v, want p50 1.5 and mean 1.75", frac)
	}
	if got := Summarize(nil); got != (Latency{}) {
		t.Fatalf("Summarize(nil) = %+v, want zero", got)
	}
}

func TestPerSecondAndMean(t *testing.T) {
	tests := []struct {
		count int
		d     time.Duration
		want  float64
	}{
		{5000, 2 * time.Second, 2500},
		{1, 3 * time.Second, 0.333},
		{2, 3 * time.Second, 0.667},
		{10, 0, 0},
		{10, -time.Second, 0},
		{150, 1500 * time.Millisecond, 100},
	}
	for _, tt := range tests {
		if got := PerSecond(tt.count, tt.d); got != tt.want {
			t.Errorf("PerSecond(%d, %s) = %g, want %g", tt.count, tt.d, got, tt.want)
		}
	}
	if got := Mean(7, 2); got != 3.5 {
		t.Errorf("Mean(7, 2) = %g, want 3.5", got)
	}
	if got := Mean(7, 0); got != 0 {
		t.Errorf("Mean(7, 0) = %g, want 0", got)
	}
}
