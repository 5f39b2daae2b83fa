package driver

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/bafomet/bafomet/ordering"
)

// Applier executes committed blocks for an ExecLoop.
type Applier interface {
	// Apply executes blocks in height order, storing them atomically as
	// one batch, and returns one result per block, or an error when the
	// batch failed (then nothing of it was stored).
	Apply(cs []ordering.Committed) ([]ExecResult, error)
	// BatchLimit is the total block size one Apply may take (a single
	// larger block still goes alone).
	BatchLimit() int
}

// BatchEnder is an Applier that wants some heights to end their batch:
// the ExecLoop never applies a block above such a height in the same
// Apply call.
type BatchEnder interface {
	EndsBatch(height uint64) bool
}

// DefaultMaxApplyBatch bounds the blocks one Apply takes, so a long sync
// backlog still reports progress to the core every few dozen blocks.
const DefaultMaxApplyBatch = 32

// ExecLoop is the node's asynchronous Executor: it applies committed
// blocks in height order on a goroutine of its own (Run). The driver never
// blocks handing it blocks or taking its results: both queues are slices
// under a lock with a one-slot wake-up channel each.
type ExecLoop struct {
	apply    Applier
	maxBatch int

	mu      sync.Mutex
	queue   []ordering.Committed
	results []ExecResult
	wake    chan struct{} // the queue grew
	done    chan struct{} // results grew
	stopped chan struct{} // closed when Run returns
}

// NewExecLoop returns an executor loop that applies at most maxBatch
// blocks per Apply (DefaultMaxApplyBatch when 0).
func NewExecLoop(a Applier, maxBatch int) *ExecLoop {
	if maxBatch <= 0 {
		maxBatch = DefaultMaxApplyBatch
	}
	return &ExecLoop{
		apply: a, maxBatch: maxBatch,
		wake: make(chan struct{}, 1), done: make(chan struct{}, 1), stopped: make(chan struct{}),
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Enqueue implements Executor.
func (x *ExecLoop) Enqueue(cs []ordering.Committed) {
	if len(cs) == 0 {
		return
	}
	x.mu.Lock()
	x.queue = append(x.queue, cs...)
	x.mu.Unlock()
	signal(x.wake)
}

// Backlog implements Executor.
func (x *ExecLoop) Backlog() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.queue)
}

// Done receives a value when results are waiting for Take.
func (x *ExecLoop) Done() <-chan struct{} { return x.done }

// Take returns and clears the results so far, in height order.
func (x *ExecLoop) Take() []ExecResult {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := x.results
	x.results = nil
	return out
}

// Wait blocks until Run has returned (the batch in progress finished).
func (x *ExecLoop) Wait() { <-x.stopped }

// Run applies queued blocks until ctx ends or a batch fails. Whatever is
// queued when it looks is applied as one batch, up to the batch limits.
func (x *ExecLoop) Run(ctx context.Context) {
	defer close(x.stopped)
	for {
		select {
		case <-ctx.Done():
			return
		case <-x.wake:
		}
		for ctx.Err() == nil {
			batch := x.takeBatch()
			if len(batch) == 0 {
				break
			}
			rs, err := x.apply.Apply(batch)
			if err != nil {
				rs = []ExecResult{{Height: batch[0].Block.Header.Height, Err: fmt.Errorf("apply committed blocks %d-%d: %w",
					batch[0].Block.Header.Height, batch[len(batch)-1].Block.Header.Height, err)}}
			}
			x.mu.Lock()
			x.results = append(x.results, rs...)
			x.mu.Unlock()
			signal(x.done)
			if err != nil {
				return
			}
		}
	}
}

// takeBatch removes and returns the blocks to apply next: at least one if
// any is queued, then more while they fit the batch limits.
func (x *ExecLoop) takeBatch() []ordering.Committed {
	limit := x.apply.BatchLimit()
	ender, _ := x.apply.(BatchEnder)
	x.mu.Lock()
	defer x.mu.Unlock()
	k, size := 0, 0
	for k < len(x.queue) && k < x.maxBatch {
		size += x.queue[k].Block.Size()
		if k > 0 && size > limit {
			break
		}
		k++
		if ender != nil && ender.EndsBatch(x.queue[k-1].Block.Header.Height) {
			break
		}
	}
	batch := slices.Clone(x.queue[:k])
	clear(x.queue[:k])
	x.queue = x.queue[k:]
	return batch
}
