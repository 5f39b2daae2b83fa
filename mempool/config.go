package mempool

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Default limits. Each has a Config field of the same meaning.
const (
	DefaultMaxTxs          = 10_000
	DefaultMaxBytes        = 64 << 20 // 64 MiB of wire bytes
	DefaultMaxTxBytes      = 64 << 10 // 64 KiB per transaction
	DefaultMaxQueued       = DefaultMaxTxs / 4
	DefaultMaxTxsPerSender = 64
	DefaultMaxNonceGap     = 16
	DefaultTTL             = 10 * time.Minute
	DefaultReserveHeights  = 8
	DefaultSigCacheSize    = 65_536
	DefaultMaxDropped      = 10_000
)

// Config holds the mempool's limits. A zero field takes its default; use
// DefaultConfig to see them and Validate to reject negative values from a
// config file.
type Config struct {
	// MaxTxs bounds the number of transactions held, ready plus queued.
	MaxTxs int `toml:"max_txs"`
	// MaxBytes bounds the total wire size of the transactions held.
	MaxBytes int `toml:"max_bytes"`
	// MaxTxBytes bounds the wire size of one transaction.
	MaxTxBytes int `toml:"max_tx_bytes"`
	// MaxQueued bounds the transactions held behind a nonce gap (queued),
	// across all senders, so that transactions that cannot execute yet
	// never fill the pool: at least MaxTxs − MaxQueued slots are left to
	// ready ones, and a ready transaction that finds the pool full evicts
	// queued ones (see the package doc). It is checked on admission. Zero
	// takes a quarter of MaxTxs (at least 1); it must be below MaxTxs.
	MaxQueued int `toml:"max_queued"`
	// MaxTxsPerSender is each sender's fair share of a full pool, ready
	// plus queued. It is not a cap while the pool has room: a sender may
	// use free space. When the pool is full, a sender holding at least
	// its share is refused (ErrSenderFull), and a ready transaction of a
	// sender holding less evicts the newest transaction of the sender
	// holding the most, if that sender holds more than its share.
	MaxTxsPerSender int `toml:"max_txs_per_sender"`
	// MaxNonceGap bounds how far a nonce may run ahead of the sender's
	// pending nonce: a transaction is admitted only if
	// nonce ≤ PendingNonce(sender) + MaxNonceGap. It therefore also bounds
	// how many of a sender's transactions wait behind a gap. Zero takes the
	// default, so the smallest gap is 1.
	MaxNonceGap uint64 `toml:"max_nonce_gap"`
	// TTL is how long an admitted transaction may stay before it is
	// dropped with reason "ttl".
	TTL time.Duration `toml:"ttl"`
	// ReserveHeights is how many committed heights a reaped transaction
	// stays reserved for its proposal before it becomes reapable again on
	// its own. It must be at least ordering's pipeline window.
	ReserveHeights uint64 `toml:"reserve_heights"`
	// SigCacheSize bounds the signature cache (transaction hash → sender).
	SigCacheSize int `toml:"sig_cache_size"`
	// MaxDropped bounds the table of dropped transactions kept for Lookup.
	MaxDropped int `toml:"max_dropped"`

	// Now is the clock used for TTLs; nil means time.Now.
	Now func() time.Time `toml:"-"`
	// Logger receives drop and error logs; nil means slog.Default().
	Logger *slog.Logger `toml:"-"`
}

// DefaultConfig returns a Config with every limit at its default.
func DefaultConfig() Config {
	return Config{
		MaxTxs:          DefaultMaxTxs,
		MaxBytes:        DefaultMaxBytes,
		MaxTxBytes:      DefaultMaxTxBytes,
		MaxQueued:       DefaultMaxQueued,
		MaxTxsPerSender: DefaultMaxTxsPerSender,
		MaxNonceGap:     DefaultMaxNonceGap,
		TTL:             DefaultTTL,
		ReserveHeights:  DefaultReserveHeights,
		SigCacheSize:    DefaultSigCacheSize,
		MaxDropped:      DefaultMaxDropped,
		Now:             time.Now,
		Logger:          slog.Default(),
	}
}

// Validate reports limits that are negative. Zero means "use the default".
func (c Config) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"max_txs", int64(c.MaxTxs)},
		{"max_bytes", int64(c.MaxBytes)},
		{"max_tx_bytes", int64(c.MaxTxBytes)},
		{"max_queued", int64(c.MaxQueued)},
		{"max_txs_per_sender", int64(c.MaxTxsPerSender)},
		{"ttl", int64(c.TTL)},
		{"sig_cache_size", int64(c.SigCacheSize)},
		{"max_dropped", int64(c.MaxDropped)},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("mempool config: %s must not be negative, got %d", f.name, f.v))
		}
	}
	if c.MaxTxBytes > 0 && c.MaxBytes > 0 && c.MaxTxBytes > c.MaxBytes {
		errs = append(errs, fmt.Errorf("mempool config: max_tx_bytes %d exceeds max_bytes %d", c.MaxTxBytes, c.MaxBytes))
	}
	if c.MaxQueued > 0 && c.MaxTxs > 0 && c.MaxQueued >= c.MaxTxs {
		errs = append(errs, fmt.Errorf("mempool config: max_queued %d must be below max_txs %d", c.MaxQueued, c.MaxTxs))
	}
	return errors.Join(errs...)
}

// withDefaults replaces zero and negative limits with their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxTxs <= 0 {
		c.MaxTxs = d.MaxTxs
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = d.MaxBytes
	}
	if c.MaxTxBytes <= 0 {
		c.MaxTxBytes = d.MaxTxBytes
	}
	if c.MaxQueued <= 0 {
		c.MaxQueued = max(1, c.MaxTxs/4)
	}
	if c.MaxTxsPerSender <= 0 {
		c.MaxTxsPerSender = d.MaxTxsPerSender
	}
	if c.MaxNonceGap == 0 {
		c.MaxNonceGap = d.MaxNonceGap
	}
	if c.TTL <= 0 {
		c.TTL = d.TTL
	}
	if c.ReserveHeights == 0 {
		c.ReserveHeights = d.ReserveHeights
	}
	if c.SigCacheSize <= 0 {
		c.SigCacheSize = d.SigCacheSize
	}
	if c.MaxDropped <= 0 {
		c.MaxDropped = d.MaxDropped
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	return c
}
