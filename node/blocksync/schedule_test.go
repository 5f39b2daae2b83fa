package blocksync

import (
	"fmt"
	"testing"
	"time"

	"github.com/bafomet/bafomet/chain"
)

func schedLimits() Limits {
	return Limits{RangeBlocks: 10, MaxResponseBytes: 100, MaxInFlight: 8, MaxPerPeer: 8, WindowBlocks: 30, MaxBufferedBytes: 1000}
}

// assignAll assigns until the scheduler refuses and returns the spans.
func assignAll(s *scheduler, now time.Time) []request {
	var out []request
	for {
		r, ok := s.assign(now)
		if !ok {
			return out
		}
		out = append(out, r)
	}
}

func spans(rs []request) string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%d-%d@%d", r.span.from, r.span.to, r.peer))
	}
	return fmt.Sprint(out)
}

// items makes n linked items from height from on parent.
func linkedItems(from uint64, n int, parent chain.Hash) []Item {
	var out []Item
	for i := range n {
		b := &chain.Block{Header: chain.Header{Height: from + uint64(i), ParentHash: parent}}
		out = append(out, Item{Block: b, Hash: b.Hash()})
		parent = b.Hash()
	}
	return out
}

func TestSchedulerWindow(t *testing.T) {
	now := time.Now()
	s := newScheduler([]int{5, 6}, schedLimits(), 100, chain.Hash{1})
	s.setTarget(1000)
	got := assignAll(s, now)
	// WindowBlocks 30 from height 101: ranges start below 131.
	if want := "[101-110@5 111-120@6 121-130@5]"; spans(got) != want {
		t.Fatalf("got %s, want %s", spans(got), want)
	}
	if _, ok := s.assign(now); ok {
		t.Fatal("assigned beyond the window")
	}
	// Delivering moves the window: 101..110 done lets 131-140 start.
	s.complete(got[0].id)
	s.accept(got[0], linkedItems(101, 10, chain.Hash{1}), 50)
	for range 10 {
		if _, _, ok := s.peek(); !ok {
			t.Fatal("nothing to deliver")
		}
		s.pop()
	}
	if s.delivered() != 110 || s.buffered != 0 {
		t.Fatalf("delivered %d, buffered %d", s.delivered(), s.buffered)
	}
	if more := assignAll(s, now); spans(more) != "[131-140@6]" {
		t.Fatalf("after delivery: %s", spans(more))
	}
}

func TestSchedulerTargetEnds(t *testing.T) {
	s := newScheduler([]int{0}, schedLimits(), 0, chain.Hash{})
	s.setTarget(25)
	s.setTarget(12) // lowering is ignored
	if got := spans(assignAll(s, time.Now())); got != "[1-10@0 11-20@0 21-25@0]" {
		t.Fatalf("got %s", got)
	}
}

func TestSchedulerInFlightLimits(t *testing.T) {
	now := time.Now()
	lim := schedLimits()
	lim.WindowBlocks = 1000
	lim.MaxBufferedBytes = 1 << 20
	for _, tc := range []struct {
		inFlight, perPeer, peers int
		want                     int
	}{{3, 8, 2, 3}, {8, 2, 3, 6}, {8, 1, 1, 1}, {1, 1, 4, 1}} {
		lim.MaxInFlight, lim.MaxPerPeer = tc.inFlight, tc.perPeer
		var peers []int
		for i := range tc.peers {
			peers = append(peers, i)
		}
		s := newScheduler(peers, lim, 0, chain.Hash{})
		s.setTarget(10_000)
		if got := len(assignAll(s, now)); got != tc.want {
			t.Fatalf("%+v: %d requests", tc, got)
		}
	}
}

