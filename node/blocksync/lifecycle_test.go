package blocksync

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// concurrencyNet wraps a Requester and records the most requests seen at
// once, overall and per peer.
type concurrencyNet struct {
	inner   Requester
	delay   time.Duration
	mu      sync.Mutex
	now     int
	perPeer map[int]int
	max     int
	maxPeer int
}

func (n *concurrencyNet) Request(ctx context.Context, to int, req []byte) ([]byte, error) {
	n.mu.Lock()
	n.now++
	n.perPeer[to]++
	n.max = max(n.max, n.now)
	n.maxPeer = max(n.maxPeer, n.perPeer[to])
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		n.now--
		n.perPeer[to]--
		n.mu.Unlock()
	}()
	select {
	case <-time.After(n.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return n.inner.Request(ctx, to, req)
}

func TestFetcherInFlightLimitsReached(t *testing.T) {
	c := getShared(t)
	for _, tc := range []struct {
		inFlight, perPeer   int
		wantMax, wantMaxPer int
	}{{2, 2, 2, 1}, {4, 1, 3, 1}, {6, 2, 6, 2}, {1, 1, 1, 1}} { // the least busy peer is chosen first
		net := &concurrencyNet{inner: honestNet(t, c, 0, 1, 2), delay: 20 * time.Millisecond, perPeer: map[int]int{}}
		lim := testLimits()
		lim.RangeBlocks, lim.MaxInFlight, lim.MaxPerPeer = 8, tc.inFlight, tc.perPeer
		items := collect(t, newFetcher(t, c, net, []int{0, 1, 2}, 0, 96, lim))
		checkItems(t, c, items, 1, 96)
		if net.max != tc.wantMax || net.maxPeer != tc.wantMaxPer {
			t.Fatalf("%+v: at most %d at once, %d per peer", tc, net.max, net.maxPeer)
		}
	}
}

// TestFetcherWindowHoldsWhenNodeDoesNotRead: a node that stops pulling
// blocks stops the fetching once the window is full.
func TestFetcherWindowHoldsWhenNodeDoesNotRead(t *testing.T) {
	c := getShared(t)
	net := honestNet(t, c, 0)
	lim := testLimits()
	lim.RangeBlocks, lim.WindowBlocks, lim.DeliverQueue, lim.MaxInFlight = 10, 30, 1, 1
	f := newFetcher(t, c, net, []int{0}, 0, 500, lim)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	// One block sits in the queue (height 1), so the window is 2..31:
	// ranges 1-10, 11-20, 21-30 and 31-40 are fetched, nothing more.
	deadline := time.Now().Add(10 * time.Second)
	for net.callsTo(0) < 4 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if got := net.callsTo(0); got != 4 {
		t.Fatalf("%d requests with a full window, want 4", got)
	}
	if st := f.Status(); st.Current != 1 || !st.Syncing {
		t.Fatalf("status %+v", st)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

func TestFetcherStopsCleanly(t *testing.T) {
	c := getShared(t)
	before := runtime.NumGoroutine()
	net := newFakeNet()
	for p := range 3 {
		net.set(p, func(ctx context.Context, req []byte) ([]byte, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
	}
	lim := testLimits()
	lim.RequestTimeout = time.Hour
	f := newFetcher(t, c, net, []int{0, 1, 2}, 0, 600, lim)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for net.callsTo(0)+net.callsTo(1)+net.callsTo(2) < 3 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("run: %v", err)
	}
	if _, open := <-f.Blocks(); open {
		t.Fatal("Blocks not closed")
	}
	// Run waited for its request goroutines; only the test's own are left.
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines, %d before", n, before)
	}
	if st := f.Status(); st.Syncing || st.Faults != 0 {
		t.Fatalf("status %+v", st)
	}
}

// recordHandler keeps log records.
type recordHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r)
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

func TestProgressIsLogged(t *testing.T) {
	c := getShared(t)
	net := &concurrencyNet{inner: honestNet(t, c, 0), delay: 15 * time.Millisecond, perPeer: map[int]int{}}
	lim := testLimits()
	lim.ProgressInterval, lim.RangeBlocks, lim.MaxInFlight = 20*time.Millisecond, 10, 1
	h := &recordHandler{}
	f, err := NewFetcher(Config{
		ChainID: testChainID, Validators: c.vs, Requester: net, Peers: []int{0},
		StartHash: genesisHash, Target: 200, Limits: lim, Log: slog.New(h),
	})
	if err != nil {
		t.Fatal(err)
	}
	collect(t, f)
	msgs := map[string]int{}
	for _, r := range h.recs {
		msgs[r.Message]++
		if r.Message != "block sync progress" {
			continue
		}
		keys := []string{}
		r.Attrs(func(a slog.Attr) bool { keys = append(keys, a.Key); return true })
		if got := strings.Join(keys, ","); got != "height,target,blocks_per_sec,eta,in_flight,usable_peers,faults" {
			t.Fatalf("progress attributes %s", got)
		}
	}
	// 20 requests of at least 15 ms each: well over 100 ms of sync.
	if msgs["block sync started"] != 1 || msgs["block sync complete"] != 1 || msgs["block sync progress"] < 3 {
		t.Fatalf("log messages %v", msgs)
	}
}

func TestRateAndETA(t *testing.T) {
	var m rateMeter
	t0 := time.Unix(1000, 0)
	m.reset(t0, 100)
	if r := m.sample(t0.Add(2*time.Second), 300); r != 100 {
		t.Fatalf("rate %v", r)
	}
	if r := m.sample(t0.Add(2*time.Second), 400); r != 0 {
		t.Fatalf("rate over no time %v", r)
	}
	if d := eta(500, 100); d != 5*time.Second {
		t.Fatalf("eta %s", d)
	}
	if d := eta(500, 0); d != 0 {
		t.Fatalf("eta without rate %s", d)
	}
}

func TestFetcherConfig(t *testing.T) {
	c := getShared(t)
	net := newFakeNet()
	base := func() Config {
		return Config{ChainID: testChainID, Validators: c.vs, Requester: net, Peers: []int{0, 1}}
	}
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"no validators", func(c *Config) { c.Validators = nil }},
		{"no requester", func(c *Config) { c.Requester = nil }},
		{"no peers", func(c *Config) { c.Peers = nil }},
		{"duplicate peer", func(c *Config) { c.Peers = []int{1, 1} }},
		{"peer out of range", func(c *Config) { c.Peers = []int{testVals} }},
		{"negative peer", func(c *Config) { c.Peers = []int{-1} }},
		{"negative limit", func(c *Config) { c.Limits.MaxInFlight = -1 }},
		{"negative duration", func(c *Config) { c.Limits.PeerCooldown = -time.Second }},
		{"window below range", func(c *Config) { c.Limits.RangeBlocks, c.Limits.WindowBlocks = 64, 63 }},
		{"buffer below response", func(c *Config) { c.Limits.MaxResponseBytes, c.Limits.MaxBufferedBytes = 100, 99 }},
	}
	for _, tc := range tests {
		cfg := base()
		tc.mod(&cfg)
		if _, err := NewFetcher(cfg); err == nil {
			t.Fatalf("%s: accepted", tc.name)
		}
	}
	cfg := base()
	cfg.Limits = Limits{RangeBlocks: 64, WindowBlocks: 64, MaxResponseBytes: 100, MaxBufferedBytes: 100}
	if _, err := NewFetcher(cfg); err != nil {
		t.Fatalf("limits at their bounds: %v", err)
	}
	f, err := NewFetcher(base())
	if err != nil {
		t.Fatal(err)
	}
	if f.lim.RangeBlocks != DefaultRangeBlocks || f.lim.PeerCooldown != DefaultPeerCooldown || f.lim.VerifyParallelism != runtime.GOMAXPROCS(0) || cap(f.out) != DefaultDeliverQueue {
		t.Fatalf("defaults %+v", f.lim)
	}
}
