// Package bench is the load generator behind `bafomet bench`: it pre-signs
// kv transactions from many senders, submits them over JSON-RPC spread
// across the nodes of a network, follows committed blocks over the
// websocket subscription, and reports committed throughput, submit-to-commit
// latency, rejections by reason, block rate and each node's CPU and RSS.
//
// It is a client of the node, not part of it: everything it learns comes
// through the public JSON-RPC API (docs/rpc.md) and, for local processes,
// /proc. See docs/performance.md for the method and the results.
package bench

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Defaults and limits of a run. Each default has a Config field.
const (
	// DefaultSenders is the number of generated sender keys.
	DefaultSenders = 64
	// DefaultPayloadBytes is the kv payload size; with the default testnet
	// chain id the signed transaction is about 200 bytes.
	DefaultPayloadBytes = 108
	// MinPayloadBytes fits the unique key "s<sender>n<nonce>=" of any run.
	MinPayloadBytes = 24
	// MaxPayloadBytes keeps the transaction under the mempool's default
	// per-transaction limit (64 KiB).
	MaxPayloadBytes = 60_000
	// MaxKeys bounds Config.Keys: a key "k<index>" stays within
	// MinPayloadBytes.
	MaxKeys = 1_000_000_000
	// DefaultWindow bounds one sender's transactions submitted but not yet
	// seen committed: half the mempool's default per-sender limit (64), so
	// that a transaction gossiped late to a node never hits that limit.
	DefaultWindow = 32
	// DefaultBatch is one transaction per JSON-RPC request, as a real
	// client sends them.
	DefaultBatch = 1
	// MaxBatch bounds a batch request (the node's default batch limit is
	// larger).
	MaxBatch = 100
	// DefaultDuration is the measured interval.
	DefaultDuration = 20 * time.Second
	// DefaultWarmup runs load before measuring starts.
	DefaultWarmup = 3 * time.Second
	// DefaultDrain is how long the run waits after the measured interval
	// for submitted transactions to commit.
	DefaultDrain = 10 * time.Second
	// DefaultRetryDelay is the pause before resubmitting a transaction that
	// was refused for a transient reason (mempool full, sender full).
	DefaultRetryDelay = 20 * time.Millisecond
	// DefaultRequestTimeout bounds one JSON-RPC request.
	DefaultRequestTimeout = 10 * time.Second
	// DefaultMaxRateEstimate sizes the pre-signed pool in closed-loop mode
	// (Rate 0): transactions for this many tx/s over warmup plus duration.
	DefaultMaxRateEstimate = 12_000
	// MaxPresigned bounds the pre-signed pool (about 300 bytes of memory
	// each for the default size): enough for ten minutes at 2,000 tx/s
	// plus warm-up and the 10% margin (1.33 million).
	MaxPresigned = 1_500_000
	// DefaultBurst is how much of a second's tokens the open-loop token
	// bucket may hold when every sender is busy.
	DefaultBurst = 100 * time.Millisecond
	// DefaultProgressInterval is the period of progress lines.
	DefaultProgressInterval = time.Second
)

// Target is one node the load is spread across.
type Target struct {
	Name string // for reports, e.g. "node0"
	URL  string // JSON-RPC over HTTP, e.g. http://127.0.0.1:26601
	PID  int    // the node's process id for CPU and RSS sampling; 0 = unknown
}

// Config describes a run. Zero fields take their defaults (see
// WithDefaults); Rate 0 means closed loop ("max").
type Config struct {
	Targets []Target
	// Observer is the index in Targets of the node whose newBlocks
	// subscription times commits.
	Observer int
	// Rate is the offered load in tx/s (open loop, token bucket); 0 runs
	// closed loop: every sender submits as fast as its window allows.
	Rate float64
	// Duration is the measured interval, after Warmup.
	Duration time.Duration
	Warmup   time.Duration
	// WarmupSet says Warmup was given explicitly, so 0 means none.
	WarmupSet bool
	Drain     time.Duration
	Senders   int
	// PayloadBytes is the size of each kv payload "key=value".
	PayloadBytes int
	// Keys bounds the distinct kv keys a run writes, so that a long run
	// keeps the state one size (0: every transaction writes a key of its
	// own).
	Keys   int
	Window int
	Batch  int
	// Presign overrides the number of pre-signed transactions; 0 sizes
	// the pool from Rate (or MaxRateEstimate) over Warmup+Duration.
	Presign         int
	MaxRateEstimate float64
	// AuditSample bounds the outstanding transactions looked up after
	// the drain (see DefaultAuditSample).
	AuditSample    int
	RetryDelay     time.Duration
	RequestTimeout time.Duration
	Burst          time.Duration
	// ProfileURL, when set with ProfileOut, is a node's profiler address
	// (debug.listen: http://HOST:PORT serving /debug/pprof/); the run saves a CPU profile
	// of the measured window to the file ProfileOut.
	ProfileURL string
	ProfileOut string
	// Progress receives one line per ProgressInterval; nil for none.
	Progress         io.Writer
	ProgressInterval time.Duration
	Logger           *slog.Logger
}

