package driver

import (
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
)

// Core is the method set of *ordering.Core that the driver uses (the
// contract is in ordering/api.go and ordering/doc.go). Tests substitute
// scripted cores to check the driver itself.
type Core interface {
	Step(m *ordering.Message) error
	Tick(nowMs uint64)
	Propose(b *chain.Block) error
	Executed(height uint64, appHash chain.Hash)
	NotePending(pending bool)
	StepCertified(b *chain.Block, c *chain.Certificate) error
	SoftState() ordering.SoftState
	HasReady() bool
	Ready() ordering.Ready
	Advance(rd ordering.Ready)
}

// Log is the consensus log: the records the core hands out in
// Ready.Persist.
type Log interface {
	// Append stores records in one write; when it returns nil they survive
	// a crash. After an error the driver stops.
	Append(recs []ordering.Record) error
	// Prune may discard records whose Height is at or below height.
	Prune(height uint64) error
}

// Transport delivers consensus messages to other validators.
type Transport interface {
	// Send delivers frame, which is ordering.EncodeMessage(m) and at most
	// Config.MaxFrameBytes long, to validator to, or to every other
	// validator when to is ordering.Broadcast; it must not block, and may
	// drop the message (the core re-sends what matters).
	Send(to int, m *ordering.Message, frame []byte)
}

// Executor executes committed blocks asynchronously.
type Executor interface {
	// Enqueue queues committed blocks (in height order, continuing the
	// ones queued before) without blocking; each block's result comes
	// back through Driver.Executed, in height order.
	Enqueue(cs []ordering.Committed)
	// Backlog returns the number of blocks queued and not yet executed.
	Backlog() int
}

// ExecResult is the outcome of executing one committed block. A non-nil
// Err stops the driver: the node cannot continue on a state it failed to
// compute.
type ExecResult struct {
	Height  uint64
	AppHash chain.Hash
	Err     error
}

// Batch is what the mempool hands the proposer: transactions with their
// senders and hashes, index for index.
type Batch struct {
	Txs     [][]byte
	Senders []chain.Address
	Hashes  []chain.Hash
}

// Mempool holds the transactions waiting to be ordered.
type Mempool interface {
	// NumReady returns the number of transactions that could be ordered
	// now (proposed or not).
	NumReady() int
	// NumReapable returns the number of those that no proposal in flight
	// holds yet.
	NumReapable() int
	// Reap reserves and returns up to maxTxs reapable transactions whose
	// wire sizes total at most maxBytes.
	Reap(maxTxs, maxBytes int) Batch
	// Release returns reserved transactions to the reapable set.
	Release(hashes []chain.Hash)
	// ReleaseProposed returns every reserved transaction that has not
	// committed to the reapable set (a view change voided the proposals).
	ReleaseProposed()
}

// Clock tells the local time; the proposer reads it for batch delays and
// block timestamps.
type Clock interface {
	Now() time.Time
}

// SyncSource fetches certified blocks this node lacks; they come back
// through Driver.StepSynced.
type SyncSource interface {
	// Hint says the network is at least at height; it must not block.
	Hint(height uint64)
}

// CheckpointStore keeps stable checkpoint proofs.
type CheckpointStore interface {
	// SaveStable durably stores p, so this node can restore from it and
	// serve it; after an error the driver stops.
	SaveStable(p *ordering.CheckpointProof) error
}

// Observer receives what the driver reports besides its I/O. Its methods
// run on the driver's goroutine: they must return quickly and must not
// call the driver.
type Observer interface {
	// SoftState reports the core's soft state after every Ready.
	SoftState(s ordering.SoftState)
	// Evidence reports equivocations the core saw.
	Evidence(ev []ordering.Evidence)
	// SyncedTaken reports a block-synced block the core took.
	SyncedTaken(height uint64)
	// Oversize reports a message that was not sent because its encoding
	// of size bytes exceeds Config.MaxFrameBytes.
	Oversize(m *ordering.Message, size int)
}

// NopObserver ignores every report; embed it to observe only some.
type NopObserver struct{}

// SoftState implements Observer.
func (NopObserver) SoftState(ordering.SoftState) {}

// Evidence implements Observer.
func (NopObserver) Evidence([]ordering.Evidence) {}

// SyncedTaken implements Observer.
func (NopObserver) SyncedTaken(uint64) {}

// Oversize implements Observer.
func (NopObserver) Oversize(*ordering.Message, int) {}
