package p2p

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// enqueueConsensus queues a consensus frame from p for the merge, or drops
// it, counted for the protocol and for p, when p's queue is full or p is
// banned.
func (h *Host) enqueueConsensus(p *peerState, in Inbound) {
	if p.bannedFor(now()) == 0 {
		select {
		case p.in <- in:
			select { // wake the merge; a pending wake-up covers this frame too
			case h.inWake <- struct{}{}:
			default:
			}
			return
		default:
		}
	}
	h.ctr.proto[ProtoConsensus].droppedIn.Add(1)
	p.droppedIn.Add(1)
}

// mergeInbound is the one goroutine that feeds Inbound(): it visits the
// validators' queues round-robin and hands over at most one frame from
// each per visit, so every peer gets an equal share of the consumer
// whatever the others send. Frames of a peer banned since they were
// queued are dropped.
func (h *Host) mergeInbound() {
	var peers []*peerState
	for _, p := range h.peers {
		if p.in != nil {
			peers = append(peers, p)
		}
	}
	next := 0
	for {
		in, ok := takeRoundRobin(peers, &next)
		if !ok {
			select {
			case <-h.ctx.Done():
				return
			case <-h.inWake:
			}
			continue
		}
		if p := h.byIdx[in.From]; p != nil && p.bannedFor(now()) > 0 {
			h.ctr.proto[ProtoConsensus].droppedIn.Add(1)
			p.droppedIn.Add(1)
			continue
		}
		select {
		case h.inbound <- in:
		case <-h.ctx.Done():
			return
		}
	}
}

// takeRoundRobin takes one frame from the first non-empty queue at or after
// peers[*next], and moves *next past it. It reports false when every queue
// is empty.
func takeRoundRobin(peers []*peerState, next *int) (Inbound, bool) {
	for range peers {
		p := peers[*next]
		*next = (*next + 1) % len(peers)
		select {
		case in := <-p.in:
			return in, true
		default:
		}
	}
	return Inbound{}, false
}

// Ban disconnects validator index and refuses it for d: its connections
// (at the gater), its streams and its queued and new frames; the keeper
// does not dial it until the ban ends. A ban in force is extended, never
// shortened. The node decides whom to ban; reason is logged. Ban reports
// false, doing nothing, for an index that is not a peer's or a d ≤ 0.
func (h *Host) Ban(index int, d time.Duration, reason string) bool {
	p := h.byIdx[index]
	if p == nil || d <= 0 {
		return false
	}
	t := now()
	if p.ban(t, t.Add(d)) {
		h.ctr.bans.Add(1)
		h.log.Warn("p2p: peer banned; disconnecting", "peer", p.index, "id", p.id, "for", d, "reason", reason)
	}
	p.setDown()
	p.poke()
	if err := h.host.Network().ClosePeer(p.id); err != nil {
		h.log.Debug("p2p: closing banned peer", "peer", p.index, "err", err)
	}
	return true
}

// bannedID reports whether the peer with id is banned now (for the gater).
func (h *Host) bannedID(id peer.ID) bool {
	p := h.byID[id]
	return p != nil && p.bannedFor(now()) > 0
}
