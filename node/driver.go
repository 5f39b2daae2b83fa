package node

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/wal"
	"github.com/bafomet/bafomet/ordering"
	"github.com/bafomet/bafomet/p2p"
)

// maxExecBacklog bounds the committed blocks waiting for the executor:
// while it is reached, the driver takes no more synced blocks (consensus
// itself cannot run further ahead than the pipeline window).
const maxExecBacklog = 64

// drive is the one goroutine that owns the ordering core. Every input — a
// tick, a peer's message, a transaction arriving, a block executed — is fed
// to the core, and after each the core's Ready is handled in the order the
// core demands: persist, send, hand committed blocks to the executor,
// advance. Blocks execute on the executor's goroutine; their appHashes come
// back through execDone and reach the core with Executed, which the core
// needs only before it votes for the height a pipeline window later.
func (n *Node) drive(ctx context.Context) {
	tick := time.NewTicker(n.cfg.Consensus.TickInterval)
	defer tick.Stop()
	p := newProposer(n)
	defer p.stop()
	ex := newExecLoop(n)
	go ex.run(ctx)
	defer ex.wait()
	for {
		syncItems := n.syncer.items
		if ex.backlog() >= maxExecBacklog {
			syncItems = nil
		}
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			n.core.Tick(unixMs(now))
		case m := <-n.consensusIn:
			if err := n.core.Step(m); err != nil {
				n.log.Debug("consensus message ignored", "type", m.Type, "from", m.From, "view", m.View, "height", m.Height, "err", err)
			}
		case it := <-syncItems:
			n.stepSynced(it)
		case <-ex.done:
			if err := n.noteExecuted(ex.take()); err != nil {
				n.stopOn(err)
				return
			}
		case <-n.txWake:
		case <-p.timer.C:
		}
		if err := p.poke(); err != nil {
			n.log.Error("propose", "err", err)
		}
		if err := n.handleReady(p, ex); err != nil {
			n.stopOn(err)
			return
		}
	}
}

func (n *Node) stopOn(err error) {
	n.log.Error("node stopped: cannot continue safely", "err", err)
	n.fatal <- err
}

// handleReady drains the core until it has nothing more to say. Pending
// work is noted once per input, not per Ready: NotePending(true) re-offers
// the proposal slot, so noting it inside the loop would spin for as long as
// the proposer holds a slot it is not ready to fill (batch delay, or every
// ready transaction already in a pipelined proposal).
func (n *Node) handleReady(p *proposer, ex *execLoop) error {
	n.core.NotePending(n.pool.NumReady() > 0)
	for n.core.HasReady() {
		rd := n.core.Ready()
		if rd.SignErr != nil {
			return fmt.Errorf("sign consensus message: %w", rd.SignErr)
		}
		if err := n.persist(rd); err != nil {
			return err
		}
		n.send(rd.Messages)
		ex.enqueue(rd.Committed)
		if err := n.saveStable(rd.Stable); err != nil {
			return err
		}
		n.evidence.add(rd.Evidence)
		n.noteSoftState(rd.SoftState)
		n.core.Advance(rd)
		p.offer(rd.Propose)
		if err := p.poke(); err != nil {
			n.log.Error("propose", "err", err)
		}
	}
	return nil
}

// noteExecuted reports executed blocks to the core, in height order, after
// checking any checkpoint proof that came with a synced block.
func (n *Node) noteExecuted(results []execResult) error {
	for _, r := range results {
		if r.err != nil {
			return r.err
		}
		if err := n.checkSyncedCheckpoint(r.height, r.appHash); err != nil {
			return err
		}
		n.core.Executed(r.height, r.appHash)
	}
	return nil
}

