package sim

import (
	"fmt"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
	"github.com/bafomet/bafomet/ordering/driver"
)

// pool is a node's volatile mempool: submitted transactions in arrival
// order, minus the ones this node saw committed.
type pool struct {
	work     *workload
	order    []int                   // workload indices
	head     int                     // order[:head] are all committed
	done     map[chain.Hash]struct{} // committed, by tx hash
	inflight map[chain.Hash]struct{} // proposed by this node, not yet committed
	member   map[chain.Hash]struct{} // every tx ever added
	pending  int                     // entries of order not yet committed
}

func newPool(w *workload) *pool {
	return &pool{
		work:     w,
		done:     make(map[chain.Hash]struct{}),
		inflight: make(map[chain.Hash]struct{}),
		member:   make(map[chain.Hash]struct{}),
	}
}

// node is one simulated node slot: a replica driven by the real
// driver.Driver over the simulated world (ports.go).
type node struct {
	slot    int
	id      int // validator index (twins share one)
	honest  bool
	twin    bool // the second slot of a twinned Byzantine validator
	up      bool
	drv     *driver.Driver
	store   *storage
	pool    *pool
	exec    *executor
	skewMs  int64
	soft    ordering.SoftState
	maxView uint64

	lastSync     uint64 // tick of the last sync request
	syncing      bool   // a restart asks for block sync
	syncHint     uint64 // the highest height the core asked to sync to
	lastProgress uint64 // tick of the last executed block
	byz          *byzantine
}

// clockMs is the node's local clock: virtual time plus its skew.
func (s *Sim) clockMs(n *node) uint64 {
	t := int64(genesisTimeMs + s.now*s.cfg.TickMs)
	return uint64(t + n.skewMs)
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

// sendMsg encodes m and sends it to slots (a Byzantine node's own sends).
func (s *Sim) sendMsg(n *node, m *ordering.Message, slots []int) {
	if len(slots) == 0 {
		return
	}
	payload, err := encodeMessage(m)
	if err != nil {
		s.fail(fmt.Errorf("slot %d: encode message type %d: %w", n.slot, m.Type, err))
		return
	}
	s.sendFrame(n, m, payload, slots)
}

// sendFrame puts an encoded message on the network to every slot, unless
// it exceeds the frame limit, which every simulated send enforces as the
// node's transport does.
func (s *Sim) sendFrame(n *node, m *ordering.Message, payload []byte, slots []int) {
	if len(payload) > s.cfg.MaxFrameBytes {
		s.stats.Oversize++
		s.logf("slot %d: %s of %d bytes over the frame limit: not sent", n.slot, m.Type, len(payload))
		return
	}
	for _, to := range slots {
		if (s.drop != nil && s.drop(n.slot, to, m)) || s.commitLost(n, to, m) {
			s.net.stats.Sent++
			s.net.stats.Dropped++
			continue
		}
		s.net.send(s.now, n.slot, to, kindConsensus, payload)
	}
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
