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

// The core (core.go) is driven through these methods; none of them starts a
// goroutine, reads a clock or does I/O:
//
//	New(cfg Config, r Restore) (*Core, error)
//	(*Core).Step(m *Message) error      // a message from a peer (the core verifies it)
//	(*Core).Tick(nowMs uint64)          // one tick passed; nowMs is the local clock
//	(*Core).Propose(b *chain.Block) error // this node is primary: propose for Ready.Propose
//	(*Core).Executed(height uint64, appHash chain.Hash) // the driver executed a committed block
//	(*Core).NotePending(pending bool)   // the driver holds transactions waiting to be ordered
//	(*Core).StepCertified(b *chain.Block, c *chain.Certificate) error // a committed block learned by block sync
//	(*Core).SoftState() SoftState      // view, primary, heights, Behind
//	(*Core).HasReady() bool
//	(*Core).Ready() Ready
//	(*Core).Advance(rd Ready)

// Message is a signed consensus message. Which optional fields are set
// depends on Type:
//
//	PrePrepare: View, Height, Digest = block hash, Block
//	Prepare:    View, Height, Digest = block hash
//	Commit:     View, Height, Digest = block hash; Signature is over
//	            chain.CommitDigest so commits assemble into a Certificate
//	Checkpoint: View = the signer's view, Height, Digest = block hash at
//	            Height, AppHash = appHash after Height
//	ViewChange: View = the new view, Height = the height this record must
//	            survive pruning at (the signer's high watermark), ViewChange
//	NewView:    View = the new view, Height as for ViewChange, NewView
//
// Signature covers every field but itself (see SigningDigest).
type Message struct {
	Type       MsgType
	From       uint32 // validator index of the signer
	View       uint64
	Height     uint64
	Digest     chain.Hash
	AppHash    chain.Hash   // Checkpoint only; zero otherwise
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
// Checkpoint messages for one (height, blockHash, appHash). It pins both the
// chain and the state at Height.
type CheckpointProof struct {
	Height      uint64
	BlockHash   chain.Hash
	AppHash     chain.Hash
	Checkpoints []*Message
}

// ViewChange is the body of a view-change message: the sender's latest stable
// checkpoint, the commit certificates of every height it committed above
// that checkpoint (increasing heights), and every certificate it prepared
// above the highest of them, each pre-prepare carrying only its block's
// header (the blocks travel as pre-prepares of their own; see doc.go).
type ViewChange struct {
	Checkpoint *CheckpointProof `rlp:"nil"`
	Prepared   []*PreparedProof
	Committed  []*chain.Certificate `rlp:"optional"`
}

// NewView is the body of a new-view message: the quorum of view changes that
// justify the view, and the pre-prepares the new primary re-issues for the
// blocks carried forward, each carrying only its block's header (the
// primary sends each in full right after).
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
	Committed    uint64 // highest height delivered in Ready.Committed (or restored)
	Executed     uint64 // highest height reported with Executed
	Stable       uint64 // height of the latest stable checkpoint
	// Behind is non-zero when a stable proof, f+1 validators' checkpoints
	// or a quorum of commits vouch for a height above Committed that this
	// node cannot reach by itself: the driver should block-sync up to at
	// least this height and feed the blocks through StepCertified.
	Behind uint64
}

// Ready holds the core's outputs after an input. The driver stops on a
// non-nil SignErr; otherwise it must, in order:
//  1. durably persist Persist (fsync),
//  2. send Messages,
//  3. execute Committed blocks in order and report each with Executed,
//  4. call Advance(rd).
type Ready struct {
	Persist   []Record // messages to store BEFORE Messages leave: this node's signed ones, the prepared certificates it commits on, and the NewView it entered its view by
	Messages  []Outbound
	Committed []Committed
	Stable    *CheckpointProof // a checkpoint that became stable, if any
	Evidence  []Evidence
	SoftState SoftState
	Propose   *ProposalSlot // non-nil: this node is primary and may propose this slot now
	// SignErr is set once the Signer failed: the core could not sign a
	// message it had to (a vote, a view change, a checkpoint), so the
	// driver must stop the node rather than run on without it.
	SignErr error
}

