package sim

import (
	"bytes"
	"testing"
)

// TestExecFaultRuns: with FaultExec blocks wait in the executor for a
// random number of ticks, and the run still meets every invariant, the
// same way each time.
func TestExecFaultRuns(t *testing.T) {
	cfg := Config{Seed: 3, Nodes: 4, Blocks: 20, Faults: FaultExec}
	s, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	maxBacklog := 0
	for s.Tick() {
		for _, n := range s.nodes {
			if n.up {
				maxBacklog = max(maxBacklog, n.exec.Backlog())
			}
		}
	}
	r := s.result()
	requireOK(t, r)
	if maxBacklog < 2 {
		t.Fatalf("executor backlog never above %d", maxBacklog)
	}
}

// TestCrashLosesExecutorQueue crashes a node while committed blocks wait
// in its executor: they are lost, the node restarts from what it stored,
// and the run still completes.
func TestCrashLosesExecutorQueue(t *testing.T) {
	s, err := New(Config{Seed: 4, Nodes: 4, Blocks: 30, Faults: FaultExec}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	victim := s.nodes[1]
	for victim.exec == nil || victim.exec.Backlog() == 0 {
		if !s.Tick() {
			t.Fatal("run ended before the victim had a backlog")
		}
	}
	stored, queued := victim.store.height(), victim.exec.Backlog()
	s.crash(victim)
	if victim.store.height() != stored {
		t.Fatalf("crash changed the stored height %d → %d", stored, victim.store.height())
	}
	s.restart(victim)
	if victim.exec.Backlog() != 0 {
		t.Fatalf("restarted with %d queued blocks (lost %d)", victim.exec.Backlog(), queued)
	}
	r, err := s.Run()
	if err != nil {
		t.Fatal(err)
	}
	requireOK(t, r)
}

// TestCrashAfterAppendBeforeSend crashes every node on its first append:
// its records are durable, none of their messages left, and the node
// restarts from them.
func TestCrashAfterAppendBeforeSend(t *testing.T) {
	s, err := New(Config{Seed: 6, Nodes: 4, Blocks: 20, Faults: FaultCrash, AppendCrashOneIn: 1,
		CrashOneIn: 1 << 30, FaultTicks: 200}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for s.stats.Crashes == 0 {
		if !s.Tick() {
			t.Fatal("run ended without a crash")
		}
	}
	var victim *node
	for _, n := range s.nodes {
		if !n.up {
			victim = n
		}
	}
	if victim == nil || len(victim.store.records) == 0 {
		t.Fatal("crashed node has no durable records")
	}
	last := victim.store.records[len(victim.store.records)-1].Msg
	enc, err := encodeMessage(last)
	if err != nil {
		t.Fatal(err)
	}
	if s.net.holds(victim.slot, enc) {
		t.Fatalf("the message of the record written at the crash (%s at height %d) was sent", last.Type, last.Height)
	}
	r, err := s.Run()
	if err != nil {
		t.Fatal(err)
	}
	requireOK(t, r)
}

// TestFrameLimitEnforced: with a frame limit below a pre-prepare's size no
// block can be proposed; the drivers count what they did not send, and
// the checker reports the stall.
func TestFrameLimitEnforced(t *testing.T) {
	r := mustRun(t, Config{Seed: 1, Nodes: 4, Blocks: 3, MaxFrameBytes: 400, LivenessTicks: 200})
	if r.Stats.Oversize == 0 {
		t.Fatal("no message counted over the frame limit")
	}
	if r.MinCommittedHeight != 0 {
		t.Fatalf("committed %d with blocks over the frame limit", r.MinCommittedHeight)
	}
	if r.OK() || r.Violations[0].Kind != KindLiveness {
		t.Fatalf("violations %v, want liveness", r.Violations)
	}
}

// TestAllFaultsSameSeedSameRun runs every fault at once twice.
func TestAllFaultsSameSeedSameRun(t *testing.T) {
	cfg := Config{Seed: 21, Nodes: 4, Byzantine: 1, Blocks: 12, Faults: FaultAll &^ FaultTwins}
	encode := func(r *Result) string {
		var b bytes.Buffer
		if err := r.WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	if a, b := encode(mustRun(t, cfg)), encode(mustRun(t, cfg)); a != b {
		t.Fatalf("same seed, different runs:\n%s\n%s", a, b)
	}
}

// TestSimPoolAsMempool checks the pool's driver.Mempool view: reaping
// reserves, release and a view change return transactions.
func TestSimPoolAsMempool(t *testing.T) {
	w := newWorkload(3, ChainID)
	p := newPool(w)
	for i := range 4 {
		tx, err := w.next()
		if err != nil {
			t.Fatal(err)
		}
		p.add(i, tx.hash)
	}
	b := p.Reap(3, 1<<20)
	if len(b.Txs) != 3 || p.NumReady() != 4 || p.NumReapable() != 1 {
		t.Fatalf("reaped %d, ready %d, reapable %d", len(b.Txs), p.NumReady(), p.NumReapable())
	}
	p.Release(b.Hashes[:1])
	if p.NumReapable() != 2 {
		t.Fatalf("reapable %d after releasing one", p.NumReapable())
	}
	p.ReleaseProposed()
	p.markDone(w.txs[3].hash)
	if p.NumReapable() != 3 || p.NumReady() != 3 {
		t.Fatalf("reapable %d, ready %d", p.NumReapable(), p.NumReady())
	}
}

// holds reports whether a packet from slot with payload is in flight.
func (nw *network) holds(from int, payload []byte) bool {
	for _, p := range nw.queue {
		if p.from == from && bytes.Equal(p.payload, payload) {
			return true
		}
	}
	return false
}
