package bench

import (
	"testing"
	"time"

	"github.com/bafomet/bafomet/chain"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func at(msOffset int) time.Time { return t0.Add(time.Duration(msOffset) * time.Millisecond) }

func hashN(n byte) chain.Hash { return chain.Hash{n} }

func testSender(window int) *sender { return &sender{slots: make(chan struct{}, window)} }

// hold takes n window slots of s, as acquire does before a submission.
func hold(s *sender, n int) {
	for range n {
		s.slots <- struct{}{}
	}
}

func TestWindowContains(t *testing.T) {
	w := window{start: at(1000), end: at(2000)}
	for _, tt := range []struct {
		t    time.Time
		want bool
	}{{at(999), false}, {at(1000), true}, {at(1999), true}, {at(2000), false}} {
		if got := w.contains(tt.t); got != tt.want {
			t.Errorf("contains(%s) = %v, want %v", tt.t.Sub(t0), got, tt.want)
		}
	}
}

func TestTrackerBlockLatencyAndSlots(t *testing.T) {
	tr := newTracker(window{start: at(1000), end: at(3000)})
	s := testSender(4)
	hold(s, 3)
	tr.submitting(s, hashN(1), at(500))  // before the window: no latency sample
	tr.submitting(s, hashN(2), at(1200)) // in the window
	tr.submitting(s, hashN(3), at(2900)) // in the window, committed after it
	tr.submitting(s, hashN(2), at(1300)) // resubmission keeps the first time
	tr.accept(at(500))
	tr.accept(at(1200))
	tr.accept(at(2900))

	tr.block(10, []chain.Hash{hashN(1), hashN(9)}, at(900)) // before the window
	tr.block(11, []chain.Hash{hashN(2)}, at(1500))
	tr.block(12, nil, at(2000))
	tr.block(13, []chain.Hash{hashN(3), hashN(8)}, at(3100)) // after the window

	if len(s.slots) != 0 {
		t.Fatalf("%d slots still held after every transaction committed", len(s.slots))
	}
	rep := tr.report(2 * time.Second)
	// hash 2: 1200 → 1500 ms; hash 3: 2900 → 3100 ms; hash 1 was sent in warmup.
	if want := (Latency{Samples: 2, P50: 200, P95: 300, P99: 300, Max: 300, Mean: 250}); rep.LatencyMs != want {
		t.Fatalf("latency = %+v, want %+v", rep.LatencyMs, want)
	}
	wantBlocks := BlockStats{Count: 2, PerSecond: 1, TxsPerBlock: 0.5, MaxTxs: 1, Txs: 1, FirstHeight: 11, LastHeight: 12}
	if rep.Accepted != 2 || rep.Committed != 1 || rep.AcceptedTPS != 1 || rep.CommittedTPS != 0.5 ||
		rep.Blocks != wantBlocks || len(rep.Rejections) != 0 || rep.Uncommitted != 0 {
		t.Fatalf("report = %+v; want accepted 2 (1/s), committed 1 (0.5/s), blocks %+v, no rejections", rep, wantBlocks)
	}
	total, out := tr.snapshot()
	if total != (counters{accepted: 3, committed: 3, blocks: 4, height: 13}) || out != 0 {
		t.Fatalf("snapshot = %+v, %d outstanding; want 3 accepted, 3 committed, 4 blocks, height 13, 0 outstanding", total, out)
	}
}

func TestTrackerRefusals(t *testing.T) {
	tr := newTracker(window{start: at(0), end: at(1000)})
	s := testSender(8)
	hold(s, 5)
	for i := byte(1); i <= 5; i++ {
		tr.submitting(s, hashN(i), at(100))
	}
	tr.refuse(hashN(1), ReasonMempoolFull, at(100), outRetry)  // forgotten, slot kept for the retry
	tr.refuse(hashN(2), ReasonBadSignature, at(100), outFinal) // forgotten, slot released
	tr.refuse(hashN(3), ReasonAlreadyKnown, at(100), outHeld)  // still outstanding
	tr.refuse(hashN(4), ReasonMempoolFull, at(1500), outRetry) // after the window: not in the tally
	tr.failed(at(200))                                         // hash 5 stays outstanding
	if got := len(s.slots); got != 4 {
		t.Fatalf("slots held = %d, want 4 (only the final refusal releases)", got)
	}
	if tr.isPending(hashN(1)) || tr.isPending(hashN(2)) || !tr.isPending(hashN(3)) || tr.isPending(hashN(4)) || !tr.isPending(hashN(5)) {
		t.Fatal("outstanding set wrong: want only hashes 3 and 5")
	}
	tr.abandon(hashN(1), s, outRetry)     // not outstanding, holds a slot: released
	tr.abandon(hashN(5), s, outTransport) // outstanding: forgotten and released
	tr.block(7, []chain.Hash{hashN(3)}, at(300))
	tr.abandon(hashN(3), s, outTransport) // committed meanwhile: its slot is already free
	if got := len(s.slots); got != 1 {
		t.Fatalf("slots held = %d, want 1 (hash 4, awaiting its retry)", got)
	}
	rep := tr.report(time.Second)
	want := map[string]int{ReasonMempoolFull: 1, ReasonBadSignature: 1, ReasonAlreadyKnown: 1, ReasonTransport: 1}
	if len(rep.Rejections) != len(want) {
		t.Fatalf("rejections = %v, want %v", rep.Rejections, want)
	}
	for k, v := range want {
		if rep.Rejections[k] != v {
			t.Fatalf("rejections = %v, want %v", rep.Rejections, want)
		}
	}
	if rep.Uncommitted != 0 {
		t.Fatalf("uncommitted = %d, want 0", rep.Uncommitted)
	}
}

func TestTrackerTokensAndExhaustion(t *testing.T) {
	tr := newTracker(window{start: at(0), end: at(1000)})
	tr.token(at(-1), true) // warmup: not counted
	tr.token(at(0), true)
	tr.token(at(10), false)
	tr.token(at(999), true)
	tr.token(at(1000), false) // after: not counted
	tr.senderExhausted()
	rep := tr.report(time.Second)
	if rep.Offered != 3 || rep.Missed != 1 || rep.SendersExhausted != 1 {
		t.Fatalf("offered %d, missed %d, exhausted %d; want 3, 1, 1", rep.Offered, rep.Missed, rep.SendersExhausted)
	}
}