// Record is a message the driver persists, with the height that decides
// when the driver may discard it: once a stable checkpoint reaches Height.
// Height is the message's own height for votes and checkpoints; records
// that pin this node's view (its view change, the NewView of its view) are
// handed out again with a higher Height whenever a stable checkpoint would
// otherwise prune them, so a restart always finds them.
type Record struct {
	Msg    *Message
	Height uint64
}

// ProposalSlot tells the primary's driver what the next block must carry.
// The driver fills Txs/Senders from its mempool, sets Timestamp to
// max(its clock, ParentTimestamp+1), and calls Core.Propose.
type ProposalSlot struct {
	View            uint64
	Height          uint64
	ParentHash      chain.Hash
	ParentTimestamp uint64     // unix ms
	AppHash         chain.Hash // appHash after Height − PipelineWindow
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

	// LogWindow bounds the message log: heights in (stable, stable+LogWindow]
	// are accepted, everything else is dropped. ≥ PipelineWindow and ≥
	// CheckpointInterval; 0 means DefaultLogWindowFactor×CheckpointInterval.
	LogWindow uint64
	// While stuck, a node re-sends its latest messages after
	// RetransmitTicks, then at intervals that double up to
	// RetransmitTicksMax; it never stops, so a network that heals after any
	// outage hears from it again within RetransmitTicksMax ticks. Progress,
	// or a peer joining its view change, restarts at RetransmitTicks.
	RetransmitTicks    int
	RetransmitTicksMax int // 0 means DefaultRetransmitBackoff × RetransmitTicks
	MaxEvidence        int // evidence pairs buffered in Ready before more are dropped

	// Revert switches fixes off (see Revert). It exists only so the
	// simulator can show that its checkers catch each defect a fix
	// prevents; node never sets it.
	Revert Revert

	// WeakenQuorum lowers the quorum to f+1. It exists only so the
	// simulator can prove its checkers catch a fork; node refuses it.
	WeakenQuorum bool
}

// Revert names fixes that Config.Revert switches off, one bit each.
type Revert uint8

// Fixes Config.Revert can switch off.
const (
	// RevertNewViewRecord: a backup neither persists nor restores the
	// NewView it entered its view by (a restart forgets decided heights).
	RevertNewViewRecord Revert = 1 << iota
	// RevertGapFreeDecided: the decided height is the highest commit
	// certificate any view change shows, with or without the ones below.
	RevertGapFreeDecided
	// RevertEndlessRetransmit: re-sends come every RetransmitTicks and stop
	// after RevertedRetransmits per stuck period.
	RevertEndlessRetransmit
	// RevertHeaderOnly: view changes and NewViews carry whole blocks.
	RevertHeaderOnly
	// RevertViewPin: the record that pins the view is not persisted again
	// when a stable checkpoint would prune it.
	RevertViewPin
)

// RevertedRetransmits is the re-send budget under RevertEndlessRetransmit.
const RevertedRetransmits = 20

// Has reports whether every fix in g is switched off in r.
func (r Revert) Has(g Revert) bool { return r&g == g }

// Restore is the persistent state a core starts from.
type Restore struct {
	Height         uint64     // last executed height (0 = genesis only)
	BlockHash      chain.Hash // hash of that block (genesis hash at 0)
	BlockTimestamp uint64     // its timestamp, unix ms
	// Certificates are the commit certificates of consecutive heights
	// ending at Height, oldest first: at least those above the stable
	// checkpoint, up to LogWindow of them (none at genesis). View changes
	// carry them in place of the blocks: a view change certifies every
	// height its sender committed above its checkpoint (see decidedBase).
	Certificates []*chain.Certificate
	AppHashes    []AppHashAt      // appHash after heights max(0, Height+1−PipelineWindow)…Height (0 = genesis state)
	Stable       *CheckpointProof `rlp:"nil"`
	Records      []*Message       // the Msg of every Record Ready.Persist handed out, minus those pruned by a stable checkpoint, oldest first

	// NoVoteThroughHeight and MinView protect a node that lost its records
	// (wiped data directory): it signs no pre-prepare, prepare or commit at
	// a height ≤ NoVoteThroughHeight, and starts in a view ≥ MinView. Set
	// them above anything the node may have signed before (e.g. the peers'
	// highest checkpoint + LogWindow, and their view + 1).
	NoVoteThroughHeight uint64
	MinView             uint64
}

// AppHashAt is the appHash after executing Height.
type AppHashAt struct {
	Height  uint64
	AppHash chain.Hash
}
