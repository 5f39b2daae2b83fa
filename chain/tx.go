package chain

import (
	"bytes"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
)

// Hash is a 32-byte Keccak-256 digest.
type Hash = common.Hash

// Address is a 20-byte account or validator address, derived from a
// secp256k1 public key as Ethereum derives it.
type Address = common.Address

// SignatureLength is the length of a recoverable secp256k1 signature (R‖S‖V).
const SignatureLength = 65

// Errors returned by DecodeTx and Tx.Verify. Each names one way a
// transaction can be malformed; callers match them with errors.Is.
var (
	ErrTxMalformed      = errors.New("malformed transaction")
	ErrTxTrailingBytes  = errors.New("trailing bytes after transaction")
	ErrTxNonCanonical   = errors.New("non-canonical RLP encoding")
	ErrTxTooLarge       = errors.New("transaction too large")
	ErrTxEmptyChainID   = errors.New("empty chain id")
	ErrTxSigLength      = errors.New("signature is not 65 bytes")
	ErrTxSigHighS       = errors.New("signature S value is not in the lower half of the curve order")
	ErrTxSigBadV        = errors.New("signature V value is not 0 or 1")
	ErrTxSigInvalid     = errors.New("signature does not recover to a public key")
	ErrTxWrongChainID   = errors.New("wrong chain id")
	ErrTxPayloadTooLong = errors.New("payload too large")
)

// The secp256k1 group order N and N/2 as 32-byte big-endian numbers, to
// compare signature scalars without allocating.
var (
	secp256k1N     = [32]byte(crypto.S256().Params().N.FillBytes(make([]byte, 32)))
	secp256k1HalfN = [32]byte(new(big.Int).Rsh(crypto.S256().Params().N, 1).FillBytes(make([]byte, 32)))
)

// Tx is a signed transaction. Its wire form is the RLP list
// [chainId, nonce, payload, signature]; see docs/transactions.md.
type Tx struct {
	ChainID   string
	Nonce     uint64
	Payload   []byte
	Signature []byte

	raw  []byte // wire form, set by DecodeTx and SignTx
	hash Hash   // Keccak256(raw), set with raw
}

// txSigning is the list that the signature covers.
type txSigning struct {
	ChainID string
	Nonce   uint64
	Payload []byte
}

// SigningHash returns Keccak256(RLP([chainId, nonce, payload])), the digest
// the sender signs.
func (tx *Tx) SigningHash() Hash {
	enc, err := rlp.EncodeToBytes(&txSigning{tx.ChainID, tx.Nonce, tx.Payload})
	if err != nil {
		panic(fmt.Sprintf("chain: encoding signing list: %v", err)) // only []byte, string, uint64: cannot fail
	}
	return crypto.Keccak256Hash(enc)
}

// Bytes returns the wire form of the transaction.
func (tx *Tx) Bytes() []byte {
	if tx.raw == nil {
		enc, err := rlp.EncodeToBytes(tx)
		if err != nil {
			panic(fmt.Sprintf("chain: encoding transaction: %v", err))
		}
		tx.raw = enc
		tx.hash = crypto.Keccak256Hash(enc)
	}
	return tx.raw
}

// Hash returns Keccak256 of the wire form.
func (tx *Tx) Hash() Hash {
	tx.Bytes()
	return tx.hash
}

// Size returns the length of the wire form in bytes.
func (tx *Tx) Size() int { return len(tx.Bytes()) }

// SignTx builds and signs a transaction with key.
func SignTx(key *ecdsa.PrivateKey, chainID string, nonce uint64, payload []byte) (*Tx, error) {
	if chainID == "" {
		return nil, ErrTxEmptyChainID
	}
	if payload == nil {
		payload = []byte{}
	}
	tx := &Tx{ChainID: chainID, Nonce: nonce, Payload: payload}
	h := tx.SigningHash()
	sig, err := crypto.Sign(h[:], key)
	if err != nil {
		return nil, fmt.Errorf("sign transaction: %w", err)
	}
	tx.Signature = sig
	tx.Bytes()
	return tx, nil
}

// DecodeTx parses the wire form of a transaction and checks everything that
// can be checked without recovering the sender: a single canonical RLP list
// of the four fields, no trailing bytes, size at most maxBytes (0 means no
// limit), a non-empty chain id and a well-formed 65-byte low-S signature.
//
// The transaction keeps a copy of b, so the caller may reuse b.
func DecodeTx(b []byte, maxBytes int) (*Tx, error) {
	tx, err := decodeTx(b, maxBytes)
	if err != nil {
		return nil, err
	}
	tx.raw = append([]byte(nil), b...)
	tx.hash = crypto.Keccak256Hash(tx.raw)
	return tx, nil
}

// DecodeTxHashed is DecodeTx for a caller that already holds hash, the
// Keccak256 of b (a block's TxHashes, or a mempool that hashed b to look it
// up): it checks the same things but neither hashes b again nor copies it,
// so b must not be modified afterwards.
func DecodeTxHashed(b []byte, maxBytes int, hash Hash) (*Tx, error) {
	tx, err := decodeTx(b, maxBytes)
	if err != nil {
		return nil, err
	}
	tx.raw = b
	tx.hash = hash
	return tx, nil
}

func decodeTx(b []byte, maxBytes int) (*Tx, error) {
	if maxBytes > 0 && len(b) > maxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTxTooLarge, len(b), maxBytes)
	}
	var tx Tx
	if err := rlp.DecodeBytes(b, &tx); err != nil {
		return nil, classifyRLPError(err)
	}
	if tx.ChainID == "" {
		return nil, ErrTxEmptyChainID
	}
	if err := checkSignatureForm(tx.Signature); err != nil {
		return nil, err
	}
	return &tx, nil
}

func classifyRLPError(err error) error {
	// rlp wraps its sentinel errors in an unexported type that does not
	// support errors.Is, so match on the message text it documents.
	msg := err.Error()
	switch {
	case errors.Is(err, rlp.ErrMoreThanOneValue):
		return ErrTxTrailingBytes
	case strings.Contains(msg, "non-canonical"):
		return fmt.Errorf("%w: %v", ErrTxNonCanonical, err)
	default:
		return fmt.Errorf("%w: %v", ErrTxMalformed, err)
	}
}

// checkSignatureForm checks length, V and the low-S rule.
func checkSignatureForm(sig []byte) error {
	if len(sig) != SignatureLength {
		return fmt.Errorf("%w: got %d", ErrTxSigLength, len(sig))
	}
	if sig[64] > 1 {
		return fmt.Errorf("%w: got %d", ErrTxSigBadV, sig[64])
	}
	r, s := sig[:32], sig[32:64]
	if isZero(r) || isZero(s) || bytes.Compare(r, secp256k1N[:]) >= 0 {
		return ErrTxSigInvalid
	}
	if bytes.Compare(s, secp256k1HalfN[:]) > 0 {
		return ErrTxSigHighS
	}
	return nil
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// Sender recovers the address that signed the transaction. It costs one
// secp256k1 recovery; callers that see a transaction more than once should
// cache the result by Hash (the mempool does).
func (tx *Tx) Sender() (Address, error) {
	if err := checkSignatureForm(tx.Signature); err != nil {
		return Address{}, err
	}
	h := tx.SigningHash()
	pub, err := crypto.Ecrecover(h[:], tx.Signature)
	if err != nil {
		return Address{}, fmt.Errorf("%w: %v", ErrTxSigInvalid, err)
	}
	return common.BytesToAddress(crypto.Keccak256(pub[1:])[12:]), nil
}
