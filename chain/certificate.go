package chain

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
)

// domainCertVerified separates verifyKey's hashes from every signed digest.
const domainCertVerified = "bafomet/certificate-verified/v1"

// Errors returned by Certificate.Verify.
var (
	ErrCertNoQuorum          = errors.New("certificate lacks a quorum of signatures")
	ErrCertDuplicateSigner   = errors.New("certificate has a duplicate signer")
	ErrCertUnknownSigner     = errors.New("certificate has an unknown signer")
	ErrCertBadSignature      = errors.New("certificate has a bad signature")
	ErrCertTooManySignatures = errors.New("certificate has more signatures than validators")
)

// CommitSig is one validator's signature over a commit digest.
type CommitSig struct {
	Validator uint32 // index in the validator set
	Signature []byte // 65 bytes, over CommitDigest
}

// Certificate is a block's commit certificate: a quorum of validators'
// signatures over CommitDigest(chainID, Height, View, BlockHash). Anyone
// holding the genesis validator set can verify it offline.
type Certificate struct {
	Height     uint64
	View       uint64
	BlockHash  Hash
	Signatures []CommitSig

	// verified is the key (verifyKey) of the last successful Verify. It is
	// not encoded. Block sync verifies a certificate when it arrives and
	// the ordering core verifies the same one again before committing its
	// block; the memo makes the second check cost one hash instead of a
	// quorum of signature checks. Any change to the fields changes the key,
	// so the memo never vouches for content it did not check.
	verified Hash
}

// Verify checks that the certificate carries at least a quorum of distinct,
// valid signatures from members of vs over the commit digest for chainID.
//
// A successful Verify is remembered in c, so verifying the same, unchanged
// certificate again against the same chain id and validator set is cheap.
// Because it records that, Verify must not run concurrently with another
// Verify of the same Certificate.
func (c *Certificate) Verify(chainID string, vs *ValidatorSet) error {
	key, err := c.verifyKey(chainID, vs)
	if err != nil {
		return err
	}
	if key == c.verified {
		return nil
	}
	if err := c.verify(chainID, vs); err != nil {
		return err
	}
	c.verified = key
	return nil
}

// verifyKey identifies what a Verify checked: the chain id, the validator
// set and every field of the certificate.
func (c *Certificate) verifyKey(chainID string, vs *ValidatorSet) (Hash, error) {
	enc, err := rlp.EncodeToBytes([]any{chainID, vs.Hash(), c})
	if err != nil {
		return Hash{}, fmt.Errorf("encoding certificate: %w", err)
	}
	return crypto.Keccak256Hash([]byte(domainCertVerified), enc), nil
}

func (c *Certificate) verify(chainID string, vs *ValidatorSet) error {
	if len(c.Signatures) > vs.Size() {
		return fmt.Errorf("%w: %d signatures, %d validators", ErrCertTooManySignatures, len(c.Signatures), vs.Size())
	}
	digest := CommitDigest(chainID, c.Height, c.View, c.BlockHash)
	seen := make([]bool, vs.Size())
	for _, s := range c.Signatures {
		if int64(s.Validator) >= int64(vs.Size()) {
			return fmt.Errorf("%w: index %d", ErrCertUnknownSigner, s.Validator)
		}
		if seen[s.Validator] {
			return fmt.Errorf("%w: index %d", ErrCertDuplicateSigner, s.Validator)
		}
		seen[s.Validator] = true
		if err := vs.VerifySignature(int(s.Validator), digest, s.Signature); err != nil {
			return fmt.Errorf("%w: validator %d: %v", ErrCertBadSignature, s.Validator, err)
		}
	}
	if len(c.Signatures) < vs.Quorum() {
		return fmt.Errorf("%w: %d of %d needed", ErrCertNoQuorum, len(c.Signatures), vs.Quorum())
	}
	return nil
}
