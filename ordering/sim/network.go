package sim

import (
	"container/heap"
	"math/rand/v2"
)

// packetKind says what a packet's payload holds.
type packetKind uint8

const (
	kindConsensus packetKind = iota + 1 // an encoded ordering.Message
	kindSyncReq                         // an encoded syncRequest
	kindSyncResp                        // an encoded syncResponse
)

// packet is bytes in flight from one node slot to another.
type packet struct {
	from, to  int
	kind      packetKind
	payload   []byte
	deliverAt uint64
	seq       uint64 // tie-break: equal deliverAt deliver in send order
}

type packetHeap []*packet

func (h packetHeap) Len() int { return len(h) }
func (h packetHeap) Less(i, j int) bool {
	if h[i].deliverAt != h[j].deliverAt {
		return h[i].deliverAt < h[j].deliverAt
	}
	return h[i].seq < h[j].seq
}
func (h packetHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *packetHeap) Push(x any)   { *h = append(*h, x.(*packet)) }
func (h *packetHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return p
}

// NetStats counts what the virtual network did.
type NetStats struct {
	Sent       uint64 `json:"sent"`
	Delivered  uint64 `json:"delivered"`
	Dropped    uint64 `json:"dropped"`
	Duplicated uint64 `json:"duplicated"`
}

// netFaults are the network's current fault settings. The zero value is a
// healthy network: every packet arrives once after 1..maxDelay ticks.
type netFaults struct {
	dropPercent  int
	dupPercent   int
	reorderTicks int
}

// network is the seeded virtual network between node slots. Packets are
// delivered in (deliverAt, seq) order. Partitions drop packets between
// groups at delivery time; a clogged link holds its packets until it is
// unclogged (FoundationDB's swizzle-clogging).
type network struct {
	rng      *rand.Rand
	maxDelay int
	queue    packetHeap
	seq      uint64
	group    []int    // partition group of each slot; equal groups are connected
	clogged  [][]bool // clogged[from][to]
	slow     []int    // extra ticks on every packet to or from a slot
	faults   netFaults
	stats    NetStats
}

func newNetwork(rng *rand.Rand, slots, maxDelay int) *network {
	nw := &network{
		rng:      rng,
		maxDelay: maxDelay,
		group:    make([]int, slots),
		clogged:  make([][]bool, slots),
		slow:     make([]int, slots),
	}
	for i := range nw.clogged {
		nw.clogged[i] = make([]bool, slots)
	}
	return nw
}

// send puts payload in flight from one slot to another at tick now,
// applying loss, duplication and delay.
func (nw *network) send(now uint64, from, to int, kind packetKind, payload []byte) {
	nw.stats.Sent++
	if nw.faults.dropPercent > 0 && nw.rng.IntN(100) < nw.faults.dropPercent {
		nw.stats.Dropped++
		return
	}
	copies := 1
	if nw.faults.dupPercent > 0 && nw.rng.IntN(100) < nw.faults.dupPercent {
		copies = 2
		nw.stats.Duplicated++
	}
	for range copies {
		nw.seq++
		heap.Push(&nw.queue, &packet{
			from: from, to: to, kind: kind, payload: payload,
			deliverAt: now + nw.delay(from, to),
			seq:       nw.seq,
		})
	}
}

func (nw *network) delay(from, to int) uint64 {
	d := 1 + nw.rng.IntN(nw.maxDelay)
	if nw.faults.reorderTicks > 0 {
		d += nw.rng.IntN(nw.faults.reorderTicks + 1)
	}
	return uint64(d + nw.slow[from] + nw.slow[to])
}

// next pops the next packet due at or before now that may be delivered, or
// returns nil when none is due. Packets across a partition are dropped;
// packets on a clogged link are requeued for the next tick.
func (nw *network) next(now uint64) *packet {
	for len(nw.queue) > 0 && nw.queue[0].deliverAt <= now {
		p := heap.Pop(&nw.queue).(*packet)
		if nw.group[p.from] != nw.group[p.to] {
			nw.stats.Dropped++
			continue
		}
		if nw.clogged[p.from][p.to] {
			nw.seq++
			p.deliverAt, p.seq = now+1, nw.seq
			heap.Push(&nw.queue, p)
			continue
		}
		nw.stats.Delivered++
		return p
	}
	return nil
}

// partition splits the slots into groups; groups[i] is slot i's group.
func (nw *network) partition(groups []int) { copy(nw.group, groups) }

// partitioned reports whether any two slots are in different groups.
func (nw *network) partitioned() bool {
	for _, g := range nw.group {
		if g != nw.group[0] {
			return true
		}
	}
	return false
}

// heal removes every partition, clog and loss setting.
func (nw *network) heal() {
	for i := range nw.group {
		nw.group[i] = 0
		for j := range nw.clogged[i] {
			nw.clogged[i][j] = false
		}
	}
	nw.faults = netFaults{}
}

// inFlight returns the number of queued packets.
func (nw *network) inFlight() int { return len(nw.queue) }
