package sim

import (
	"fmt"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
)

// pool is a node's volatile mempool: submitted transactions in arrival
// order, minus the ones this node saw committed.
type pool struct {
	order    []int                   // workload indices
	head     int                     // order[:head] are all committed
	done     map[chain.Hash]struct{} // committed, by tx hash
	inflight map[chain.Hash]struct{} // proposed by this node, not yet committed
	member   map[chain.Hash]struct{} // every tx ever added
	pending  int                     // entries of order not yet committed
}

func newPool() *pool {
	return &pool{
		done:     make(map[chain.Hash]struct{}),
		inflight: make(map[chain.Hash]struct{}),
		member:   make(map[chain.Hash]struct{}),
	}
}

// node is one simulated node slot: a replica and the driver around it,
// exactly as the real node drives a core.
type node struct {
	slot    int
	id      int // validator index (twins share one)
	honest  bool
	twin    bool // the second slot of a twinned Byzantine validator
	up      bool
	core    Replica
	store   *storage
	pool    *pool
	skewMs  int64
	propose *ordering.ProposalSlot // the slot the core last offered, until used
	soft    ordering.SoftState
	maxView uint64

	lastSync     uint64 // tick of the last sync request
	syncing      bool   // a restart or a lag asks for block sync
	lastProgress uint64 // tick of the last executed block
	byz          *byzantine
}

// clockMs is the node's local clock: virtual time plus its skew.
func (s *Sim) clockMs(n *node) uint64 {
	t := int64(genesisTimeMs + s.now*s.cfg.TickMs)
	return uint64(t + n.skewMs)
}

// drain runs the driver loop until the core has nothing more to say:
// persist, send, execute, Advance; then proposes if the core offered a
// slot and the pool has transactions.
func (s *Sim) drain(n *node) {
	for round := 0; n.up; round++ {
		for n.up && n.core.HasReady() {
			rd := n.core.Ready()
			if rd.SignErr != nil {
				s.fail(fmt.Errorf("%w: slot %d: %w", ErrSim, n.slot, rd.SignErr))
				return
			}
			n.store.persist(rd.Persist)
			for _, r := range rd.Persist {
				s.check.observe(r.Msg)
			}
			s.sendAll(n, rd.Messages)
			n.store.setStable(rd.Stable)
			s.stats.Evidence += uint64(len(rd.Evidence))
			for _, c := range rd.Committed {
				s.execute(n, c)
			}
			s.noteSoft(n, rd.SoftState)
			if rd.Propose != nil {
				n.propose = rd.Propose
			}
			n.core.Advance(rd)
		}
		if !n.up || !s.tryPropose(n) {
			return
		}
	}
}

func (s *Sim) noteSoft(n *node, ss ordering.SoftState) {
	if ss.View != n.soft.View {
		// A new view voids proposals in flight; their txs may be reaped again.
		clear(n.pool.inflight)
		if n.propose != nil && n.propose.View != ss.View {
			n.propose = nil
		}
	}
	n.soft = ss
	if ss.View > n.maxView {
		n.maxView = ss.View
	}
}

// execute applies one committed block: fake state machine, checker, pool,
// then Executed.
func (s *Sim) execute(n *node, c ordering.Committed) {
	if c.Block == nil {
		s.check.violate(KindOrder, "slot %d: core delivered a committed entry without a block", n.slot)
		return
	}
	h := c.Block.Header.Height
	if want := n.store.height() + 1; h != want {
		s.check.order(n.slot, h, want)
		return
	}
	app := n.store.execute(c.Block, c.Certificate)
	s.check.commit(n.slot, n.honest, c.Block, c.Certificate)
	for _, tx := range c.Block.Txs {
		n.pool.markDone(txHash(tx))
	}
	n.lastProgress = s.now
	n.core.Executed(h, app)
	n.core.NotePending(n.pool.pending > 0)
}

// sendAll encodes each outbound message once and sends it to every slot it
// is addressed to. A Byzantine node's messages pass through its attacks.
func (s *Sim) sendAll(n *node, out []ordering.Outbound) {
	for _, o := range out {
		if o.Msg == nil {
			continue
		}
		if n.byz != nil {
			s.byzSend(n, o)
			continue
		}
		s.check.observe(o.Msg)
		s.sendMsg(n, o.Msg, s.targets(n, o.To))
	}
}