func TestSchedulerBytesBudget(t *testing.T) {
	now := time.Now()
	lim := schedLimits()
	lim.WindowBlocks = 1000
	lim.MaxBufferedBytes = 300 // three responses of MaxResponseBytes 100
	s := newScheduler([]int{0, 1, 2, 3}, lim, 0, chain.Hash{})
	s.setTarget(1000)
	got := assignAll(s, now)
	if spans(got) != "[1-10@0 11-20@1 21-30@2]" {
		t.Fatalf("got %s", spans(got))
	}
	// 11-20 and 21-30 arrive; 1-10 fails. Buffered 2×100: only the lowest
	// missing range, 1-10, may go out (nothing in flight below it).
	s.complete(got[1].id)
	s.accept(got[1], linkedItems(11, 10, chain.Hash{}), 100)
	s.complete(got[2].id)
	s.accept(got[2], linkedItems(21, 10, chain.Hash{}), 100)
	s.complete(got[0].id)
	s.requeue(got[0].span)
	again := assignAll(s, now)
	if spans(again) != "[1-10@3]" {
		t.Fatalf("after failure: %s", spans(again))
	}
	// With 1-10 in flight below it, 31-40 exceeds the budget.
	if _, ok := s.assign(now); ok {
		t.Fatal("assigned above the byte budget")
	}
}

func TestSchedulerPartialAndLinkFault(t *testing.T) {
	now := time.Now()
	start := chain.Hash{9}
	s := newScheduler([]int{0, 1}, schedLimits(), 0, start)
	s.setTarget(20)
	got := assignAll(s, now)
	// Peer 0 sends 4 of 1-10, linked to the start; peer 1 sends 11-20 on
	// a wrong parent.
	s.complete(got[0].id)
	s.accept(got[0], linkedItems(1, 4, start), 10)
	s.complete(got[1].id)
	s.accept(got[1], linkedItems(11, 10, chain.Hash{0xee}), 10)
	if q := fmt.Sprint(s.queue); q != "[{5 10}]" {
		t.Fatalf("queue %s", q)
	}
	for range 4 {
		if _, f, ok := s.peek(); !ok || f != nil {
			t.Fatalf("peek: %v %v", ok, f)
		}
		s.pop()
	}
	r := assignAll(s, now)
	s.complete(r[0].id)
	s.accept(r[0], linkedItems(5, 6, s.prevHash), 10)
	for range 6 {
		s.peek()
		s.pop()
	}
	_, fault, ok := s.peek()
	if ok || fault == nil || fault.peer != 1 || fault.span != (span{11, 20}) {
		t.Fatalf("link fault %+v, ok %v", fault, ok)
	}
	if q := fmt.Sprint(s.queue); q != "[{11 20}]" || s.buffered != 0 || s.delivered() != 10 {
		t.Fatalf("queue %s, buffered %d, delivered %d", q, s.buffered, s.delivered())
	}
}

func TestSchedulerPeerAvailability(t *testing.T) {
	now := time.Now()
	s := newScheduler([]int{0, 1}, schedLimits(), 0, chain.Hash{})
	s.setTarget(100)
	s.leaveOut(0, now.Add(time.Second))
	s.leaveOut(1, now.Add(3*time.Second))
	s.leaveOut(1, now.Add(2*time.Second)) // an earlier time never shortens
	if _, ok := s.assign(now); ok {
		t.Fatal("assigned to a peer that is left out")
	}
	if wait, ok := s.nextAvailable(now); !ok || wait != time.Second {
		t.Fatalf("next available in %s, %v", wait, ok)
	}
	if s.usable(now) != 0 || s.usable(now.Add(time.Second)) != 1 || s.usable(now.Add(3*time.Second)) != 2 {
		t.Fatal("usable counts")
	}
	if got := spans(assignAll(s, now.Add(time.Second))); got != "[1-10@0 11-20@0 21-30@0]" {
		t.Fatalf("got %s", got)
	}
	// Peer 0 can take more; the window is what holds work back, and the
	// delivery of blocks, not a timer, will release it.
	if _, ok := s.nextAvailable(now.Add(time.Second)); ok {
		t.Fatal("timer asked for although a peer is available")
	}
}
