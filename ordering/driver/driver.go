package driver

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
)

// Defaults for Config.
const (
	// DefaultMaxFrameBytes is the largest encoded consensus message the
	// driver sends (the node's p2p.max_frame_bytes default).
	DefaultMaxFrameBytes = 4 << 20
	// DefaultMaxExecBacklog bounds the committed blocks waiting for the
	// executor: while it is reached, the driver takes no more synced
	// blocks (consensus itself cannot run further ahead than the pipeline
	// window).
	DefaultMaxExecBacklog = 64
)

// ErrStopped wraps the error that stopped the driver; every later input
// returns it.
var ErrStopped = errors.New("driver stopped")

// ErrExecBacklog is returned by StepSynced while the executor's backlog is
// at Config.MaxExecBacklog; the block is not taken.
var ErrExecBacklog = errors.New("executor backlog full")

// Config configures a driver.
type Config struct {
	Proposer       chain.Address // this validator's address, for the blocks it proposes
	ValidatorsHash chain.Hash    // the validator set's hash, for the blocks it proposes
	MaxBlockTxs    int
	MaxBlockBytes  int

	// BatchDelay is how long the primary waits for a partial block to
	// fill while no earlier proposal of its is in flight.
	BatchDelay time.Duration
	// CreateEmptyBlocks makes the primary propose an empty block after
	// EmptyBlockInterval without transactions.
	CreateEmptyBlocks  bool
	EmptyBlockInterval time.Duration

	// MaxFrameBytes is the largest encoded message sent; a larger one is
	// logged, counted and not sent. 0 means DefaultMaxFrameBytes.
	MaxFrameBytes int
	// MaxExecBacklog bounds the executor's backlog while synced blocks are
	// taken. 0 means DefaultMaxExecBacklog.
	MaxExecBacklog int

	// Logger receives the driver's logs; nil discards them.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.MaxFrameBytes == 0 {
		c.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if c.MaxExecBacklog == 0 {
		c.MaxExecBacklog = DefaultMaxExecBacklog
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Deps are what the driver reaches the world through. Observer may be nil.
type Deps struct {
	Core        Core
	Log         Log
	Transport   Transport
	Executor    Executor
	Mempool     Mempool
	Clock       Clock
	Sync        SyncSource
	Checkpoints CheckpointStore
	Observer    Observer
}

// Stats counts what the driver dropped or took; safe to read from any
// goroutine.
type Stats struct {
	Oversize uint64 // messages not sent: encoding above MaxFrameBytes
	Synced   uint64 // block-synced blocks the core took
}

// Driver owns an ordering core: it feeds it every input and carries out
// its Ready after each. It is not safe for concurrent use: one goroutine
// (Run, or the simulator) calls its methods, and none of them blocks,
// starts a goroutine or reads a clock except through Deps.Clock.
type Driver struct {
	cfg  Config
	d    Deps
	log  *slog.Logger
	prop proposer
	soft ordering.SoftState
	err  error // set once the driver stopped

	// syncProofs are the checkpoint proofs of synced blocks awaiting
	// execution, by height.
	syncProofs map[uint64]*ordering.CheckpointProof

	oversize, synced atomic.Uint64
}

// New returns a driver around deps.Core. It handles the core's first
// Ready (a restored core may have records to re-send) before returning.
func New(cfg Config, deps Deps) (*Driver, error) {
	if deps.Core == nil || deps.Log == nil || deps.Transport == nil || deps.Executor == nil ||
		deps.Mempool == nil || deps.Clock == nil || deps.Sync == nil || deps.Checkpoints == nil {
		return nil, errors.New("driver: every dependency but Observer is required")
	}
	if deps.Observer == nil {
		deps.Observer = NopObserver{}
	}
	cfg = cfg.withDefaults()
	d := &Driver{
		cfg:        cfg,
		d:          deps,
		log:        cfg.Logger,
		soft:       deps.Core.SoftState(),
		syncProofs: make(map[uint64]*ordering.CheckpointProof),
	}
	d.prop = proposer{d: d, lastBlock: deps.Clock.Now()}
	if err := d.settle(); err != nil {
		return nil, err
	}
	return d, nil
}

// Err returns the error that stopped the driver, or nil.
func (d *Driver) Err() error { return d.err }

// Stats returns the driver's counters.
func (d *Driver) Stats() Stats {
	return Stats{Oversize: d.oversize.Load(), Synced: d.synced.Load()}
}

// SoftState returns the core's soft state as of the last Ready.
func (d *Driver) SoftState() ordering.SoftState { return d.soft }

// Tick tells the core that a tick passed; now is the local time.
func (d *Driver) Tick(now time.Time) error {
	if d.err != nil {
		return d.err
	}
	d.d.Core.Tick(unixMs(now))
	return d.settle()
}

// Step hands the core a message from a peer. A message the core refuses
// is returned as an error and the driver goes on.
func (d *Driver) Step(m *ordering.Message) error {
	if d.err != nil {
		return d.err
	}
	stepErr := d.d.Core.Step(m)
	if err := d.settle(); err != nil {
		return err
	}
	if stepErr != nil {
		return fmt.Errorf("step %s from %d (view %d, height %d): %w", m.Type, m.From, m.View, m.Height, stepErr)
	}
	return nil
}

// AcceptsSynced reports whether the executor's backlog leaves room for a
// block-synced block.
func (d *Driver) AcceptsSynced() bool {
	return d.d.Executor.Backlog() < d.cfg.MaxExecBacklog
}

// StepSynced hands the core a block learned by block sync, with its commit
// certificate and, when the block is at a checkpoint, the checkpoint proof
// the block's appHash is checked against once it is executed. A block the
// core refuses, or one offered while the executor's backlog is full
// (ErrExecBacklog), is returned as an error and the driver goes on.
func (d *Driver) StepSynced(b *chain.Block, c *chain.Certificate, proof *ordering.CheckpointProof) error {
	if d.err != nil {
		return d.err
	}
	if !d.AcceptsSynced() {
		return fmt.Errorf("synced block %d: %w", b.Header.Height, ErrExecBacklog)
	}
	stepErr := d.d.Core.StepCertified(b, c)
	if stepErr == nil {
		d.synced.Add(1)
		d.d.Observer.SyncedTaken(b.Header.Height)
		if proof != nil {
			d.syncProofs[b.Header.Height] = proof
		}
	}
	if err := d.settle(); err != nil {
		return err
	}
	if stepErr != nil {
		return fmt.Errorf("synced block %d not taken: %w", b.Header.Height, stepErr)
	}
	return nil
}

// Executed reports executed blocks, in height order, to the core, after
// checking each against the checkpoint proof that came with it by block
// sync. A failed block, or a state that contradicts a checkpoint, stops
// the driver.
func (d *Driver) Executed(results []ExecResult) error {
	if d.err != nil {
		return d.err
	}
	for _, r := range results {
		if r.Err != nil {
			return d.stop(fmt.Errorf("execute block %d: %w", r.Height, r.Err))
		}
		if err := d.checkSyncedCheckpoint(r.Height, r.AppHash); err != nil {
			return d.stop(err)
		}
		d.d.Core.Executed(r.Height, r.AppHash)
	}
	return d.settle()
}

// TxArrived tells the driver that the mempool gained transactions.
func (d *Driver) TxArrived() error { return d.Poke() }

// Poke re-evaluates the proposer (its timer, NextPoke, is due) and drains
// the core.
func (d *Driver) Poke() error {
	if d.err != nil {
		return d.err
	}
	return d.settle()
}

// NextPoke returns when the proposer next wants Poke called, if it does.
func (d *Driver) NextPoke() (time.Time, bool) { return d.prop.pokeAt, d.prop.armed }

// stop records the error that stops the driver and returns it wrapped in
// ErrStopped.
func (d *Driver) stop(err error) error {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %w", ErrStopped, err)
		d.log.Error("driver stopped: cannot continue safely", "err", err)
	}
	return d.err
}

// settle follows every input: the proposer looks at its slot, then the
// core is drained.
func (d *Driver) settle() error {
	d.prop.poke()
	return d.handleReady()
}

// handleReady drains the core until it has nothing more to say, handling
// each Ready in the order ordering/doc.go demands. Pending work is noted
// once per input, not per Ready: NotePending(true) re-offers the proposal
// slot, so noting it inside the loop would spin for as long as the
// proposer holds a slot it is not ready to fill (batch delay, or every
// ready transaction already in a pipelined proposal).
func (d *Driver) handleReady() error {
	core := d.d.Core
	core.NotePending(d.d.Mempool.NumReady() > 0)
	for core.HasReady() {
		rd := core.Ready()
		if rd.SignErr != nil {
			return d.stop(fmt.Errorf("sign consensus message: %w", rd.SignErr))
		}
		if err := d.persist(rd.Persist); err != nil {
			return d.stop(err)
		}
		d.send(rd.Messages)
		if len(rd.Committed) > 0 {
			d.d.Executor.Enqueue(rd.Committed)
		}
		if err := d.saveStable(rd.Stable); err != nil {
			return d.stop(err)
		}
		if len(rd.Evidence) > 0 {
			d.d.Observer.Evidence(rd.Evidence)
		}
		d.noteSoftState(rd.SoftState)
		core.Advance(rd)
		d.prop.offer(rd.Propose)
		d.prop.poke()
	}
	return nil
}

// persist stores every record of one Ready with one durable append, before
// any message of that Ready is sent.
func (d *Driver) persist(recs []ordering.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if err := d.d.Log.Append(recs); err != nil {
		return fmt.Errorf("persist consensus records: %w", err)
	}
	return nil
}

// send encodes each message once and hands it to the transport, unless
// its encoding exceeds MaxFrameBytes.
func (d *Driver) send(msgs []ordering.Outbound) {
	for _, o := range msgs {
		enc, err := ordering.EncodeMessage(o.Msg)
		if err != nil {
			d.log.Error("encode consensus message", "type", o.Msg.Type, "err", err)
			continue
		}
		if len(enc) > d.cfg.MaxFrameBytes {
			d.oversize.Add(1)
			d.d.Observer.Oversize(o.Msg, len(enc))
			d.log.Error("consensus message larger than the frame limit: not sent", "type", o.Msg.Type,
				"height", o.Msg.Height, "view", o.Msg.View, "bytes", len(enc), "limit", d.cfg.MaxFrameBytes)
			continue
		}
		d.d.Transport.Send(o.To, o.Msg, enc)
	}
}

// saveStable stores a stable checkpoint proof and prunes the records it
// makes unnecessary.
func (d *Driver) saveStable(p *ordering.CheckpointProof) error {
	if p == nil {
		return nil
	}
	if err := d.d.Checkpoints.SaveStable(p); err != nil {
		return fmt.Errorf("store checkpoint %d: %w", p.Height, err)
	}
	if err := d.d.Log.Prune(p.Height); err != nil {
		return fmt.Errorf("prune consensus records below %d: %w", p.Height, err)
	}
	return nil
}

// checkSyncedCheckpoint compares this node's appHash after height with the
// checkpoint proof that came with the synced block, and stores the proof
// so this node can serve it. A mismatch means this node's state diverged
// from the network's: it must stop rather than run on. The consensus log
// is not pruned here: only the core knows which records still pin its view
// (a view change it waits in), so records are pruned by Ready.Stable alone.
func (d *Driver) checkSyncedCheckpoint(height uint64, appHash chain.Hash) error {
	p, ok := d.syncProofs[height]
	if !ok {
		return nil
	}
	delete(d.syncProofs, height)
	if p.Height != height {
		return fmt.Errorf("checkpoint proof for height %d came with block %d", p.Height, height)
	}
	if p.AppHash != appHash {
		return fmt.Errorf("state diverged from the network's checkpoint: at height %d this node has appHash %s, a quorum signed %s",
			height, appHash, p.AppHash)
	}
	if err := d.d.Checkpoints.SaveStable(p); err != nil {
		return fmt.Errorf("store checkpoint %d: %w", p.Height, err)
	}
	return nil
}

// noteSoftState reports the soft state, returns proposals voided by a view
// change to the mempool, and asks for block sync when the core is behind.
func (d *Driver) noteSoftState(s ordering.SoftState) {
	if s.View != d.soft.View {
		d.log.Debug("view changed", "from", d.soft.View, "to", s.View, "primary", s.Primary)
		d.d.Mempool.ReleaseProposed()
	}
	d.soft = s
	d.d.Observer.SoftState(s)
	if s.Behind > s.Executed {
		d.d.Sync.Hint(s.Behind)
	}
}

func unixMs(t time.Time) uint64 { return uint64(t.UnixMilli()) }
