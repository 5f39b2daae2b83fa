package chain

import (
	"crypto/ecdsa"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
)

// Domain tags separate the digests that validators sign, so a signature made
// for one purpose can never be replayed as another. Each digest also includes
// the chain id, so a signature is only ever valid on one chain.
const (
	DomainCommit = "bafomet/commit/v1"
)

// ErrBadSignature is returned when a signature does not verify.
var ErrBadSignature = errors.New("bad signature")

// SigningDigest returns Keccak256(domain ‖ RLP(fields)), the digest a
// validator signs for a message of the given domain. fields must be
// RLP-encodable (ordering's messages pass their own field lists).
func SigningDigest(domain string, fields any) Hash {
	enc, err := rlp.EncodeToBytes(fields)
	if err != nil {
		panic(fmt.Sprintf("chain: encoding %s fields: %v", domain, err))
	}
	return crypto.Keccak256Hash([]byte(domain), enc)
}

// CommitDigest is the digest a validator signs to commit blockHash at
// (height, view) on chainID. PBFT Commit messages sign exactly this digest,
// so a quorum of them forms a Certificate.
func CommitDigest(chainID string, height, view uint64, blockHash Hash) Hash {
	return SigningDigest(DomainCommit, []any{chainID, height, view, blockHash})
}

// Sign signs digest with key, returning a 65-byte recoverable signature.
func Sign(key *ecdsa.PrivateKey, digest Hash) ([]byte, error) {
	sig, err := crypto.Sign(digest[:], key)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return sig, nil
}

// VerifySignature checks that sig over digest was made by pub. It rejects
// malformed and high-S signatures.
func VerifySignature(pub *ecdsa.PublicKey, digest Hash, sig []byte) error {
	if err := checkSignatureForm(sig); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	if !crypto.VerifySignature(crypto.CompressPubkey(pub), digest[:], sig[:64]) {
		return ErrBadSignature
	}
	return nil
}

// RecoverSigner recovers the address that made sig over digest.
func RecoverSigner(digest Hash, sig []byte) (Address, error) {
	if err := checkSignatureForm(sig); err != nil {
		return Address{}, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	pub, err := crypto.SigToPub(digest[:], sig)
	if err != nil {
		return Address{}, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return crypto.PubkeyToAddress(*pub), nil
}
