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

// responseBudget is Config.ResponseBufferBytes, shared by the responses
// of all clients, of which the clients at one IP address may hold at most
// a quarter (and never less than the largest answer, a batch's: so that
// one client alone is never refused): clients that do not read, all at
// one address, cannot make the server refuse everyone else's responses.
type responseBudget struct {
	total *byteBudget
	perIP int64

	mu   sync.Mutex
	byIP map[string]int64
}

func newResponseBudget(total int64, largest int64) *responseBudget {
	return &responseBudget{
		total: newByteBudget(total),
		perIP: min(total, max(total/4, largest)),
		byIP:  make(map[string]int64),
	}
}

// take takes n bytes for a response to ip if both ip's share and the
// total have them free now; it returns what to give back.
func (r *responseBudget) take(ip string, n int64) (int64, bool) {
	w := r.total.weight(n)
	r.mu.Lock()
	if r.byIP[ip]+w > r.perIP {
		r.mu.Unlock()
		return 0, false
	}
	r.byIP[ip] += w
	r.mu.Unlock()
	if !r.total.acquire(n, nil, closedTimer) {
		r.give(ip, w)
		return 0, false
	}
	return w, true
}

// give gives back w bytes that take returned for ip.
func (r *responseBudget) give(ip string, w int64) {
	if w == 0 {
		return
	}
	r.mu.Lock()
	if r.byIP[ip] -= w; r.byIP[ip] <= 0 {
		delete(r.byIP, ip)
	}
	r.mu.Unlock()
}

// release gives back w bytes that take returned for ip, to ip's share and
// to the total.
func (r *responseBudget) release(ip string, w int64) {
	if w == 0 {
		return
	}
	r.give(ip, w)
	r.total.release(w)
}

// inUse returns the bytes taken, all clients (for tests).
func (r *responseBudget) inUse() int64 { return r.total.inUse() }

// inUse returns the bytes taken (for tests and metrics).
func (b *byteBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
