package sim

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
	"github.com/bafomet/bafomet/ordering/driver"
)

// Each simulated node runs the real driver.Driver around its core; these
// types are the simulated world it reaches through the driver's
// interfaces.

// errCrashPoint is what the simulated log returns when it crashes its
// node after writing records and before their messages leave.
var errCrashPoint = errors.New("simulated crash after a durable append")

// newDriver starts the driver of node n around core.
func (s *Sim) newDriver(n *node, core Replica) (*driver.Driver, error) {
	logger := s.opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return driver.New(driver.Config{
		Proposer:       s.vs.Validator(n.id).Address,
		ValidatorsHash: s.vs.Hash(),
		MaxBlockTxs:    s.cfg.MaxBlockTxs,
		MaxBlockBytes:  s.cfg.MaxBlockBytes,
		MaxFrameBytes:  s.cfg.MaxFrameBytes,
		Logger:         logger.With("seed", s.cfg.Seed, "slot", n.slot),
	}, driver.Deps{
		Core:        core,
		Log:         simLog{s, n},
		Transport:   simTransport{s, n},
		Executor:    n.exec,
		Mempool:     n.pool,
		Clock:       simClock{s, n},
		Sync:        simSync{n},
		Checkpoints: simCheckpoints{s, n},
		Observer:    simObserver{s, n},
	})
}

// feed handles what a driver input returned: a rejected input is counted,
// a crash point crashes the node, any other stop fails the run.
func (s *Sim) feed(n *node, err error) {
	switch {
	case err == nil:
	case errors.Is(err, errCrashPoint):
		s.crash(n)
	case errors.Is(err, driver.ErrStopped):
		s.fail(fmt.Errorf("%w: slot %d: %w", ErrSim, n.slot, err))
	default:
		s.stats.Rejected++
		s.logf("slot %d: %v", n.slot, err)
	}
}

// simLog is a node's consensus log: its storage. A record is durable when
// Append returns; under FaultCrash an append may crash the node right
// after the write.
type simLog struct {
	s *Sim
	n *node
}

func (l simLog) Append(recs []ordering.Record) error {
	l.n.store.persist(recs)
	for _, r := range recs {
		l.s.check.observe(r.Msg)
	}
	if l.s.crashAtAppend() {
		l.s.scheduleRestart(l.n)
		return errCrashPoint
	}
	return nil
}

func (l simLog) Prune(height uint64) error {
	l.n.store.prune(height)
	return nil
}

// simTransport is the virtual network. A Byzantine node's messages pass
// through its attacks.
type simTransport struct {
	s *Sim
	n *node
}

func (t simTransport) Send(to int, m *ordering.Message, frame []byte) {
	s, n := t.s, t.n
	if n.byz != nil {
		s.byzSend(n, ordering.Outbound{To: to, Msg: m})
		return
	}
	s.check.observe(m)
	s.sendFrame(n, m, frame, s.targets(n, to))
}

// simClock is a node's local clock: virtual time plus its skew.
type simClock struct {
	s *Sim
	n *node
}

func (c simClock) Now() time.Time { return time.UnixMilli(int64(c.s.clockMs(c.n))) }

// simSync records the core's block-sync hints; needsSync acts on them.
type simSync struct{ n *node }

func (y simSync) Hint(height uint64) { y.n.syncHint = max(y.n.syncHint, height) }

// simCheckpoints stores stable checkpoints in the node's storage.
type simCheckpoints struct {
	s *Sim
	n *node
}

func (c simCheckpoints) SaveStable(p *ordering.CheckpointProof) error {
	c.n.store.setStable(p)
	c.s.noteStable(c.n, p)
	return nil
}

// simObserver keeps the node's soft state and the run's counters.
type simObserver struct {
	s *Sim
	n *node
}

func (o simObserver) SoftState(ss ordering.SoftState) {
	entered := ss.View > o.n.soft.View || (ss.View == o.n.soft.View && o.n.soft.InViewChange)
	o.n.soft = ss
	o.n.maxView = max(o.n.maxView, ss.View)
	if entered && !ss.InViewChange && ss.View > 0 {
		o.s.noteNewView()
	}
}

func (o simObserver) Evidence(ev []ordering.Evidence) { o.s.stats.Evidence += uint64(len(ev)) }

func (o simObserver) SyncedTaken(uint64) { o.s.stats.SyncedBlocks++ }

func (o simObserver) Oversize(*ordering.Message, int) { o.s.stats.Oversize++ }

// The pool is the node's driver.Mempool.

// NumReady implements driver.Mempool.
func (p *pool) NumReady() int { return p.pending }

// NumReapable implements driver.Mempool: pending transactions that no
// proposal of this node holds.
func (p *pool) NumReapable() int { return p.pending - len(p.inflight) }

// Reap implements driver.Mempool.
func (p *pool) Reap(maxTxs, maxBytes int) driver.Batch {
	var b driver.Batch
	for _, i := range p.reap(p.work, maxTxs, maxBytes) {
		tx := p.work.txs[i]
		b.Txs = append(b.Txs, tx.raw)
		b.Senders = append(b.Senders, tx.sender)
		b.Hashes = append(b.Hashes, tx.hash)
		p.inflight[tx.hash] = struct{}{}
	}
	return b
}

// Release implements driver.Mempool.
func (p *pool) Release(hashes []chain.Hash) {
	for _, h := range hashes {
		delete(p.inflight, h)
	}
}

// ReleaseProposed implements driver.Mempool.
func (p *pool) ReleaseProposed() { clear(p.inflight) }
