package p2p

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/protocol"
)

// Protocol names one of bafomet's wire protocols.
type Protocol uint8

// The wire protocols. Consensus and Tx are one-way streams of frames, one
// long-lived stream per peer and direction; Sync is request/response, one
// fresh stream per request.
const (
	ProtoConsensus Protocol = iota
	ProtoTx
	ProtoSync
	numProtocols
)

// numStreamed is the number of protocols that Send and Broadcast carry.
const numStreamed = 2

// Protocol IDs on the wire. A version bump gets a new ID.
const (
	HelloID     protocol.ID = "/bafomet/hello/1"
	ConsensusID protocol.ID = "/bafomet/consensus/1"
	TxID        protocol.ID = "/bafomet/tx/1"
	SyncID      protocol.ID = "/bafomet/sync/1"
)

// ID returns the protocol's versioned libp2p ID.
func (p Protocol) ID() protocol.ID {
	switch p {
	case ProtoConsensus:
		return ConsensusID
	case ProtoTx:
		return TxID
	case ProtoSync:
		return SyncID
	}
	return ""
}

// String returns a short name for logs and metrics labels.
func (p Protocol) String() string {
	switch p {
	case ProtoConsensus:
		return "consensus"
	case ProtoTx:
		return "tx"
	case ProtoSync:
		return "sync"
	}
	return fmt.Sprintf("protocol(%d)", uint8(p))
}

// streamed reports whether Send and Broadcast accept p.
func (p Protocol) streamed() bool { return p == ProtoConsensus || p == ProtoTx }

// frameMax returns the frame payload limit for a streamed protocol.
func (l Limits) frameMax(p Protocol) int {
	if p == ProtoTx {
		return l.TxFrameMax
	}
	return l.ConsensusFrameMax
}
