package bench

import (
	"sync"
	"time"

	"github.com/bafomet/bafomet/chain"
)

// window is the measured interval [start, end).
type window struct{ start, end time.Time }

func (w window) contains(t time.Time) bool { return !t.Before(w.start) && t.Before(w.end) }

// inflight is a submitted transaction not yet seen committed.
type inflight struct {
	sender    *sender
	submitted time.Time // start of the accepted (or first outstanding) request
}

// counters are cumulative over the whole run; the progress line prints
// their differences.
type counters struct {
	accepted  int
	committed int // our transactions seen committed
	rejected  int
	blocks    int
	height    uint64
}

// tracker holds everything the submitters and the block follower share:
// transaction hash → submit time, the measured-window tallies and the
// latency samples. All methods are safe for concurrent use.
type tracker struct {
	mu      sync.Mutex
	win     window
	pending map[chain.Hash]inflight
	total   counters

	// measured window
	latencies   []time.Duration // of transactions submitted in the window
	accepted    int             // accepted in the window
	committed   int             // our transactions committed in the window
	rejections  map[string]int  // by reason, in the window
	blocks      int
	blockTxs    int // all transactions in the window's blocks
	maxBlockTxs int
	firstHeight uint64
	lastHeight  uint64
	offered     int // open loop: tokens issued in the window
	missed      int // open loop: tokens no sender was free to take
	exhausted   int // senders that ran out of pre-signed transactions
}

func newTracker(w window) *tracker {
	return &tracker{win: w, pending: make(map[chain.Hash]inflight), rejections: make(map[string]int)}
}

// submitting records that tx of s is about to be sent at t, unless it is
// already outstanding from an earlier attempt.
func (t *tracker) submitting(s *sender, h chain.Hash, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.pending[h]; !ok {
		t.pending[h] = inflight{sender: s, submitted: at}
	}
}

// isPending reports whether h is still waiting for its commit.
func (t *tracker) isPending(h chain.Hash) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.pending[h]
	return ok
}

// failed counts a request that got no answer (reason "transport"): h stays
// outstanding, since the node may hold it, and is sent again.
func (t *tracker) failed(at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total.rejected++
	if t.win.contains(at) {
		t.rejections[ReasonTransport]++
	}
}

// accept counts a submission, sent at at, that a node accepted.
func (t *tracker) accept(at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total.accepted++
	if t.win.contains(at) {
		t.accepted++
	}
}

// refuse counts a refusal of h, sent at at, for reason, and acts on out:
// outHeld keeps h outstanding (the node holds or committed it), outRetry
// forgets it but keeps its window slot for the next attempt, and outFinal
// forgets it and releases its slot.
func (t *tracker) refuse(h chain.Hash, reason string, at time.Time, out outcome) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total.rejected++
	if t.win.contains(at) {
		t.rejections[reason]++
	}
	p, ok := t.pending[h]
	if !ok || out == outHeld {
		return
	}
	delete(t.pending, h)
	if out == outFinal {
		p.sender.release()
	}
}

// abandon gives up on h of s when sending ends before it was resent. A
// transaction refused for now (outRetry) is not outstanding but holds its
// slot; one that got no answer (outTransport) holds its slot only while
// outstanding, since its commit may have released it meanwhile.
func (t *tracker) abandon(h chain.Hash, s *sender, out outcome) {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.pending[h]
	if out == outTransport && !ok {
		return
	}
	delete(t.pending, h)
	s.release()
}

// block records a committed block that arrived at t.
func (t *tracker) block(height uint64, txs []chain.Hash, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total.blocks++
	t.total.height = height
	in := t.win.contains(at)
	if in {
		if t.blocks == 0 {
			t.firstHeight = height
		}
		t.blocks++
		t.blockTxs += len(txs)
		t.maxBlockTxs = max(t.maxBlockTxs, len(txs))
		t.lastHeight = height
	}
	for _, h := range txs {
		p, ok := t.pending[h]
		if !ok {
			continue
		}
		delete(t.pending, h)
		p.sender.release()
		t.total.committed++
		if in {
			t.committed++
		}
		if t.win.contains(p.submitted) {
			t.latencies = append(t.latencies, at.Sub(p.submitted))
		}
	}
}

// token counts an open-loop token issued at t, taken or missed.
func (t *tracker) token(at time.Time, taken bool) {
	if !t.win.contains(at) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.offered++
	if !taken {
		t.missed++
	}
}

func (t *tracker) senderExhausted() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.exhausted++
}

// snapshot returns the cumulative counters and the number outstanding.
func (t *tracker) snapshot() (counters, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total, len(t.pending)
}

// outstanding returns how many submitted transactions await their commit.
func (t *tracker) outstanding() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pending)
}
