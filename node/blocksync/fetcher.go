package blocksync

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
)

// Item is one verified block handed to the node, in height order.
type Item struct {
	Block       *chain.Block
	Certificate *chain.Certificate
	Hash        chain.Hash
	// Checkpoint is the verified stable checkpoint proof at this height,
	// or nil. After executing the block the node must call CheckAppHash
	// with it (and may store it as its own checkpoint proof).
	Checkpoint *ordering.CheckpointProof
	Peer       int // the validator that served the block
}

// Status is a snapshot of a sync's progress.
type Status struct {
	Syncing      bool    // the fetcher runs and has not reached its target
	Start        uint64  // the height the sync started from
	Current      uint64  // the highest height handed to the node
	Target       uint64  // the height the sync runs to
	BlocksPerSec float64 // delivery rate over the last progress interval
	Faults       uint64  // peer faults seen (bad data or no answer)
}

// ErrAlreadyRun is returned by a second call of Run.
var ErrAlreadyRun = errors.New("blocksync: fetcher already run")

// Fetcher brings the node from Config.Start to the target height. Run does
// the work; the node pulls verified blocks from Blocks in height order.
type Fetcher struct {
	cfg Config
	lim Limits
	v   *Verifier
	log *slog.Logger
	out chan Item

	mu       sync.Mutex
	target   uint64
	finished bool
	status   Status
	wake     chan struct{}
	started  bool

	// Owned by Run's goroutine.
	sched   *scheduler
	results chan result
	rate    rateMeter
}

// NewFetcher returns a fetcher for cfg. Nothing runs until Run.
func NewFetcher(cfg Config) (*Fetcher, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	lim, err := cfg.Limits.withDefaults()
	if err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	f := &Fetcher{
		cfg: cfg, lim: lim, log: log,
		v:       NewVerifier(cfg.ChainID, cfg.Validators, cfg.CheckpointInterval),
		out:     make(chan Item, lim.DeliverQueue),
		target:  max(cfg.Target, cfg.Start),
		wake:    make(chan struct{}, 1),
		results: make(chan result, lim.MaxInFlight),
	}
	f.status = Status{Start: cfg.Start, Current: cfg.Start, Target: f.target}
	f.sched = newScheduler(cfg.Peers, lim, cfg.Start, cfg.StartHash)
	return f, nil
}

// Blocks returns the channel of verified blocks in height order, each
// linked to the one before it and the first to Config.StartHash. It is
// closed when Run returns.
func (f *Fetcher) Blocks() <-chan Item { return f.out }

// SetTarget raises the target height. It reports false when the fetcher
// has already finished (the caller starts a new one); a lower target is
// ignored.
func (f *Fetcher) SetTarget(h uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.finished {
		return false
	}
	if h > f.target {
		f.target = h
		f.status.Target = h
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// Status returns a snapshot of the progress.
func (f *Fetcher) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

// Run fetches, verifies and delivers blocks until every height up to the
// target has been handed to Blocks (it returns nil) or ctx ends (it
// returns ctx's error). No goroutine it started outlives it, and it closes
// Blocks before returning. It may be called once.
func (f *Fetcher) Run(ctx context.Context) error {
	f.mu.Lock()
	if f.started {
		f.mu.Unlock()
		return ErrAlreadyRun
	}
	f.started = true
	f.status.Syncing = f.target > f.cfg.Start
	f.mu.Unlock()
	defer close(f.out)

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	start := time.Now()
	f.rate.reset(start, f.cfg.Start)
	f.log.Info("block sync started", "from", f.cfg.Start, "target", f.currentTarget(), "peers", len(f.cfg.Peers))
	progress := time.NewTicker(f.lim.ProgressInterval)
	defer progress.Stop()
	avail := time.NewTimer(time.Hour)
	defer avail.Stop()
	for {
		if f.finish() {
			f.logDone(start)
			return nil
		}
		// Link-check the next segment before handing out work, so a peer
		// whose range does not link is left out before it gets another.
		sendCh, item := f.pending()
		now := time.Now()
		f.launch(ctx, &wg, now)
		if wait, ok := f.sched.nextAvailable(now); ok {
			avail.Reset(wait)
		}
		select {
		case <-ctx.Done():
			f.setSyncing(false)
			return ctx.Err()
		case sendCh <- item:
			f.delivered()
		case r := <-f.results:
			f.handle(ctx, r, time.Now())
		case <-f.wake:
		case <-avail.C:
		case now := <-progress.C:
			f.logProgress(now)
		}
	}
}

// currentTarget reads the target under the lock.
func (f *Fetcher) currentTarget() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.target
}

// finish marks the fetcher finished when everything up to the target has
// been delivered; SetTarget cannot raise the target after that.
func (f *Fetcher) finish() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sched.setTarget(f.target)
	if f.sched.delivered() < f.target {
		return false
	}
	f.finished = true
	f.status.Syncing = false
	return true
}

func (f *Fetcher) setSyncing(on bool) {
	f.mu.Lock()
	f.status.Syncing = on
	f.mu.Unlock()
}

// launch starts requests for as many ranges as the limits and the
// available peers allow.
func (f *Fetcher) launch(ctx context.Context, wg *sync.WaitGroup, now time.Time) {
	for {
		req, ok := f.sched.assign(now)
		if !ok {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.results <- f.fetch(ctx, req)
		}()
	}
}

// pending returns the channel to send the next verified block on and the
// block, or a nil channel when none is ready. A range whose first block
// does not link to the delivered chain is dropped here and its peer blamed.
func (f *Fetcher) pending() (chan<- Item, Item) {
	for {
		it, fault, ok := f.sched.peek()
		if fault != nil {
			f.fault(fault.peer, fault.span, fault.err, time.Now())
			continue
		}
		if !ok {
			return nil, Item{}
		}
		return f.out, it
	}
}

// delivered records that the peeked block was handed over.
func (f *Fetcher) delivered() {
	h := f.sched.pop()
	f.mu.Lock()
	f.status.Current = h
	f.mu.Unlock()
}
