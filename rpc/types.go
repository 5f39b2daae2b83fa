package rpc

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/bafomet/bafomet/chain"
)

// The types in this file are the JSON shapes of the API (docs/rpc.md). They
// are exported so that Go clients, such as the bafomet CLI or a program
// using geth's rpc.Client, can decode results into them.

// Block is the result of chain_getBlockByNumber and chain_getBlockByHash,
// and the payload of a newBlocks notification.
type Block struct {
	Height         uint64        `json:"height"`
	Hash           chain.Hash    `json:"hash"`
	ParentHash     chain.Hash    `json:"parentHash"`
	Timestamp      uint64        `json:"timestamp"` // unix milliseconds
	Proposer       chain.Address `json:"proposer"`
	TxRoot         chain.Hash    `json:"txRoot"`
	AppHash        chain.Hash    `json:"appHash"`
	ValidatorsHash chain.Hash    `json:"validatorsHash"`
	View           uint64        `json:"view"`
	Transactions   BlockTxs      `json:"transactions"`
	Certificate    *Certificate  `json:"certificate"`
}

// blockFields has Block's fields without its UnmarshalJSON method.
type blockFields Block

// UnmarshalJSON decodes a block. A subscription's final error notification
// ({"error": {...}}) decodes to a *SubscriptionError, so that a geth client
// subscribed with a chan Block sees the reason on its Err channel.
func (b *Block) UnmarshalJSON(data []byte) error {
	if err := subscriptionEnded(data); err != nil {
		return err
	}
	return json.Unmarshal(data, (*blockFields)(b))
}

// BlockTxs is a block's transactions: hashes, or full transactions when the
// block was requested with fullTransactions.
type BlockTxs struct {
	Hashes []chain.Hash   // set when not full
	Full   []*Transaction // set when full
}

// MarshalJSON encodes the list of hashes or of transaction objects.
func (t BlockTxs) MarshalJSON() ([]byte, error) {
	if t.Full != nil {
		return json.Marshal(t.Full)
	}
	if t.Hashes == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(t.Hashes)
}

// UnmarshalJSON decodes either form.
func (t *BlockTxs) UnmarshalJSON(data []byte) error {
	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil {
		return fmt.Errorf("transactions: %w", err)
	}
	*t = BlockTxs{Hashes: []chain.Hash{}}
	if len(raws) == 0 || bytes.HasPrefix(bytes.TrimSpace(raws[0]), []byte("\"")) {
		return json.Unmarshal(data, &t.Hashes)
	}
	t.Hashes = nil
	return json.Unmarshal(data, &t.Full)
}

// Transaction is a committed transaction inside a full block.
type Transaction struct {
	Hash      chain.Hash    `json:"hash"`
	ChainID   string        `json:"chainId"`
	Nonce     uint64        `json:"nonce"`
	Payload   hexutil.Bytes `json:"payload"`
	Signature hexutil.Bytes `json:"signature"`
	Sender    chain.Address `json:"sender"`
	Height    uint64        `json:"height"`
	Index     int           `json:"index"`
}

// Certificate is a block's commit certificate.
type Certificate struct {
	Height     uint64          `json:"height"`
	View       uint64          `json:"view"`
	BlockHash  chain.Hash      `json:"blockHash"`
	Signatures []CertSignature `json:"signatures"`
}

// CertificateVerdict is the result of chain_verifyCertificate: whether the
// certificate carries a quorum of valid signatures of the validator set
// over the commit digest of the stored block. Signers are the validator
// indices of its signatures; Error says what failed when Valid is false.
type CertificateVerdict struct {
	Height     uint64     `json:"height"`
	View       uint64     `json:"view"`
	BlockHash  chain.Hash `json:"blockHash"`
	Valid      bool       `json:"valid"`
	Signers    []uint32   `json:"signers"`
	Quorum     int        `json:"quorum"`
	Validators int        `json:"validators"`
	Error      *string    `json:"error"`
}

// CertSignature is one validator's commit signature. Validator is its index
// in the genesis validator set; Address is its address.
type CertSignature struct {
	Validator uint32        `json:"validator"`
	Address   chain.Address `json:"address"`
	Signature hexutil.Bytes `json:"signature"`
}

// TxResult is the result of chain_getTransaction. Fields that do not apply
// to the status are null.
type TxResult struct {
	Hash    chain.Hash     `json:"hash"`
	Status  TxStatus       `json:"status"`
	Height  *uint64        `json:"height"`
	Index   *int           `json:"index"`
	Sender  *chain.Address `json:"sender"`
	Nonce   *uint64        `json:"nonce"`
	Payload *hexutil.Bytes `json:"payload"` // null when the node no longer holds it (dropped)
	Receipt *Receipt       `json:"receipt"`
	Reason  *string        `json:"reason"`
}

// Receipt is the outcome of a committed transaction.
type Receipt struct {
	Code    uint32        `json:"code"`
	Message string        `json:"message"`
	Events  []chain.Event `json:"events"`
}

// TxEvent is the payload of a transactions notification: one committed
// transaction and its receipt.
type TxEvent struct {
	Hash    chain.Hash    `json:"hash"`
	Height  uint64        `json:"height"`
	Index   int           `json:"index"`
	Sender  chain.Address `json:"sender"`
	Nonce   uint64        `json:"nonce"`
	Receipt Receipt       `json:"receipt"`
}

type txEventFields TxEvent

