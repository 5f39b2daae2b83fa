package ordering

import (
	"github.com/bafomet/bafomet/chain"
)

// MsgType names a consensus message.
type MsgType uint8

// Consensus message types.
const (
	MsgPrePrepare MsgType = 1
	MsgPrepare    MsgType = 2
	MsgCommit     MsgType = 3
	MsgCheckpoint MsgType = 4
	MsgViewChange MsgType = 5
	MsgNewView    MsgType = 6
)

// Message is a signed consensus message. Which optional fields are set
// depends on Type:
//
//	PrePrepare: View, Height, Digest = block hash, Block
//	Prepare:    View, Height, Digest = block hash
//	Commit:     View, Height, Digest = block hash; Signature is over
//	            chain.CommitDigest so commits assemble into a Certificate
//	Checkpoint: Height, Digest = appHash after Height
//	ViewChange: View = the new view, ViewChange
//	NewView:    View = the new view, NewView
//
// Signature covers every field but itself (see SigningDigest).
type Message struct {
	Type       MsgType
	From       uint32 // validator index of the signer
	View       uint64
	Height     uint64
	Digest     chain.Hash
	Block      *chain.Block `rlp:"nil"`
	ViewChange *ViewChange  `rlp:"nil"`
	NewView    *NewView     `rlp:"nil"`
	Signature  []byte
}

// PreparedProof proves that a block was prepared at (View, Height): the
// primary's pre-prepare and quorum−1 matching prepares from other validators.
type PreparedProof struct {
	PrePrepare *Message
	Prepares   []*Message
}

// CheckpointProof is a stable checkpoint: a quorum of matching signed
// Checkpoint messages for one (height, appHash).
type CheckpointProof struct {
	Height      uint64
	AppHash     chain.Hash
	Checkpoints []*Message
}

// ViewChange is the body of a view-change message: the sender's latest stable
// checkpoint and every block it prepared above it.
type ViewChange struct {
	Checkpoint *CheckpointProof `rlp:"nil"`
	Prepared   []*PreparedProof
}

// NewView is the body of a new-view message: the quorum of view changes that
// justify the view, and the pre-prepares the new primary re-issues for the
// blocks carried forward.
type NewView struct {
	ViewChanges []*Message
	PrePrepares []*Message
}

// Signer signs digests with this validator's key. Signatures must be
// deterministic for a given digest (secp256k1 with RFC 6979 nonces is).
type Signer interface {
	Sign(digest chain.Hash) ([]byte, error)
}

// ProposalChecker validates a proposed block's contents on a backup, beyond
// what the core itself checks (height, parent, timestamp, proposer, limits).
// The node checks that every transaction decodes, is signed and fits the
// block limits; the simulator checks that it was submitted. It must be
// deterministic for a given block.
type ProposalChecker interface {
	CheckProposal(b *chain.Block) error
}

// Outbound is a message to send. To is a validator index, or Broadcast.
type Outbound struct {
	To  int
	Msg *Message
}

// Broadcast as Outbound.To sends a message to every other validator.
const Broadcast = -1

// Committed is a block the network committed, with its certificate.
// Ready delivers them in height order with no gap.
type Committed struct {
	Block       *chain.Block
	Certificate *chain.Certificate
}

// Evidence is a pair of conflicting messages signed by one validator.
type Evidence struct {
	A, B *Message
}

// SoftState is volatile state the driver may display; it is not persisted.
type SoftState struct {
	View         uint64
	Primary      int
	InViewChange bool
}

// Ready holds the core's outputs after an input. The driver must, in order:
//  1. durably persist Persist (fsync),
//  2. send Messages,
//  3. execute Committed blocks in order and report each with Executed,
//  4. call Advance(rd).
type Ready struct {
	Persist    []*Message // signed messages to store BEFORE Messages leave
	Messages   []Outbound
	Committed  []Committed
	Stable     *CheckpointProof // a checkpoint that became stable, if any
	Evidence   []Evidence
	SoftState  SoftState
	ProposeNow bool // this node is primary and may propose the next height
}

// Config configures a core. All durations are in ticks.
type Config struct {
	ChainID    string
	Validators *chain.ValidatorSet
	Self       int // this validator's index
	Signer     Signer
	Checker    ProposalChecker

	CheckpointInterval   uint64 // heights between checkpoints
	PipelineWindow       uint64 // heights in flight at once (≥ 1)
	MaxBlockTxs          int
	MaxBlockBytes        int
	ViewChangeTimeout    int    // ticks without progress before a view change
	ViewChangeTimeoutMax int    // cap on the exponentially backed-off timeout
	MaxClockDriftMs      uint64 // how far a proposal's timestamp may be ahead of local time

	// WeakenQuorum lowers the quorum to f+1. It exists only so the
	// simulator can prove its checkers catch a fork; node refuses it.
	WeakenQuorum bool
}

// Restore is the persistent state a core starts from.
type Restore struct {
	Height         uint64           // last executed height (0 = genesis only)
	BlockHash      chain.Hash       // hash of that block (genesis hash at 0)
	BlockTimestamp uint64           // its timestamp, unix ms
	AppHashes      []AppHashAt      // appHash after each of the last PipelineWindow executed heights
	Stable         *CheckpointProof `rlp:"nil"`
	Records        []*Message       // every message this node signed and persisted, oldest first
}

// AppHashAt is the appHash after executing Height.
type AppHashAt struct {
	Height  uint64
	AppHash chain.Hash
}
