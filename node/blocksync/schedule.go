package blocksync

import (
	"fmt"
	"sort"
	"time"

	"github.com/bafomet/bafomet/chain"
)

// span is an inclusive range of heights.
type span struct{ from, to uint64 }

func (s span) len() uint64 { return s.to - s.from + 1 }

// syncPeer is what the scheduler knows about one peer during a sync.
type syncPeer struct {
	index  int
	busy   int       // requests outstanding
	until  time.Time // left out until then (cool-down or behind)
	height uint64    // the latest height it claimed
	// earliest is the lowest height it holds, as far as this sync knows
	// (0: from 1). It is never asked for a range starting below it.
	earliest uint64
}

// request is one range asked of one peer.
type request struct {
	id   uint64
	peer int
	span span
}

// segment is a verified response waiting for delivery: blocks
// span.from..span.to, each linked to the one before it.
type segment struct {
	items []Item
	bytes int
	peer  int
	span  span
}

// linkFault reports a segment whose first block does not link to the
// delivered chain.
type linkFault struct {
	peer int
	span span
	err  error
}

// scheduler decides which range to ask of which peer and hands segments
// over in height order. It does no I/O and starts no goroutine; the
// fetcher's Run goroutine owns it.
//
// Invariant: every height in (delivered, planned] is in exactly one of
// queue, an in-flight request, or a ready segment.
type scheduler struct {
	lim      Limits
	peers    []*syncPeer
	rr       int // round-robin start for peer choice
	queue    []span
	planned  uint64 // highest height placed in a span
	target   uint64
	inflight map[uint64]request
	nextID   uint64
	ready    map[uint64]*segment // by span.from
	buffered int                 // bytes of ready segments
	next     uint64              // next height to deliver
	prevHash chain.Hash          // hash of height next-1
	cur      *segment            // segment being delivered, linked already
	pos      int
}

func newScheduler(peers []int, lim Limits, start uint64, startHash chain.Hash) *scheduler {
	s := &scheduler{
		lim: lim, planned: start, target: start, next: start + 1, prevHash: startHash,
		inflight: make(map[uint64]request), ready: make(map[uint64]*segment),
	}
	for _, p := range peers {
		s.peers = append(s.peers, &syncPeer{index: p})
	}
	return s
}

func (s *scheduler) setTarget(t uint64) { s.target = max(s.target, t) }

// delivered returns the highest height handed over.
func (s *scheduler) delivered() uint64 { return s.next - 1 }

func (s *scheduler) inFlight() int { return len(s.inflight) }

// usable counts the peers not left out at now.
func (s *scheduler) usable(now time.Time) int {
	n := 0
	for _, p := range s.peers {
		if !now.Before(p.until) {
			n++
		}
	}
	return n
}

// assign picks the next range and a peer for it, within every limit.
func (s *scheduler) assign(now time.Time) (request, bool) {
	if len(s.inflight) >= s.lim.MaxInFlight {
		return request{}, false
	}
	sp, ok := s.nextSpan()
	if !ok || !s.bytesAllow(sp) {
		return request{}, false
	}
	p := s.pickPeer(now, sp)
	if p == nil {
		return request{}, false
	}
	s.queue = s.queue[1:]
	p.busy++
	s.nextID++
	r := request{id: s.nextID, peer: p.index, span: sp}
	s.inflight[r.id] = r
	return r, true
}

// nextSpan returns the lowest range to fetch, planning a new one when the
// queue is empty and the window allows.
func (s *scheduler) nextSpan() (span, bool) {
	window := s.next + uint64(s.lim.WindowBlocks)
	if len(s.queue) == 0 && s.planned < s.target && s.planned+1 < window {
		sp := span{s.planned + 1, min(s.planned+uint64(s.lim.RangeBlocks), s.target)}
		s.planned = sp.to
		s.queue = append(s.queue, sp)
	}
	if len(s.queue) == 0 || s.queue[0].from >= window {
		return span{}, false
	}
	return s.queue[0], true
}

// bytesAllow reports whether a request for sp fits the byte budget. The
// lowest missing range is always allowed, so delivery can never wait on
// bytes held above a gap.
func (s *scheduler) bytesAllow(sp span) bool {
	need := s.buffered + (len(s.inflight)+1)*s.lim.MaxResponseBytes
	if need <= s.lim.MaxBufferedBytes {
		return true
	}
	for _, r := range s.inflight {
		if r.span.from < sp.from {
			return false
		}
	}
	return true
}

