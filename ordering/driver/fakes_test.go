package driver

import (
	"errors"
	"fmt"
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
)

// journal records the driver's calls on its dependencies, in order.
type journal struct{ calls []string }

func (j *journal) add(format string, args ...any) {
	j.calls = append(j.calls, fmt.Sprintf(format, args...))
}

// fakeCore is a scripted core: it hands out the queued Readys one by one.
type fakeCore struct {
	j          *journal
	readys     []ordering.Ready
	soft       ordering.SoftState
	stepErr    error
	certErr    error
	ticks      []uint64
	executed   []uint64
	certified  []uint64
	pending    []bool
	proposed   []*chain.Block
	proposeErr error
	// executedCh, when set, receives every executed height too.
	executedCh chan uint64
}

func (c *fakeCore) Step(*ordering.Message) error { c.j.add("step"); return c.stepErr }
func (c *fakeCore) Tick(nowMs uint64)            { c.ticks = append(c.ticks, nowMs) }
func (c *fakeCore) Propose(b *chain.Block) error {
	if c.proposeErr != nil {
		return c.proposeErr
	}
	c.proposed = append(c.proposed, b)
	return nil
}
func (c *fakeCore) Executed(h uint64, _ chain.Hash) {
	c.executed = append(c.executed, h)
	if c.executedCh != nil {
		c.executedCh <- h
	}
}
func (c *fakeCore) NotePending(p bool) { c.pending = append(c.pending, p) }
func (c *fakeCore) StepCertified(b *chain.Block, _ *chain.Certificate) error {
	if c.certErr != nil {
		return c.certErr
	}
	c.certified = append(c.certified, b.Header.Height)
	return nil
}
func (c *fakeCore) SoftState() ordering.SoftState { return c.soft }
func (c *fakeCore) HasReady() bool                { return len(c.readys) > 0 }
func (c *fakeCore) Ready() ordering.Ready         { return c.readys[0] }
func (c *fakeCore) Advance(rd ordering.Ready) {
	c.j.add("advance")
	c.readys = c.readys[1:]
	c.soft = rd.SoftState
}

type fakeLog struct {
	j         *journal
	appendErr error
	records   []ordering.Record
	pruned    []uint64
}

func (l *fakeLog) Append(recs []ordering.Record) error {
	l.j.add("append %d", len(recs))
	if l.appendErr != nil {
		return l.appendErr
	}
	l.records = append(l.records, recs...)
	return nil
}

func (l *fakeLog) Prune(h uint64) error {
	l.j.add("prune %d", h)
	l.pruned = append(l.pruned, h)
	return nil
}

type fakeTransport struct {
	j      *journal
	frames [][]byte
}

func (t *fakeTransport) Send(to int, m *ordering.Message, frame []byte) {
	t.j.add("send %s to %d", m.Type, to)
	t.frames = append(t.frames, frame)
}

type fakeExec struct {
	j       *journal
	backlog int
}

func (x *fakeExec) Enqueue(cs []ordering.Committed) {
	x.j.add("enqueue %d", len(cs))
	x.backlog += len(cs)
}
func (x *fakeExec) Backlog() int { return x.backlog }

type fakePool struct {
	j        *journal
	ready    int
	reapable int
	released int
}

func (p *fakePool) NumReady() int    { return p.ready }
func (p *fakePool) NumReapable() int { return p.reapable }
func (p *fakePool) Reap(maxTxs, _ int) Batch {
	n := min(p.reapable, maxTxs)
	var b Batch
	for i := range n {
		b.Txs = append(b.Txs, []byte{byte(i)})
		b.Senders = append(b.Senders, chain.Address{byte(i)})
		b.Hashes = append(b.Hashes, chain.Hash{byte(i)})
	}
	p.reapable -= n
	return b
}
func (p *fakePool) Release(h []chain.Hash) { p.reapable += len(h) }
func (p *fakePool) ReleaseProposed()       { p.j.add("release-proposed"); p.released++ }

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

type fakeSync struct{ hints []uint64 }

func (s *fakeSync) Hint(h uint64) { s.hints = append(s.hints, h) }

type fakeCheckpoints struct {
	j     *journal
	err   error
	saved []uint64
}

func (c *fakeCheckpoints) SaveStable(p *ordering.CheckpointProof) error {
	c.j.add("save %d", p.Height)
	if c.err != nil {
		return c.err
	}
	c.saved = append(c.saved, p.Height)
	return nil
}

// rig is a driver on fakes.
type rig struct {
	j     *journal
	core  *fakeCore
	log   *fakeLog
	net   *fakeTransport
	exec  *fakeExec
	pool  *fakePool
	clock *fakeClock
	sync  *fakeSync
	cps   *fakeCheckpoints
}

var errDisk = errors.New("disk on fire")

func newRig() *rig {
	j := &journal{}
	return &rig{
		j: j, core: &fakeCore{j: j}, log: &fakeLog{j: j}, net: &fakeTransport{j: j}, exec: &fakeExec{j: j},
		pool: &fakePool{j: j}, clock: &fakeClock{now: time.UnixMilli(1_700_000_000_000)}, sync: &fakeSync{},
		cps: &fakeCheckpoints{j: j},
	}
}

func (r *rig) deps() Deps {
	return Deps{Core: r.core, Log: r.log, Transport: r.net, Executor: r.exec, Mempool: r.pool,
		Clock: r.clock, Sync: r.sync, Checkpoints: r.cps}
}

func (r *rig) driver(cfg Config) *Driver {
	d, err := New(cfg, r.deps())
	if err != nil {
		panic(err)
	}
	r.j.calls = nil
	return d
}

func prepare(view, height uint64) *ordering.Message {
	return &ordering.Message{Type: ordering.MsgPrepare, From: 1, View: view, Height: height,
		Digest: chain.Hash{byte(height)}, Signature: make([]byte, 65)}
}

func block(h uint64) *chain.Block {
	return &chain.Block{Header: chain.Header{Height: h, Timestamp: 1_700_000_000_000 + h}}
}