// UnmarshalJSON decodes a transaction event; a subscription's final error
// notification decodes to a *SubscriptionError.
func (e *TxEvent) UnmarshalJSON(data []byte) error {
	if err := subscriptionEnded(data); err != nil {
		return err
	}
	return json.Unmarshal(data, (*txEventFields)(e))
}

// Status is the result of chain_status. LatestBlockHash and LatestBlockTime
// are null while only genesis is committed.
type Status struct {
	ChainID     string        `json:"chainId"`
	GenesisHash chain.Hash    `json:"genesisHash"`
	NodeAddress chain.Address `json:"nodeAddress"`
	PeerID      string        `json:"peerId"`
	Height      uint64        `json:"height"`
	// EarliestHeight is the lowest height whose block the node holds: 1
	// unless it pruned older blocks (node.retain_blocks) or started from
	// a snapshot. Reads below it answer CodePruned.
	EarliestHeight  uint64        `json:"earliestHeight"`
	LatestBlockHash *chain.Hash   `json:"latestBlockHash"`
	LatestBlockTime *uint64       `json:"latestBlockTime"`
	View            uint64        `json:"view"`
	Primary         chain.Address `json:"primary"`
	Syncing         bool          `json:"syncing"`
	Peers           int           `json:"peers"`
	// Sync is the progress of the running block sync; null when not syncing.
	Sync *SyncProgress `json:"sync"`
}

// SyncProgress is the progress of a running block sync, or of the state
// sync (snapshot restore) that precedes it.
type SyncProgress struct {
	Mode         string  `json:"mode"`         // "block" or "state"
	Current      uint64  `json:"current"`      // latest height executed
	Target       uint64  `json:"target"`       // height the sync is heading for (state: the snapshot's)
	BlocksPerSec float64 `json:"blocksPerSec"` // recent rate (block sync)
	// State is the snapshot restore's progress in mode "state", else null.
	State *StateSyncProgress `json:"state"`
}

// StateSyncProgress is the progress of a snapshot restore.
type StateSyncProgress struct {
	SnapshotHeight uint64  `json:"snapshotHeight"`
	ChunksDone     int     `json:"chunksDone"`
	Chunks         int     `json:"chunks"`
	Bytes          uint64  `json:"bytes"`      // chunk bytes restored
	TotalBytes     uint64  `json:"totalBytes"` // of all chunks
	BytesPerSec    float64 `json:"bytesPerSec"`
	EtaSeconds     float64 `json:"etaSeconds"`
	Faults         uint64  `json:"faults"` // bad or missing answers from peers
}

// Validator is one entry of chain_validators.
type Validator struct {
	Name      string        `json:"name"`
	Address   chain.Address `json:"address"`
	PublicKey hexutil.Bytes `json:"publicKey"`
	PeerID    string        `json:"peerId"`
	Online    bool          `json:"online"`
}

// Evidence is one entry of chain_evidence: two conflicting messages signed
// by one validator for the same view and height.
type Evidence struct {
	Validator uint32          `json:"validator"`
	Type      string          `json:"type"`
	View      uint64          `json:"view"`
	Height    uint64          `json:"height"`
	First     EvidenceMessage `json:"first"`
	Second    EvidenceMessage `json:"second"`
}

// EvidenceMessage is one of the two conflicting signed messages.
type EvidenceMessage struct {
	Type      string        `json:"type"`
	View      uint64        `json:"view"`
	Height    uint64        `json:"height"`
	Digest    chain.Hash    `json:"digest"`
	Signature hexutil.Bytes `json:"signature"`
}

// KVValue is the result of kv_get. Value is the stored text (kv values are
// UTF-8), null when the key is not set.
type KVValue struct {
	Key    string  `json:"key"`
	Value  *string `json:"value"`
	Height uint64  `json:"height"`
}

// Balance is the result of bank_getBalance.
type Balance struct {
	Address chain.Address `json:"address"`
	Balance uint64        `json:"balance"`
	Height  uint64        `json:"height"`
}

// Mempool is the result of mempool_status.
type Mempool struct {
	Size        int   `json:"size"`
	Bytes       int64 `json:"bytes"`
	Limit       int   `json:"limit"`
	BytesLimit  int64 `json:"bytesLimit"`
	Queued      int   `json:"queued"`
	QueuedLimit int   `json:"queuedLimit"`
}

// SubscriptionError is the final notification of a subscription the server
// ended, as {"error": {"code", "message", "fromHeight"}}: the client resumes
// with chain_subscribe(..., {"fromHeight": FromHeight}) and loses nothing.
type SubscriptionError struct {
	Code       int    `json:"code"`
	Message    string `json:"message"`
	FromHeight uint64 `json:"fromHeight"`
}

func (e *SubscriptionError) Error() string {
	return fmt.Sprintf("subscription ended (code %d): %s; resume with fromHeight %d", e.Code, e.Message, e.FromHeight)
}

// subscriptionEnd is the notification payload carrying a SubscriptionError.
type subscriptionEnd struct {
	Error *SubscriptionError `json:"error"`
}

// subscriptionEnded returns the SubscriptionError that data carries, if any.
func subscriptionEnded(data []byte) error {
	trimmed := bytes.TrimSpace(data)
	if !bytes.HasPrefix(trimmed, []byte("{")) || !bytes.Contains(trimmed, []byte(`"error"`)) {
		return nil
	}
	var end subscriptionEnd
	if json.Unmarshal(trimmed, &end) == nil && end.Error != nil {
		return end.Error
	}
	return nil
}
