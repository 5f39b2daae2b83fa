package rpc

import (
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate limits. Each IP address (rpc.ip_*) and each token (rpc.token_*,
// or the token file's own values) has a token bucket of calls, one of
// transactions and a count of live subscriptions. Every JSON-RPC call that
// reaches a method its token may call takes one from its address's and
// its token's call buckets (each call of a batch counts);
// chain_sendTransaction takes one from the transaction buckets too; a
// subscription holds a place until it ends. A call that finds any of them empty takes from none and is
// answered -32032 with the time after which it would pass.

// RateLimit bounds what one client, an IP address or a token, may do. A
// zero rate or count is no limit.
type RateLimit struct {
	// RequestsPerSec is the JSON-RPC calls per second (each call of a
	// batch counts, chain_sendTransaction too).
	RequestsPerSec float64
	// RequestsBurst is the calls allowed at once after a quiet spell; 0 is
	// one second's worth (at least 1).
	RequestsBurst int
	// TxsPerSec is the chain_sendTransaction calls per second.
	TxsPerSec float64
	// TxsBurst is as RequestsBurst, for transactions.
	TxsBurst int
	// MaxSubscriptions is the live subscriptions.
	MaxSubscriptions int
}

// Bounds of a RateLimit's values.
const (
	maxRatePerSec  = 1e6
	maxLimitCount  = 1 << 24
	ipSweepEvery   = 10 * time.Second
	retryRoundUnit = time.Millisecond
)

func (l RateLimit) off() bool {
	return l.RequestsPerSec == 0 && l.TxsPerSec == 0 && l.MaxSubscriptions == 0
}

// validate checks the values; prefix begins each key named in an error
// ("rpc.ip_" gives rpc.ip_requests_per_sec).
func (l RateLimit) validate(prefix string) error {
	for _, r := range []struct {
		key string
		v   float64
	}{{"requests_per_sec", l.RequestsPerSec}, {"txs_per_sec", l.TxsPerSec}} {
		if math.IsNaN(r.v) || r.v < 0 || r.v > maxRatePerSec {
			return fmt.Errorf("%s%s: %g is outside [0, %g] (0: no limit)", prefix, r.key, r.v, float64(maxRatePerSec))
		}
	}
	for _, c := range []struct {
		key string
		v   int
	}{{"requests_burst", l.RequestsBurst}, {"txs_burst", l.TxsBurst}, {"max_subscriptions", l.MaxSubscriptions}} {
		if c.v < 0 || c.v > maxLimitCount {
			return fmt.Errorf("%s%s: %d is outside [0, %d] (0: %s)", prefix, c.key, c.v, maxLimitCount, zeroMeaning(c.key))
		}
	}
	return nil
}

func zeroMeaning(key string) string {
	if key == "max_subscriptions" {
		return "no limit"
	}
	return "one second's worth"
}

// bucketBurst is the bucket size of rate with configured burst b.
func bucketBurst(r float64, b int) int {
	if b > 0 {
		return b
	}
	return max(1, int(math.Ceil(r)))
}

// buckets are one client's limits.
type buckets struct {
	limit    RateLimit
	scope    string        // "ip" or "token": the metrics label
	who      string        // for messages: `address 10.0.0.7`, `token "indexer"`
	requests *rate.Limiter // nil: no limit
	txs      *rate.Limiter // nil: no limit

	mu   sync.Mutex
	subs int
}

func newBuckets(l RateLimit, scope, who string) *buckets {
	b := &buckets{limit: l, scope: scope, who: who}
	if l.RequestsPerSec > 0 {
		b.requests = rate.NewLimiter(rate.Limit(l.RequestsPerSec), bucketBurst(l.RequestsPerSec, l.RequestsBurst))
	}
	if l.TxsPerSec > 0 {
		b.txs = rate.NewLimiter(rate.Limit(l.TxsPerSec), bucketBurst(l.TxsPerSec, l.TxsBurst))
	}
	return b
}

// full reports whether the buckets are as a new client's: full, and no
// subscription held. Callers hold b.mu.
func (b *buckets) fullLocked(now time.Time) bool {
	for _, l := range []*rate.Limiter{b.requests, b.txs} {
		if l != nil && l.TokensAt(now) < float64(l.Burst()) {
			return false
		}
	}
	return b.subs == 0
}

// takeSub counts a subscription in, unless at MaxSubscriptions.
func (b *buckets) takeSub() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if m := b.limit.MaxSubscriptions; m > 0 && b.subs >= m {
		return false
	}
	b.subs++
	return true
}

func (b *buckets) releaseSub() {
	b.mu.Lock()
	b.subs--
	b.mu.Unlock()
}

// limitRefusal is a call or subscription refused at a limit.
type limitRefusal struct {
	b     *buckets
	limit string        // "requests", "txs" or "subscriptions": the metrics label
	retry time.Duration // when the call would pass; 0 for subscriptions
}

func (r *limitRefusal) error() *Error {
	l := r.b.limit
	var what string
	switch r.limit {
	case "requests":
		what = fmt.Sprintf("%g requests/s (burst %d)", l.RequestsPerSec, bucketBurst(l.RequestsPerSec, l.RequestsBurst))
	case "txs":
		what = fmt.Sprintf("%g transactions/s (burst %d)", l.TxsPerSec, bucketBurst(l.TxsPerSec, l.TxsBurst))
	default:
		return &Error{Code: CodeRateLimited, Message: fmt.Sprintf(
			"rate limited: %s holds its limit of %d live subscriptions; unsubscribe first", r.b.who, l.MaxSubscriptions)}
	}
	retry := max(r.retry.Round(retryRoundUnit), retryRoundUnit)
	return &Error{Code: CodeRateLimited, Message: fmt.Sprintf("rate limited: %s is over %s; retry in %s", r.b.who, what, retry)}
}

// takeCall takes one call, and for a transaction one transaction, from
// each of the buckets (nil ones are skipped), or nothing when one of them
// is empty.
func takeCall(now time.Time, tx bool, sets ...*buckets) *limitRefusal {
	var held []*rate.Reservation
	undo := func() {
		for _, r := range held {
			r.CancelAt(now)
		}
	}
	for _, b := range sets {
		if b == nil {
			continue
		}
		for _, kind := range []struct {
			l    *rate.Limiter
			name string
		}{{b.requests, "requests"}, {txLimiter(b, tx), "txs"}} {
			if kind.l == nil {
				continue
			}
			r := kind.l.ReserveN(now, 1)
			if d := r.DelayFrom(now); !r.OK() || d > 0 {
				r.CancelAt(now)
				undo()
				return &limitRefusal{b: b, limit: kind.name, retry: d}
			}
			held = append(held, r)
		}
	}
	return nil
}

func txLimiter(b *buckets, tx bool) *rate.Limiter {
	if !tx {
		return nil
	}
	return b.txs
}

// ipLimits holds the buckets of each IP address seen, made on first use
// and dropped once they are as a new address's would be.
type ipLimits struct {
	limit RateLimit

	mu    sync.Mutex
	byIP  map[string]*buckets
	swept time.Time
}

func newIPLimits(l RateLimit) *ipLimits {
	return &ipLimits{limit: l, byIP: make(map[string]*buckets)}
}

// get returns ip's buckets, or nil when addresses have no limit.
func (l *ipLimits) get(ip string, now time.Time) *buckets {
	if l.limit.off() {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.getLocked(ip, now)
}

func (l *ipLimits) getLocked(ip string, now time.Time) *buckets {
	if now.Sub(l.swept) >= ipSweepEvery {
		l.sweepLocked(now)
	}
	b := l.byIP[ip]
	if b == nil {
		b = newBuckets(l.limit, "ip", "address "+ip)
		l.byIP[ip] = b
	}
	return b
}

// sweepLocked drops the buckets that a new address would get anyway.
func (l *ipLimits) sweepLocked(now time.Time) {
	l.swept = now
	for ip, b := range l.byIP {
		b.mu.Lock()
		full := b.fullLocked(now)
		b.mu.Unlock()
		if full {
			delete(l.byIP, ip)
		}
	}
}

// takeSub counts a subscription in for ip. It returns the buckets to
// release it on (nil when addresses have no limit), or false at the limit.
func (l *ipLimits) takeSub(ip string, now time.Time) (*buckets, bool) {
	if l.limit.off() {
		return nil, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.getLocked(ip, now)
	return b, b.takeSub()
}

// size is the number of addresses with buckets (for tests).
func (l *ipLimits) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.byIP)
}
