package p2p

import "sync/atomic"

// ProtoCounters counts the traffic of one protocol since the host started.
// "In" and "Out" count frames and payload bytes on the wire.
type ProtoCounters struct {
	MsgsIn     uint64
	MsgsOut    uint64
	BytesIn    uint64
	BytesOut   uint64
	DroppedOut uint64 // frames Send could not queue or a write failed to deliver
	DroppedIn  uint64 // frames received while the peer's inbound queue was full or the peer banned (the new frame is dropped)
	Malformed  uint64 // oversized or malformed frames received; each cost the sender its connection
	Refused    uint64 // streams reset because the peer was not admitted (or, for sync, too busy)
}

// Metrics is a snapshot of the host's counters.
type Metrics struct {
	Consensus ProtoCounters
	Tx        ProtoCounters
	Sync      ProtoCounters
	// PeersConnected is the number of configured peers (validators and
	// followers) that are connected and passed the hello check.
	PeersConnected int
	HelloRejected  uint64 // peers disconnected for a chain id, genesis or version mismatch
	GaterRefused   uint64 // connections and dials refused by the connection gater
	DialFailures   uint64 // failed dial attempts
	Bans           uint64 // bans that began (Host.Ban on a peer not banned then)
}

type protoCounters struct {
	msgsIn, msgsOut, bytesIn, bytesOut atomic.Uint64
	droppedOut, droppedIn              atomic.Uint64
	malformed, refused                 atomic.Uint64
}

type counters struct {
	proto         [numProtocols]protoCounters
	helloRejected atomic.Uint64
	gaterRefused  atomic.Uint64
	dialFailures  atomic.Uint64
	bans          atomic.Uint64
}

func (c *protoCounters) snapshot() ProtoCounters {
	return ProtoCounters{
		MsgsIn: c.msgsIn.Load(), MsgsOut: c.msgsOut.Load(),
		BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load(),
		DroppedOut: c.droppedOut.Load(), DroppedIn: c.droppedIn.Load(),
		Malformed: c.malformed.Load(), Refused: c.refused.Load(),
	}
}

// Metrics returns a snapshot of the host's counters.
func (h *Host) Metrics() Metrics {
	m := Metrics{
		Consensus:     h.ctr.proto[ProtoConsensus].snapshot(),
		Tx:            h.ctr.proto[ProtoTx].snapshot(),
		Sync:          h.ctr.proto[ProtoSync].snapshot(),
		HelloRejected: h.ctr.helloRejected.Load(),
		GaterRefused:  h.ctr.gaterRefused.Load(),
		DialFailures:  h.ctr.dialFailures.Load(),
		Bans:          h.ctr.bans.Load(),
	}
	for _, p := range h.peers {
		if p.isVerified() {
			m.PeersConnected++
		}
	}
	return m
}
