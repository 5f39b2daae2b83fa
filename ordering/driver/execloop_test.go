package driver

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
)

// fakeApplier applies blocks by recording their heights; it fails on the
// height in failAt.
type fakeApplier struct {
	mu      sync.Mutex
	batches [][]uint64
	failAt  uint64
	limit   int
}

func (a *fakeApplier) BatchLimit() int { return a.limit }

func (a *fakeApplier) Apply(cs []ordering.Committed) ([]ExecResult, error) {
	var hs []uint64
	out := make([]ExecResult, len(cs))
	for i, c := range cs {
		h := c.Block.Header.Height
		if h == a.failAt {
			return nil, errDisk
		}
		hs = append(hs, h)
		out[i] = ExecResult{Height: h, AppHash: chain.Hash{byte(h)}}
	}
	a.mu.Lock()
	a.batches = append(a.batches, hs)
	a.mu.Unlock()
	return out, nil
}

func committed(from, to uint64) []ordering.Committed {
	var cs []ordering.Committed
	for h := from; h <= to; h++ {
		cs = append(cs, ordering.Committed{Block: block(h)})
	}
	return cs
}

// collect takes results from x until it has n of them or one failed.
func collect(t *testing.T, x *ExecLoop, n int) []ExecResult {
	t.Helper()
	var out []ExecResult
	timeout := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case <-x.Done():
			rs := x.Take()
			out = append(out, rs...)
			if len(rs) > 0 && rs[len(rs)-1].Err != nil {
				return out
			}
		case <-timeout:
			t.Fatalf("got %d of %d results", len(out), n)
		}
	}
	return out
}

func TestExecLoopAppliesInOrderInBatches(t *testing.T) {
	a := &fakeApplier{limit: 1 << 20}
	x := NewExecLoop(a, 3)
	x.Enqueue(committed(1, 7)) // queued before Run: batches of 3, 3, 1
	ctx, cancel := context.WithCancel(context.Background())
	go x.Run(ctx)
	rs := collect(t, x, 7)
	cancel()
	x.Wait()
	for i, r := range rs {
		if r.Height != uint64(i+1) || r.Err != nil {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
	want := [][]uint64{{1, 2, 3}, {4, 5, 6}, {7}}
	if !slices.EqualFunc(a.batches, want, slices.Equal) {
		t.Fatalf("batches %v, want %v", a.batches, want)
	}
	if x.Backlog() != 0 {
		t.Fatalf("backlog %d", x.Backlog())
	}
}

func TestExecLoopStopsOnFailure(t *testing.T) {
	a := &fakeApplier{limit: 1 << 20, failAt: 2}
	x := NewExecLoop(a, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go x.Run(ctx)
	x.Enqueue(committed(1, 3))
	rs := collect(t, x, 3)
	x.Wait() // Run returned by itself
	if len(rs) != 2 || rs[0].Err != nil || !errors.Is(rs[1].Err, errDisk) || rs[1].Height != 2 {
		t.Fatalf("results %+v", rs)
	}
}

// TestRunLoop drives a driver with Run: ticks reach the core, executor
// results are reported, a fatal error ends Run, and a cancelled context
// ends it with nil.
func TestRunLoop(t *testing.T) {
	r := newRig()
	a := &fakeApplier{limit: 1 << 20}
	x := NewExecLoop(a, 0)
	deps := r.deps()
	deps.Executor = x
	d, err := New(Config{}, deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go x.Run(ctx)
	ticks := make(chan time.Time)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, Inputs{Ticks: ticks, Exec: x}) }()
	ticks <- time.UnixMilli(5)
	x.Enqueue(committed(1, 2))
	ticks <- time.UnixMilli(6) // Run is back in its select
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	x.Wait()
	if len(r.core.ticks) != 2 {
		t.Fatalf("core ticks %v", r.core.ticks)
	}

	r2 := newRig()
	r2.log.appendErr = errDisk
	d2 := r2.driver(Config{})
	r2.core.readys = []ordering.Ready{{Persist: []ordering.Record{{Msg: prepare(0, 1), Height: 1}}}}
	ticks2 := make(chan time.Time, 1)
	ticks2 <- time.UnixMilli(1)
	if err := d2.Run(context.Background(), Inputs{Ticks: ticks2}); !errors.Is(err, ErrStopped) {
		t.Fatalf("Run after a failed append: %v", err)
	}
}

// TestRunPausedFeedsNothing pauses Run: ticks, messages and transaction
// wake-ups are dropped and executor results wait, so the core neither
// votes, proposes nor learns anything; once Paused turns false the next
// tick after the one that found it paused reaches the core, and so do the
// results that waited.
func TestRunPausedFeedsNothing(t *testing.T) {
	r := newRig()
	r.core.executedCh = make(chan uint64, 8)
	a := &fakeApplier{limit: 1 << 20}
	x := NewExecLoop(a, 0)
	deps := r.deps()
	deps.Executor = x
	d, err := New(Config{}, deps)
	if err != nil {
		t.Fatal(err)
	}
	r.j.calls = nil
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go x.Run(ctx)
	var paused atomic.Bool
	paused.Store(true)
	ticks, msgs, wake := make(chan time.Time), make(chan *ordering.Message), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- d.Run(ctx, Inputs{Ticks: ticks, Messages: msgs, TxWake: wake, Exec: x, Paused: paused.Load})
	}()

	ticks <- time.UnixMilli(1)
	msgs <- prepare(0, 1)
	wake <- struct{}{}
	x.Enqueue(committed(1, 2))
	deadline := time.Now().Add(10 * time.Second)
	for applied := false; !applied; {
		a.mu.Lock()
		applied = len(a.batches) > 0
		a.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("executor loop applied nothing")
		}
		time.Sleep(time.Millisecond)
	}
	ticks <- time.UnixMilli(2)
	msgs <- prepare(0, 2)
	if len(r.core.executedCh) != 0 {
		t.Fatal("executor results reported to the core while paused")
	}

	paused.Store(false)
	ticks <- time.UnixMilli(10) // found Run in its paused wait
	ticks <- time.UnixMilli(11)
	for want := uint64(1); want <= 2; want++ {
		select {
		case h := <-r.core.executedCh:
			if h != want {
				t.Fatalf("executed %d, want %d", h, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("height %d not reported after the resume", want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	x.Wait()
	if !slices.Equal(r.core.ticks, []uint64{11}) {
		t.Fatalf("core ticks %v, want only the one after the resume", r.core.ticks)
	}
	if slices.Contains(r.j.calls, "step") {
		t.Fatalf("a message reached the core while paused: %v", r.j.calls)
	}
}

// enderApplier ends a batch at every multiple of every.
type enderApplier struct {
	fakeApplier
	every uint64
}

func (a *enderApplier) EndsBatch(h uint64) bool { return h%a.every == 0 }

// TestExecLoopEndsBatchesWhereTheApplierAsks: no batch runs past a height
// the applier names (the node reads its snapshots there).
func TestExecLoopEndsBatchesWhereTheApplierAsks(t *testing.T) {
	a := &enderApplier{fakeApplier: fakeApplier{limit: 1 << 20}, every: 4}
	x := NewExecLoop(a, 32)
	x.Enqueue(committed(1, 10))
	ctx, cancel := context.WithCancel(context.Background())
	go x.Run(ctx)
	collect(t, x, 10)
	cancel()
	x.Wait()
	want := [][]uint64{{1, 2, 3, 4}, {5, 6, 7, 8}, {9, 10}}
	if !slices.EqualFunc(a.batches, want, slices.Equal[[]uint64]) {
		t.Fatalf("batches %v, want %v", a.batches, want)
	}
}