// pickPeer returns the least busy available peer that holds sp's first
// height, rotating among equals.
func (s *scheduler) pickPeer(now time.Time, sp span) *syncPeer {
	var best *syncPeer
	for i := range s.peers {
		p := s.peers[(s.rr+i)%len(s.peers)]
		if now.Before(p.until) || p.busy >= s.lim.MaxPerPeer || p.earliest > sp.from {
			continue
		}
		if best == nil || p.busy < best.busy {
			best = p
		}
	}
	if best != nil {
		s.rr++
	}
	return best
}

// nextAvailable returns how long until a left-out peer may be asked again,
// when work waits only for a peer.
func (s *scheduler) nextAvailable(now time.Time) (time.Duration, bool) {
	if len(s.inflight) >= s.lim.MaxInFlight || (len(s.queue) == 0 && s.planned >= s.target) {
		return 0, false
	}
	var wait time.Duration
	found := false
	for _, p := range s.peers {
		if p.busy >= s.lim.MaxPerPeer {
			continue
		}
		if !now.Before(p.until) {
			return 0, false // a peer is available: no timer needed
		}
		if d := p.until.Sub(now); !found || d < wait {
			wait, found = d, true
		}
	}
	return wait, found
}

func (s *scheduler) peer(index int) *syncPeer {
	for _, p := range s.peers {
		if p.index == index {
			return p
		}
	}
	panic(fmt.Sprintf("blocksync: unknown sync peer %d", index))
}

// complete removes a finished request and frees its peer.
func (s *scheduler) complete(id uint64) request {
	r := s.inflight[id]
	delete(s.inflight, id)
	s.peer(r.peer).busy--
	return r
}

// leaveOut keeps peer from being asked until then.
func (s *scheduler) leaveOut(peer int, until time.Time) {
	if p := s.peer(peer); until.After(p.until) {
		p.until = until
	}
}

// noteHeight records the height a peer claimed.
func (s *scheduler) noteHeight(peer int, h uint64) { s.peer(peer).height = h }

// noteEarliest records that a peer holds no block below earliest: it
// pruned them. Its earliest height only rises during a sync.
func (s *scheduler) noteEarliest(peer int, earliest uint64) {
	p := s.peer(peer)
	p.earliest = max(p.earliest, earliest)
}

// anyHolds reports whether some peer may still hold height h.
func (s *scheduler) anyHolds(h uint64) bool {
	for _, p := range s.peers {
		if p.earliest <= h {
			return true
		}
	}
	return false
}

// requeue puts sp back to be fetched again, keeping the queue sorted.
func (s *scheduler) requeue(sp span) {
	i := sort.Search(len(s.queue), func(i int) bool { return s.queue[i].from > sp.from })
	s.queue = append(s.queue, span{})
	copy(s.queue[i+1:], s.queue[i:])
	s.queue[i] = sp
}

// accept stores a verified response for r and requeues the part of r's
// range it did not cover. items is not empty.
func (s *scheduler) accept(r request, items []Item, bytes int) {
	got := span{r.span.from, r.span.from + uint64(len(items)) - 1}
	s.ready[got.from] = &segment{items: items, bytes: bytes, peer: r.peer, span: got}
	s.buffered += bytes
	if got.to < r.span.to {
		s.requeue(span{got.to + 1, r.span.to})
	}
}

// peek returns the next block to deliver. When the next segment's first
// block does not link to the delivered chain, it drops the segment,
// requeues its range and reports the fault.
func (s *scheduler) peek() (Item, *linkFault, bool) {
	if s.cur == nil {
		seg := s.ready[s.next]
		if seg == nil {
			return Item{}, nil, false
		}
		if got := seg.items[0].Block.Header.ParentHash; got != s.prevHash {
			s.drop(seg)
			s.requeue(seg.span)
			err := fmt.Errorf("%w: block %d names parent %s, block %d is %s", ErrWrongParent, s.next, got, s.next-1, s.prevHash)
			return Item{}, &linkFault{peer: seg.peer, span: seg.span, err: err}, false
		}
		s.cur, s.pos = seg, 0
	}
	return s.cur.items[s.pos], nil, true
}

func (s *scheduler) drop(seg *segment) {
	delete(s.ready, seg.span.from)
	s.buffered -= seg.bytes
}

// pop marks the peeked block delivered and returns its height.
func (s *scheduler) pop() uint64 {
	it := s.cur.items[s.pos]
	s.prevHash = it.Hash
	s.next++
	s.pos++
	if s.pos == len(s.cur.items) {
		s.drop(s.cur)
		s.cur = nil
	}
	return s.next - 1
}
