package node

import (
	"context"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/wal"
	"github.com/bafomet/bafomet/mempool"
	"github.com/bafomet/bafomet/ordering"
	"github.com/bafomet/bafomet/ordering/driver"
	"github.com/bafomet/bafomet/p2p"
)

// newDriver wires the ordering driver to the node's consensus log, p2p
// host, mempool, executor loop, syncer, store and metrics.
func (n *Node) newDriver(core *ordering.Core) (*driver.Driver, *driver.ExecLoop, error) {
	ex := driver.NewExecLoop(applier{n}, driver.DefaultMaxApplyBatch)
	cons, g := n.cfg.Consensus, n.gen.Consensus
	d, err := driver.New(driver.Config{
		Proposer:           n.vals.Validator(n.self).Address,
		ValidatorsHash:     n.vals.Hash(),
		MaxBlockTxs:        int(g.MaxBlockTxs),
		MaxBlockBytes:      int(g.MaxBlockBytes),
		BatchDelay:         cons.BatchDelay,
		CreateEmptyBlocks:  cons.CreateEmptyBlocks,
		EmptyBlockInterval: cons.EmptyBlockInterval,
		MaxFrameBytes:      n.cfg.P2P.MaxFrameBytes,
		Logger:             n.log.With("component", "driver"),
	}, driver.Deps{
		Core:        core,
		Log:         consensusLog{n},
		Transport:   transport{n},
		Executor:    ex,
		Mempool:     pool{n.pool},
		Clock:       wallClock{},
		Sync:        n.syncer,
		Checkpoints: checkpoints{n},
		Observer:    observer{n},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("start ordering driver: %w", err)
	}
	return d, ex, nil
}

// drive runs the driver loop and the executor loop until ctx ends or the
// driver stops; the executor loop ends with it.
func (n *Node) drive(ctx context.Context, d *driver.Driver, ex *driver.ExecLoop) {
	ctx, cancel := context.WithCancel(ctx)
	go ex.Run(ctx)
	defer ex.Wait()
	defer cancel()
	tick := time.NewTicker(n.cfg.Consensus.TickInterval)
	defer tick.Stop()
	err := d.Run(ctx, driver.Inputs{
		Ticks:    tick.C,
		Messages: n.consensusIn,
		Synced:   n.syncer.items,
		Exec:     ex,
		TxWake:   n.txWake,
		Paused:   n.disk.Low,
	})
	if err != nil {
		n.fatal <- err
	}
}

// consensusLog is the driver's Log: the node's write-ahead log.
type consensusLog struct{ n *Node }

func (l consensusLog) Append(recs []ordering.Record) error {
	out := make([]wal.Record, len(recs))
	for i, r := range recs {
		enc, err := ordering.EncodeMessage(r.Msg)
		if err != nil {
			return fmt.Errorf("encode record: %w", err)
		}
		out[i] = wal.Record{Height: r.Height, Data: enc}
	}
	start := time.Now()
	if err := l.n.wal.Append(out); err != nil {
		return err
	}
	l.n.metrics.logAppend.Observe(time.Since(start).Seconds())
	return nil
}

func (l consensusLog) Prune(height uint64) error { return l.n.wal.Prune(height) }

// transport is the driver's Transport: the p2p host's consensus protocol.
type transport struct{ n *Node }

func (t transport) Send(to int, m *ordering.Message, frame []byte) {
	if to == ordering.Broadcast {
		t.n.host.Broadcast(p2p.ProtoConsensus, frame)
	} else if !t.n.host.Send(to, p2p.ProtoConsensus, frame) {
		t.n.log.Debug("consensus message dropped: peer queue full", "to", to, "type", m.Type)
	}
}

// pool is the driver's Mempool.
type pool struct{ *mempool.Mempool }

func (p pool) Reap(maxTxs, maxBytes int) driver.Batch {
	b := p.Mempool.Reap(maxTxs, maxBytes)
	return driver.Batch{Txs: b.Txs, Senders: b.Senders, Hashes: b.Hashes}
}

// wallClock is the driver's Clock.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// checkpoints is the driver's CheckpointStore: the chain store.
type checkpoints struct{ n *Node }

func (c checkpoints) SaveStable(p *ordering.CheckpointProof) error {
	enc, err := rlp.EncodeToBytes(p)
	if err != nil {
		return fmt.Errorf("encode checkpoint proof: %w", err)
	}
	if err := c.n.store().PutCheckpoint(p.Height, enc); err != nil {
		return err
	}
	c.n.snaps.storeProof(p.Height, enc)
	return nil
}

// observer takes the driver's reports into the node's state and metrics.
type observer struct{ n *Node }

func (o observer) SoftState(s ordering.SoftState) {
	n := o.n
	if old := n.soft.Load(); old != nil && s.View != old.View {
		n.metrics.viewChanges.Inc()
		n.log.Warn("view changed", "from", old.View, "to", s.View, "primary", n.vals.Validator(s.Primary).Name)
	}
	n.soft.Store(&s)
}

func (o observer) Evidence(ev []ordering.Evidence) { o.n.evidence.add(ev) }

func (o observer) SyncedTaken(uint64) { o.n.syncer.blocks.Add(1) }

func (o observer) Oversize(*ordering.Message, int) { o.n.metrics.oversize.Inc() }

// applier is the executor loop's Applier: the chain executor, then the
// mempool, the executed height and the subscribers.
type applier struct{ n *Node }

func (a applier) BatchLimit() int { return a.n.exec().ApplyBatchLimit() }

// EndsBatch implements driver.BatchEnder: a batch ends at every snapshot
// height, so that the snapshotter reads the state there before the next
// batch commits.
func (a applier) EndsBatch(height uint64) bool { return a.n.snaps.due(height) }

// Apply applies committed blocks in one batch, updates the mempool and the
// executed height, and wakes subscribers.
func (a applier) Apply(cs []ordering.Committed) ([]driver.ExecResult, error) {
	n := a.n
	start := time.Now()
	blocks := make([]*chain.Block, len(cs))
	certs := make([]*chain.Certificate, len(cs))
	for i, c := range cs {
		blocks[i], certs[i] = c.Block, c.Certificate
	}
	res, err := n.exec().ApplyBlocks(blocks, certs)
	if err != nil {
		return nil, err
	}
	if last := res[len(res)-1]; n.snaps.due(last.Height) {
		n.snaps.capture(last.Height, last.Hash)
	}
	perBlock := time.Since(start) / time.Duration(len(cs))
	out := make([]driver.ExecResult, len(cs))
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
		out[i] = driver.ExecResult{Height: r.Height, AppHash: r.AppHash}
	}
	last := res[len(res)-1].Height
	n.height.Store(last)
	n.host.SetHeight(last)
	select {
	case n.blockNotify <- struct{}{}:
	default:
	}
	return out, nil
}