// persist writes every message the core signed, with one fsync, before any
// of them is sent.
func (n *Node) persist(rd ordering.Ready) error {
	if len(rd.Persist) == 0 {
		return nil
	}
	recs := make([]wal.Record, len(rd.Persist))
	for i, r := range rd.Persist {
		enc, err := ordering.EncodeMessage(r.Msg)
		if err != nil {
			return fmt.Errorf("encode record: %w", err)
		}
		recs[i] = wal.Record{Height: r.Height, Data: enc}
	}
	start := time.Now()
	if err := n.wal.Append(recs); err != nil {
		return fmt.Errorf("persist consensus records: %w", err)
	}
	n.metrics.logAppend.Observe(time.Since(start).Seconds())
	return nil
}

func (n *Node) send(msgs []ordering.Outbound) {
	for _, o := range msgs {
		enc, err := ordering.EncodeMessage(o.Msg)
		if err != nil {
			n.log.Error("encode consensus message", "type", o.Msg.Type, "err", err)
			continue
		}
		if len(enc) > n.cfg.P2P.MaxFrameBytes {
			n.log.Error("consensus message larger than p2p.max_frame_bytes: not sent", "type", o.Msg.Type,
				"height", o.Msg.Height, "view", o.Msg.View, "bytes", len(enc), "limit", n.cfg.P2P.MaxFrameBytes)
			continue
		}
		if o.To == ordering.Broadcast {
			n.host.Broadcast(p2p.ProtoConsensus, enc)
		} else if !n.host.Send(o.To, p2p.ProtoConsensus, enc) {
			n.log.Debug("consensus message dropped: peer queue full", "to", o.To, "type", o.Msg.Type)
		}
	}
}

// execResult is the outcome of executing one committed block.
type execResult struct {
	height  uint64
	appHash chain.Hash
	err     error
}

// execLoop executes committed blocks in height order on a goroutine of its
// own. The driver never blocks handing it blocks or taking its results:
// both queues are slices under a lock with a one-slot wake-up channel each.
// The core bounds how far consensus runs ahead of execution (the pipeline
// window); the driver bounds synced blocks with maxExecBacklog.
type execLoop struct {
	n       *Node
	mu      sync.Mutex
	queue   []ordering.Committed
	results []execResult
	wake    chan struct{} // the queue grew
	done    chan struct{} // results grew
	stopped chan struct{} // closed when run returns
}

func newExecLoop(n *Node) *execLoop {
	return &execLoop{n: n, wake: make(chan struct{}, 1), done: make(chan struct{}, 1), stopped: make(chan struct{})}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// enqueue queues committed blocks for execution.
func (x *execLoop) enqueue(cs []ordering.Committed) {
	if len(cs) == 0 {
		return
	}
	x.mu.Lock()
	x.queue = append(x.queue, cs...)
	x.mu.Unlock()
	signal(x.wake)
}

// backlog returns the number of blocks queued and not yet executed.
func (x *execLoop) backlog() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.queue)
}

// take returns and clears the results so far.
func (x *execLoop) take() []execResult {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := x.results
	x.results = nil
	return out
}

// wait blocks until run has returned (the block in progress finished).
func (x *execLoop) wait() { <-x.stopped }

// maxApplyBatch bounds the blocks committed in one Badger transaction
// (see chain.Executor.ApplyBlocks), so a long sync backlog still reports
// progress to the core every few dozen blocks.
const maxApplyBatch = 32

// run executes queued blocks until ctx ends or a block fails. Whatever is
// queued when it looks is applied as one batch, up to maxApplyBatch blocks
// and the executor's size limit: one synced commit for all of them.
func (x *execLoop) run(ctx context.Context) {
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
			rs := x.n.execute(batch)
			x.mu.Lock()
			x.results = append(x.results, rs...)
			x.mu.Unlock()
			signal(x.done)
			if rs[len(rs)-1].err != nil {
				return
			}
		}
	}
}

// takeBatch removes and returns the blocks to apply next: at least one if
// any is queued, then more while they fit the batch limits.
func (x *execLoop) takeBatch() []ordering.Committed {
	limit := x.n.exec.ApplyBatchLimit()
	x.mu.Lock()
	defer x.mu.Unlock()
	k, size := 0, 0
	for k < len(x.queue) && k < maxApplyBatch {
		size += x.queue[k].Block.Size()
		if k > 0 && size > limit {
			break
		}
		k++
	}
	batch := slices.Clone(x.queue[:k])
	clear(x.queue[:k])
	x.queue = x.queue[k:]
	return batch
}

