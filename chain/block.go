package chain

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"unsafe"

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
//
// A block's transactions are immutable once it has been hashed: TxHashes
// remembers its result for the Txs it saw. Replacing Txs or one of its
// elements, in the block or in a copy of it, is noticed (the memo is
// checked against them); changing a transaction's bytes in place is not.
type Block struct {
	Header  Header
	Txs     [][]byte
	Senders []Address

	// txHashes is a *txHashMemo, read and written atomically. It is an
	// unsafe.Pointer rather than an atomic.Pointer so that a Block can
	// still be copied by value; a copy's memo stays valid only as long as
	// its Txs are the same slices.
	txHashes unsafe.Pointer // not encoded: RLP skips unexported fields
}

// txHashMemo is the result of TxHashes for the transactions in txs.
type txHashMemo struct {
	txs    [][]byte // the elements of Block.Txs that were hashed
	hashes []Hash
}

// valid reports whether the memo was made for exactly these transactions
// (the same slices, not merely equal bytes).
func (m *txHashMemo) valid(txs [][]byte) bool {
	if len(m.txs) != len(txs) {
		return false
	}
	for i, tx := range txs {
		if len(tx) != len(m.txs[i]) || unsafe.SliceData(tx) != unsafe.SliceData(m.txs[i]) {
			return false
		}
	}
	return true
}

// TxHashes returns Keccak256 of each transaction's wire form, in block
// order. The result is computed once per block and shared: callers must not
// modify it. It is safe for concurrent use.
func (b *Block) TxHashes() []Hash {
	if m := (*txHashMemo)(atomic.LoadPointer(&b.txHashes)); m != nil && m.valid(b.Txs) {
		return m.hashes
	}
	m := &txHashMemo{txs: slices.Clone(b.Txs), hashes: make([]Hash, len(b.Txs))}
	for i, tx := range b.Txs {
		m.hashes[i] = crypto.Keccak256Hash(tx)
	}
	atomic.StorePointer(&b.txHashes, unsafe.Pointer(m))
	return m.hashes
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
	hashes := make([]Hash, len(txs))
	for i, tx := range txs {
		hashes[i] = crypto.Keccak256Hash(tx)
	}
	return txRootOf(hashes, senders)
}

// ComputeTxRoot returns TxRoot(b.Txs, b.Senders) from the block's memoized
// transaction hashes. It panics if the lengths differ.
func (b *Block) ComputeTxRoot() Hash { return txRootOf(b.TxHashes(), b.Senders) }

func txRootOf(hashes []Hash, senders []Address) Hash {
	if len(hashes) != len(senders) {
		panic("chain: TxRoot with mismatched senders")
	}
	type pair struct {
		TxHash Hash
		Sender Address
	}
	pairs := make([]pair, len(hashes))
	for i, h := range hashes {
		pairs[i] = pair{h, senders[i]}
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
	if got := b.ComputeTxRoot(); got != b.Header.TxRoot {
		return fmt.Errorf("%w: header %s, computed %s", ErrTxRootMismatch, b.Header.TxRoot, got)
	}
	return nil
}
