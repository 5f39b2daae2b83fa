package driver

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
)

// TestReadyOrder checks that one Ready is carried out in the order the
// core demands: one append of every record before the first message, then
// the sends, the executor, the checkpoint and pruning, and Advance.
func TestReadyOrder(t *testing.T) {
	r := newRig()
	d := r.driver(Config{})
	m1, m2 := prepare(0, 1), prepare(0, 2)
	r.core.readys = []ordering.Ready{{
		Persist:   []ordering.Record{{Msg: m1, Height: 1}, {Msg: m2, Height: 2}},
		Messages:  []ordering.Outbound{{To: ordering.Broadcast, Msg: m1}, {To: 2, Msg: m2}},
		Committed: []ordering.Committed{{Block: block(1)}},
		Stable:    &ordering.CheckpointProof{Height: 10},
	}}
	if err := d.Tick(r.clock.now); err != nil {
		t.Fatal(err)
	}
	want := []string{"append 2", "send Prepare to -1", "send Prepare to 2", "enqueue 1", "save 10", "prune 10", "advance"}
	if !slices.Equal(r.j.calls, want) {
		t.Fatalf("calls %q, want %q", r.j.calls, want)
	}
	if len(r.core.ticks) != 1 || r.core.ticks[0] != uint64(r.clock.now.UnixMilli()) {
		t.Fatalf("core ticks %v", r.core.ticks)
	}
}

// TestPersistErrorStopsWithoutSending: a failed append stops the driver
// before any message of that Ready leaves, and every later input returns
// the same error without reaching the core.
func TestPersistErrorStopsWithoutSending(t *testing.T) {
	r := newRig()
	d := r.driver(Config{})
	r.log.appendErr = errDisk
	m := prepare(0, 1)
	r.core.readys = []ordering.Ready{{
		Persist:  []ordering.Record{{Msg: m, Height: 1}},
		Messages: []ordering.Outbound{{To: ordering.Broadcast, Msg: m}},
	}}
	err := d.Step(m)
	if !errors.Is(err, ErrStopped) || !errors.Is(err, errDisk) {
		t.Fatalf("Step: %v, want ErrStopped wrapping the disk error", err)
	}
	if len(r.net.frames) != 0 {
		t.Fatalf("%d messages sent after a failed append", len(r.net.frames))
	}
	if !slices.Equal(r.j.calls, []string{"step", "append 1"}) {
		t.Fatalf("calls %q", r.j.calls)
	}
	if err := d.Tick(r.clock.now); !errors.Is(err, ErrStopped) || len(r.core.ticks) != 0 {
		t.Fatalf("Tick after stop: %v, core ticked %d times", err, len(r.core.ticks))
	}
	if d.Err() == nil {
		t.Fatal("Err is nil after a stop")
	}
}

// TestSignErrStopsWithoutPersistingOrSending: a Signer failure the core
// reports stops the driver before anything of that Ready is stored or sent.
func TestSignErrStopsWithoutPersistingOrSending(t *testing.T) {
	r := newRig()
	d := r.driver(Config{})
	m := prepare(0, 1)
	r.core.readys = []ordering.Ready{{
		Persist:  []ordering.Record{{Msg: m, Height: 1}},
		Messages: []ordering.Outbound{{To: ordering.Broadcast, Msg: m}},
		SignErr:  errDisk,
	}}
	if err := d.Step(m); !errors.Is(err, ErrStopped) || !errors.Is(err, errDisk) {
		t.Fatalf("Step: %v, want ErrStopped wrapping the signer error", err)
	}
	if len(r.net.frames) != 0 || !slices.Equal(r.j.calls, []string{"step"}) {
		t.Fatalf("after a signer failure: %d frames sent, calls %q", len(r.net.frames), r.j.calls)
	}
}

// TestFrameLimit sends a message whose encoding is exactly MaxFrameBytes
// and refuses one a byte over, counting it.
func TestFrameLimit(t *testing.T) {
	m := prepare(3, 7)
	enc, err := ordering.EncodeMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		limit int
		sent  bool
	}{{len(enc), true}, {len(enc) - 1, false}} {
		r := newRig()
		d := r.driver(Config{MaxFrameBytes: tt.limit})
		r.core.readys = []ordering.Ready{{Messages: []ordering.Outbound{{To: 1, Msg: m}}}}
		if err := d.Poke(); err != nil {
			t.Fatal(err)
		}
		if got := len(r.net.frames) == 1; got != tt.sent {
			t.Fatalf("limit %d, message %d bytes: sent %v, want %v", tt.limit, len(enc), got, tt.sent)
		}
		if tt.sent && string(r.net.frames[0]) != string(enc) {
			t.Fatal("frame is not the message's encoding")
		}
		if want := map[bool]uint64{true: 0, false: 1}[tt.sent]; d.Stats().Oversize != want {
			t.Fatalf("limit %d: oversize %d, want %d", tt.limit, d.Stats().Oversize, want)
		}
	}
}

