package chain

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
)

// Header is a block header. Its canonical encoding is the RLP list of its
// fields in order; the block hash is Keccak256 of that encoding.
type Header struct {
	Height         uint64
	ParentHash     Hash
	Timestamp      uint64 // unix milliseconds, chosen by the proposer
	Proposer       Address
	TxRoot         Hash // TxRoot(Txs)
	AppHash        Hash // state commitment after the parent block
	ValidatorsHash Hash
}

// Hash returns Keccak256 of the canonical header encoding.
func (h *Header) Hash() Hash {
	enc, err := rlp.EncodeToBytes(h)
	if err != nil {
		panic(fmt.Sprintf("chain: encoding header: %v", err))
	}
	return crypto.Keccak256Hash(enc)
}

// Block is a header, its transactions in wire form, and the sender of each
// transaction. The senders are committed by TxRoot, so a node that holds a
// block with a valid commit certificate can execute it without recovering
// any signature: the quorum that certified it checked every sender.
type Block struct {
	Header  Header
	Txs     [][]byte
	Senders []Address
}

// Hash returns the block hash, the hash of its header.
func (b *Block) Hash() Hash { return b.Header.Hash() }

// Size returns the total size of the block's transactions in bytes.
func (b *Block) Size() int {
	n := 0
	for _, tx := range b.Txs {
		n += len(tx)
	}
	return n
}

// Encode returns the canonical RLP encoding of the block.
func (b *Block) Encode() []byte {
	enc, err := rlp.EncodeToBytes(b)
	if err != nil {
		panic(fmt.Sprintf("chain: encoding block: %v", err))
	}
	return enc
}

// DecodeBlock decodes a block from its canonical RLP encoding.
func DecodeBlock(enc []byte) (*Block, error) {
	var b Block
	if err := rlp.DecodeBytes(enc, &b); err != nil {
		return nil, fmt.Errorf("decode block: %w", err)
	}
	return &b, nil
}

// ErrTxRootMismatch is returned when a block's TxRoot does not match its
// transactions.
var ErrTxRootMismatch = errors.New("transactions root does not match transactions")

// ErrSendersMismatch is returned when a block does not carry exactly one
// sender per transaction.
var ErrSendersMismatch = errors.New("block must carry one sender per transaction")

// TxRoot returns the transactions root: Keccak256 of the RLP list of
// [txHash, sender] pairs in block order, where txHash is Keccak256 of the
// transaction's wire form. The root of no transactions is the hash of the
// empty list. It panics if the lengths differ; check them first.
func TxRoot(txs [][]byte, senders []Address) Hash {
	if len(txs) != len(senders) {
		panic("chain: TxRoot with mismatched senders")
	}
	type pair struct {
		TxHash Hash
		Sender Address
	}
	pairs := make([]pair, len(txs))
	for i, tx := range txs {
		pairs[i] = pair{crypto.Keccak256Hash(tx), senders[i]}
	}
	enc, err := rlp.EncodeToBytes(pairs)
	if err != nil {
		panic(fmt.Sprintf("chain: encoding tx root: %v", err))
	}
	return crypto.Keccak256Hash(enc)
}

// CheckTxRoot verifies the header's TxRoot against the transactions.
func (b *Block) CheckTxRoot() error {
	if len(b.Txs) != len(b.Senders) {
		return fmt.Errorf("%w: %d transactions, %d senders", ErrSendersMismatch, len(b.Txs), len(b.Senders))
	}
	if got := TxRoot(b.Txs, b.Senders); got != b.Header.TxRoot {
		return fmt.Errorf("%w: header %s, computed %s", ErrTxRootMismatch, b.Header.TxRoot, got)
	}
	return nil
}