// execute applies committed blocks in one batch, updates the mempool and
// the executed height, and wakes subscribers. It returns one result per
// block, or a single failed result.
func (n *Node) execute(cs []ordering.Committed) []execResult {
	start := time.Now()
	blocks := make([]*chain.Block, len(cs))
	certs := make([]*chain.Certificate, len(cs))
	for i, c := range cs {
		blocks[i], certs[i] = c.Block, c.Certificate
	}
	res, err := n.exec.ApplyBlocks(blocks, certs)
	if err != nil {
		return []execResult{{err: fmt.Errorf("apply committed blocks %d-%d: %w",
			blocks[0].Header.Height, blocks[len(blocks)-1].Header.Height, err)}}
	}
	perBlock := time.Since(start) / time.Duration(len(cs))
	out := make([]execResult, len(cs))
	for i, c := range cs {
		r := res[i]
		n.pool.Update(r.Height, c.Block)
		sinceProposal := time.Since(time.UnixMilli(int64(c.Block.Header.Timestamp)))
		n.metrics.applySeconds.Observe(perBlock.Seconds())
		n.metrics.commitLatency.Observe(sinceProposal.Seconds())
		n.metrics.blockTxs.Observe(float64(len(c.Block.Txs)))
		n.log.Info("committed block", "height", r.Height, "hash", r.Hash, "txs", len(c.Block.Txs),
			"view", c.Certificate.View, "since_proposal", sinceProposal.Round(time.Millisecond),
			"apply", perBlock.Round(time.Microsecond), "batch", len(cs))
		out[i] = execResult{height: r.Height, appHash: r.AppHash}
	}
	last := res[len(res)-1].Height
	n.height.Store(last)
	n.host.SetHeight(last)
	select {
	case n.blockNotify <- struct{}{}:
	default:
	}
	return out
}

// saveStable stores a stable checkpoint proof and prunes the records it
// makes unnecessary.
func (n *Node) saveStable(p *ordering.CheckpointProof) error {
	if p == nil {
		return nil
	}
	enc, err := rlp.EncodeToBytes(p)
	if err != nil {
		return fmt.Errorf("encode checkpoint proof: %w", err)
	}
	if err := n.store.PutCheckpoint(p.Height, enc); err != nil {
		return fmt.Errorf("store checkpoint %d: %w", p.Height, err)
	}
	if err := n.wal.Prune(p.Height); err != nil {
		return fmt.Errorf("prune consensus records below %d: %w", p.Height, err)
	}
	return nil
}

func (n *Node) noteSoftState(s ordering.SoftState) {
	old := n.soft.Load()
	if old != nil && s.View != old.View {
		n.metrics.viewChanges.Inc()
		n.log.Warn("view changed", "from", old.View, "to", s.View, "primary", n.vals.Validator(s.Primary).Name)
		n.pool.ReleaseProposed()
	}
	n.soft.Store(&s)
	if s.Behind > s.Executed {
		n.syncer.hint(s.Behind)
	}
}

// dispatchConsensus decodes consensus frames from the p2p host, off the
// driver, and queues them for it.
func (n *Node) dispatchConsensus(ctx context.Context) {
	maxFrame := n.cfg.P2P.MaxFrameBytes
	for {
		select {
		case <-ctx.Done():
			return
		case in, ok := <-n.host.Inbound():
			if !ok {
				return
			}
			m, err := ordering.DecodeMessage(in.Data, maxFrame)
			if err != nil {
				n.log.Debug("undecodable consensus frame", "from", in.From, "err", err)
				continue
			}
			select {
			case n.consensusIn <- m:
			case <-ctx.Done():
				return
			}
		}
	}
}

func unixMs(t time.Time) uint64 { return uint64(t.UnixMilli()) }