// TestSyncedBlocksBoundedByExecBacklog: at MaxExecBacklog blocks queued
// the driver refuses a synced block without showing it to the core; one
// below, it takes it.
func TestSyncedBlocksBoundedByExecBacklog(t *testing.T) {
	r := newRig()
	d := r.driver(Config{MaxExecBacklog: 4})
	r.exec.backlog = 4
	if d.AcceptsSynced() {
		t.Fatal("accepts synced blocks at the backlog limit")
	}
	err := d.StepSynced(block(5), &chain.Certificate{Height: 5}, nil)
	if !errors.Is(err, ErrExecBacklog) || errors.Is(err, ErrStopped) || len(r.core.certified) != 0 {
		t.Fatalf("StepSynced at the limit: %v, core took %v", err, r.core.certified)
	}
	r.exec.backlog = 3
	if err := d.StepSynced(block(5), &chain.Certificate{Height: 5}, nil); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.core.certified, []uint64{5}) || d.Stats().Synced != 1 {
		t.Fatalf("core took %v, stats %+v", r.core.certified, d.Stats())
	}
}

// TestSyncedCheckpointCheckedAfterExecution: a synced block's checkpoint
// proof is saved once the block executes to the proof's appHash (without
// pruning the consensus log: a record there may pin the core's view), and
// a different appHash stops the driver before the core hears of it.
func TestSyncedCheckpointCheckedAfterExecution(t *testing.T) {
	proof := &ordering.CheckpointProof{Height: 10, AppHash: chain.Hash{0xaa}}
	for _, tt := range []struct {
		appHash chain.Hash
		ok      bool
	}{{chain.Hash{0xaa}, true}, {chain.Hash{0xbb}, false}} {
		r := newRig()
		d := r.driver(Config{})
		if err := d.StepSynced(block(10), &chain.Certificate{Height: 10}, proof); err != nil {
			t.Fatal(err)
		}
		err := d.Executed([]ExecResult{{Height: 10, AppHash: tt.appHash}})
		if tt.ok {
			if err != nil || !slices.Equal(r.cps.saved, []uint64{10}) || len(r.log.pruned) != 0 ||
				!slices.Equal(r.core.executed, []uint64{10}) {
				t.Fatalf("matching appHash: err %v, saved %v, pruned %v, executed %v", err, r.cps.saved, r.log.pruned, r.core.executed)
			}
			continue
		}
		if !errors.Is(err, ErrStopped) || len(r.cps.saved) != 0 || len(r.core.executed) != 0 {
			t.Fatalf("diverged appHash: err %v, saved %v, executed %v", err, r.cps.saved, r.core.executed)
		}
	}
}

// TestExecutionErrorStops: a failed block stops the driver.
func TestExecutionErrorStops(t *testing.T) {
	r := newRig()
	d := r.driver(Config{})
	err := d.Executed([]ExecResult{{Height: 1, AppHash: chain.Hash{1}}, {Height: 2, Err: errDisk}})
	if !errors.Is(err, ErrStopped) || !errors.Is(err, errDisk) || !slices.Equal(r.core.executed, []uint64{1}) {
		t.Fatalf("err %v, executed %v", err, r.core.executed)
	}
}

// TestSoftState: a new view returns voided proposals to the mempool, and a
// core that is behind its executed height hints block sync.
func TestSoftState(t *testing.T) {
	r := newRig()
	d := r.driver(Config{})
	r.core.readys = []ordering.Ready{
		{SoftState: ordering.SoftState{View: 0, Executed: 5, Behind: 5}},
		{SoftState: ordering.SoftState{View: 1, Executed: 5, Behind: 9}},
	}
	if err := d.Poke(); err != nil {
		t.Fatal(err)
	}
	if r.pool.released != 1 || !slices.Equal(r.sync.hints, []uint64{9}) || d.SoftState().View != 1 {
		t.Fatalf("released %d times, hints %v, soft %+v", r.pool.released, r.sync.hints, d.SoftState())
	}
}

// TestNotePendingOncePerInput: pending work is noted once per input from
// the mempool's ready count, however many Readys follow.
func TestNotePendingOncePerInput(t *testing.T) {
	r := newRig()
	d := r.driver(Config{})
	r.pool.ready = 3
	r.core.readys = []ordering.Ready{{}, {}, {}}
	r.core.pending = nil
	if err := d.TxArrived(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.core.pending, []bool{true}) {
		t.Fatalf("NotePending calls %v, want [true]", r.core.pending)
	}
}

func TestStepRejectionIsNotFatal(t *testing.T) {
	r := newRig()
	d := r.driver(Config{})
	r.core.stepErr = errors.New("bad signature")
	err := d.Step(prepare(0, 1))
	if err == nil || errors.Is(err, ErrStopped) || d.Err() != nil {
		t.Fatalf("Step: %v, Err %v", err, d.Err())
	}
	if err := d.Tick(time.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestNewNeedsDependencies(t *testing.T) {
	deps := newRig().deps()
	deps.Log = nil
	if _, err := New(Config{}, deps); err == nil {
		t.Fatal("New without a log succeeded")
	}
}
