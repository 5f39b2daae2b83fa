package sim

import (
	"github.com/bafomet/bafomet/ordering"
	"github.com/bafomet/bafomet/ordering/driver"
)

// queuedBlock is a committed block waiting in a simulated executor.
type queuedBlock struct {
	c    ordering.Committed
	done uint64 // the tick it finishes executing
}

// executor is a node's simulated asynchronous executor (a
// driver.Executor): committed blocks queue and finish in order, at the
// next tick, or under FaultExec after a random delay drawn from the run's
// rng. Its queue is volatile: a crash loses it, so a node can crash after
// a commit and before the block is stored.
type executor struct {
	s     *Sim
	n     *node
	queue []queuedBlock
}

// Enqueue implements driver.Executor.
func (x *executor) Enqueue(cs []ordering.Committed) {
	s := x.s
	for _, c := range cs {
		want := x.n.store.height() + uint64(len(x.queue)) + 1
		if c.Block != nil && c.Block.Header.Height != want {
			s.check.order(x.n.slot, c.Block.Header.Height, want)
		}
		done := s.now + 1
		if s.cfg.Faults.Has(FaultExec) {
			done = s.now + 1 + uint64(s.rng.IntN(s.cfg.MaxExecDelayTicks))
		}
		if k := len(x.queue); k > 0 {
			done = max(done, x.queue[k-1].done)
		}
		x.queue = append(x.queue, queuedBlock{c: c, done: done})
	}
}

// Backlog implements driver.Executor.
func (x *executor) Backlog() int { return len(x.queue) }

// runExecutor executes n's blocks that are due and reports them to its
// driver.
func (s *Sim) runExecutor(n *node) {
	x := n.exec
	if s.now < s.fault.execStallEnd {
		return
	}
	var results []driver.ExecResult
	for len(x.queue) > 0 && x.queue[0].done <= s.now {
		c := x.queue[0].c
		x.queue[0] = queuedBlock{}
		x.queue = x.queue[1:]
		r, ok := s.execute(n, c)
		if !ok {
			break
		}
		results = append(results, r)
	}
	if len(results) > 0 {
		s.feed(n, n.drv.Executed(results))
	}
}

// execute stores one committed block with the fake state machine and
// checks it: order, certificate, agreement, validity.
func (s *Sim) execute(n *node, c ordering.Committed) (driver.ExecResult, bool) {
	if c.Block == nil {
		s.check.violate(KindOrder, where{nodes: []int{n.slot}}, "slot %d: core delivered a committed entry without a block", n.slot)
		return driver.ExecResult{}, false
	}
	h := c.Block.Header.Height
	if want := n.store.height() + 1; h != want {
		s.check.order(n.slot, h, want)
		return driver.ExecResult{}, false
	}
	app := n.store.execute(c.Block, c.Certificate)
	s.check.commit(n.slot, n.honest, c.Block, c.Certificate)
	for _, tx := range c.Block.Txs {
		n.pool.markDone(s.work.txHash(tx))
	}
	n.lastProgress = s.now
	return driver.ExecResult{Height: h, AppHash: app}, true
}