// targets lists the slots a message to validator to reaches: every slot of
// that identity, or for Broadcast every slot of every other identity.
func (s *Sim) targets(n *node, to int) []int {
	var slots []int
	for _, m := range s.nodes {
		if m.id == n.id {
			continue
		}
		if to == ordering.Broadcast || m.id == to {
			slots = append(slots, m.slot)
		}
	}
	return slots
}

func (s *Sim) sendMsg(n *node, m *ordering.Message, slots []int) {
	if len(slots) == 0 {
		return
	}
	payload, err := encodeMessage(m)
	if err != nil {
		s.fail(fmt.Errorf("slot %d: encode message type %d: %w", n.slot, m.Type, err))
		return
	}
	for _, to := range slots {
		if s.drop != nil && s.drop(n.slot, to, m) {
			s.net.stats.Sent++
			s.net.stats.Dropped++
			continue
		}
		s.net.send(s.now, n.slot, to, kindConsensus, payload)
	}
}

// tryPropose builds and proposes a block when the core offered a slot and
// the pool holds unproposed transactions. It reports whether it proposed.
func (s *Sim) tryPropose(n *node) bool {
	slot := n.propose
	if slot == nil {
		return false
	}
	idx := n.pool.reap(s.work, s.cfg.MaxBlockTxs, s.cfg.MaxBlockBytes)
	if len(idx) == 0 {
		return false
	}
	n.propose = nil
	b := s.buildBlock(n, slot, idx)
	if err := n.core.Propose(b); err != nil {
		s.logf("slot %d: propose height %d view %d: %v", n.slot, slot.Height, slot.View, err)
		return false
	}
	for _, i := range idx {
		n.pool.inflight[s.work.txs[i].hash] = struct{}{}
	}
	return true
}

// buildBlock fills a block for slot with the given transactions, stamped
// with max(local clock, parent timestamp + 1).
func (s *Sim) buildBlock(n *node, slot *ordering.ProposalSlot, idx []int) *chain.Block {
	b := &chain.Block{}
	for _, i := range idx {
		b.Txs = append(b.Txs, s.work.txs[i].raw)
		b.Senders = append(b.Senders, s.work.txs[i].sender)
	}
	b.Header = chain.Header{
		Height:         slot.Height,
		ParentHash:     slot.ParentHash,
		Timestamp:      max(s.clockMs(n), slot.ParentTimestamp+1),
		Proposer:       s.vs.Validator(n.id).Address,
		TxRoot:         chain.TxRoot(b.Txs, b.Senders),
		AppHash:        slot.AppHash,
		ValidatorsHash: s.vs.Hash(),
	}
	return b
}

// add puts submitted transaction i, with hash h, in the pool.
func (p *pool) add(i int, h chain.Hash) {
	if _, ok := p.done[h]; ok {
		return
	}
	p.order = append(p.order, i)
	p.member[h] = struct{}{}
	p.pending++
}

// markDone records that the node saw tx committed.
func (p *pool) markDone(h chain.Hash) {
	if _, ok := p.done[h]; ok {
		return
	}
	p.done[h] = struct{}{}
	delete(p.inflight, h)
	if _, ok := p.member[h]; ok {
		p.pending--
	}
}

// reap returns up to maxTxs uncommitted, unproposed transactions in arrival
// order whose total size fits maxBytes, and recounts pending.
func (p *pool) reap(w *workload, maxTxs, maxBytes int) []int {
	for p.head < len(p.order) {
		if _, ok := p.done[w.txs[p.order[p.head]].hash]; !ok {
			break
		}
		p.head++
	}
	if p.head > len(p.order)/2 {
		p.order = append(p.order[:0:0], p.order[p.head:]...)
		p.head = 0
	}
	var out []int
	size, pending := 0, 0
	for _, i := range p.order[p.head:] {
		tx := w.txs[i]
		if _, ok := p.done[tx.hash]; ok {
			continue
		}
		pending++
		if _, ok := p.inflight[tx.hash]; ok || len(out) >= maxTxs || size+len(tx.raw) > maxBytes {
			continue
		}
		out = append(out, i)
		size += len(tx.raw)
	}
	p.pending = pending
	return out
}
