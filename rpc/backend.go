package rpc

import (
	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
)

// Backend is what the RPC server needs from the node. The node implements it
// over its chain store, mempool, ordering driver and p2p host. Every method
// must be safe for concurrent use and must not block for long: RPC handlers
// and subscription goroutines call it directly.
type Backend interface {
	// ChainID returns the chain id from genesis.
	ChainID() string
	// GenesisHash returns the hash of the genesis file's canonical form.
	GenesisHash() chain.Hash

	// Height returns the latest committed height (0 when only genesis is
	// committed). Blocks 1..Height must be readable with BlockByHeight.
	Height() uint64
	// BlockByHeight returns the committed block at height h, or nil (and a
	// nil error) when there is none.
	BlockByHeight(h uint64) (*StoredBlock, error)
	// BlockByHash returns the committed block with this hash, or nil.
	BlockByHash(hash chain.Hash) (*StoredBlock, error)
	// Receipts returns the receipts of the block at height h, one per
	// transaction in block order, or nil when there is no such block.
	Receipts(h uint64) ([]chain.Receipt, error)
	// BlockNotify returns a channel that receives a value after every
	// commit. Sends may be dropped while the channel is full: the server
	// only uses it as a wake-up and re-reads Height. The same channel must
	// be returned on every call; it is read by one goroutine.
	BlockNotify() <-chan struct{}

	// Transaction looks a transaction up: first committed (chain store),
	// then the mempool (pending, queued or dropped). It returns nil when
	// the hash is unknown.
	Transaction(hash chain.Hash) (*TxInfo, error)
	// SendTx submits a decoded transaction to the mempool. A refusal must
	// match one of the Err* sentinels of this package with errors.Is (wrap
	// the mempool's error: fmt.Errorf("%w: %w", rpc.ErrNonceTooLow, err)).
	SendTx(tx *chain.Tx) error
	// Nonce returns addr's next nonce in committed state or, with pending,
	// counting the transactions the mempool holds for addr.
	Nonce(addr chain.Address, pending bool) (uint64, error)

	// NodeStatus returns the node-level part of chain_status.
	NodeStatus() NodeStatus
	// Validators returns the genesis validator set with liveness.
	Validators() []ValidatorInfo
	// Evidence returns the equivocation evidence the node has seen.
	Evidence() []ordering.Evidence
	// Applications returns the applications whose query methods
	// (chain.QueryService) the server serves, each under its name; New
	// calls it once. The node returns its whole registry, so that a query
	// method of a registered application the chain does not run is
	// answered with ErrAppNotServed rather than as an unknown method.
	Applications() []chain.Application
	// ReadAppState runs fn against a read-only view of the latest
	// committed state of application app and returns fn's error. It
	// returns an error matching ErrAppNotServed, without calling fn, when
	// this chain does not run app.
	ReadAppState(app string, fn func(chain.StateReader) error) error
	// MempoolStatus returns the mempool's size and limits.
	MempoolStatus() MempoolStatus
}

// StoredBlock is a committed block with its commit certificate.
type StoredBlock struct {
	Block       *chain.Block
	Certificate *chain.Certificate // never nil for a committed block
}

// TxStatus is where a transaction is.
type TxStatus string

// Transaction statuses reported by chain_getTransaction.
const (
	TxPending   TxStatus = "pending"   // in the mempool, executable next
	TxQueued    TxStatus = "queued"    // in the mempool behind a nonce gap
	TxCommitted TxStatus = "committed" // in a committed block
	TxDropped   TxStatus = "dropped"   // left the mempool without committing
)

// TxInfo is what the node knows about one transaction.
type TxInfo struct {
	Status  TxStatus
	Tx      *chain.Tx // nil only for a dropped transaction whose body is gone
	Sender  chain.Address
	Nonce   uint64         // the transaction's nonce (also known for dropped ones)
	Height  uint64         // committed only
	Index   int            // committed only: position in the block
	Receipt *chain.Receipt // committed only
	Reason  string         // dropped only: why it left the mempool
}

// NodeStatus is the node-level part of chain_status; the server adds the
// chain id, genesis hash and the latest block itself.
type NodeStatus struct {
	NodeAddress chain.Address // this node's validator address
	PeerID      string        // libp2p peer ID
	View        uint64        // current PBFT view
	Primary     chain.Address // primary of View
	Syncing     bool          // catching up by state or block sync
	Sync        *SyncProgress // set while Syncing
	Peers       int           // connected validator peers
	// EarliestHeight is the lowest height whose block the node holds (1
	// when it keeps everything; 0 is read as 1).
	EarliestHeight uint64
}

// ValidatorInfo is one genesis validator and whether this node is
// connected to it (a node counts itself online).
type ValidatorInfo struct {
	Validator chain.Validator
	PeerID    string
	Online    bool
}

// MempoolStatus is the mempool's occupancy and its limits.
type MempoolStatus struct {
	Size        int   // transactions held
	Bytes       int64 // their total size
	Limit       int   // maximum number of transactions
	BytesLimit  int64 // maximum total size
	Queued      int   // transactions held behind a nonce gap
	QueuedLimit int   // maximum admitted behind nonce gaps (mempool.max_queued)
}