// WithDefaults returns c with zero fields replaced by their defaults.
func (c Config) WithDefaults() Config {
	setDur := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	setInt := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	setDur(&c.Duration, DefaultDuration)
	if !c.WarmupSet {
		setDur(&c.Warmup, DefaultWarmup)
	}
	setDur(&c.Drain, DefaultDrain)
	setDur(&c.RetryDelay, DefaultRetryDelay)
	setDur(&c.RequestTimeout, DefaultRequestTimeout)
	setDur(&c.Burst, DefaultBurst)
	setDur(&c.ProgressInterval, DefaultProgressInterval)
	setInt(&c.Senders, DefaultSenders)
	setInt(&c.PayloadBytes, DefaultPayloadBytes)
	setInt(&c.Window, DefaultWindow)
	setInt(&c.Batch, DefaultBatch)
	setInt(&c.AuditSample, DefaultAuditSample)
	if c.MaxRateEstimate == 0 {
		c.MaxRateEstimate = DefaultMaxRateEstimate
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every field out of range, after defaults.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Targets) == 0 {
		add("no target nodes")
	}
	if c.Observer < 0 || c.Observer >= max(len(c.Targets), 1) {
		add("observer %d: want 0 to %d", c.Observer, len(c.Targets)-1)
	}
	if c.Rate < 0 {
		add("rate %g: must not be negative", c.Rate)
	}
	if c.Duration <= 0 || c.Warmup < 0 || c.Drain < 0 {
		add("duration %s, warmup %s, drain %s: duration must be positive, the others not negative", c.Duration, c.Warmup, c.Drain)
	}
	if c.Senders < 1 {
		add("senders %d: want at least 1", c.Senders)
	}
	if c.Keys < 0 || c.Keys > MaxKeys {
		add("keys %d: want 0 (a key per transaction) to %d", c.Keys, MaxKeys)
	}
	if c.PayloadBytes < MinPayloadBytes || c.PayloadBytes > MaxPayloadBytes {
		add("size %d: want %d to %d bytes", c.PayloadBytes, MinPayloadBytes, MaxPayloadBytes)
	}
	if c.Window < 1 {
		add("window %d: want at least 1", c.Window)
	}
	if c.Batch < 1 || c.Batch > MaxBatch || c.Batch > c.Window {
		add("batch %d: want 1 to min(%d, window %d)", c.Batch, MaxBatch, c.Window)
	}
	if c.Presign < 0 || c.Presign > MaxPresigned {
		add("presign %d: want 0 to %d", c.Presign, MaxPresigned)
	}
	if c.AuditSample < 0 {
		add("audit sample %d: must not be negative", c.AuditSample)
	}
	if c.MaxRateEstimate <= 0 {
		add("max rate estimate %g: must be positive", c.MaxRateEstimate)
	}
	return errors.Join(errs...)
}

// PoolSize is the number of transactions to pre-sign: Presign when set,
// otherwise 10% over the rate times warmup plus duration, at least one
// window per sender and at most MaxPresigned.
func (c Config) PoolSize() int {
	if c.Presign > 0 {
		return c.Presign
	}
	rate := c.Rate
	if rate == 0 {
		rate = c.MaxRateEstimate
	}
	n := int(rate*(c.Warmup+c.Duration).Seconds()*1.1) + 1
	n = max(n, c.Senders*c.Window)
	return min(n, MaxPresigned)
}
