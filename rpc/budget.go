package rpc

import (
	"sync"
	"time"
)

// byteBudget is a FIFO counting semaphore over bytes: one per websocket
// connection, shared by its subscriptions, bounding the notifications they
// have loaded and not yet written. Waiters are served in arrival order, so
// one subscription's replay cannot keep the others of its connection
// waiting for ever.
type byteBudget struct {
	mu      sync.Mutex
	limit   int64
	used    int64
	waiters []*budgetWaiter
}

type budgetWaiter struct {
	n     int64
	ready chan struct{} // closed when granted
}

func newByteBudget(limit int64) *byteBudget { return &byteBudget{limit: limit} }

// weight is what acquiring n bytes takes: n, or the whole budget for a
// notification larger than it (which then waits until nothing else is
// outstanding).
func (b *byteBudget) weight(n int64) int64 { return min(max(n, 1), b.limit) }

// acquire takes weight(n) bytes, waiting until they are free, cancel is
// closed or timeout fires (a nil timeout never fires). It reports whether
// the bytes were taken; the caller gives them back with release(weight(n)).
func (b *byteBudget) acquire(n int64, cancel <-chan struct{}, timeout <-chan time.Time) bool {
	n = b.weight(n)
	b.mu.Lock()
	if len(b.waiters) == 0 && b.used+n <= b.limit {
		b.used += n
		b.mu.Unlock()
		return true
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return true
	case <-cancel:
	case <-timeout:
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready: // granted while giving up: hand the bytes back
		b.used -= n
		b.grant()
		return false
	default:
	}
	for i, x := range b.waiters {
		if x == w {
			b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
			break
		}
	}
	b.grant() // the head may have changed
	return false
}

// release gives back n bytes taken by acquire.
func (b *byteBudget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	b.grant()
}

// grant wakes waiters in order while the head fits. Callers hold b.mu.
func (b *byteBudget) grant() {
	for len(b.waiters) > 0 && b.used+b.waiters[0].n <= b.limit {
		w := b.waiters[0]
		b.waiters = b.waiters[1:]
		b.used += w.n
		close(w.ready)
	}
}

// inUse returns the bytes taken (for tests and metrics).
func (b *byteBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
