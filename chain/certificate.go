package chain

import (
	"errors"
	"fmt"
)

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
}

// Verify checks that the certificate carries at least a quorum of distinct,
// valid signatures from members of vs over the commit digest for chainID.
func (c *Certificate) Verify(chainID string, vs *ValidatorSet) error {
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
		if err := VerifySignature(vs.PubKey(int(s.Validator)), digest, s.Signature); err != nil {
			return fmt.Errorf("%w: validator %d: %v", ErrCertBadSignature, s.Validator, err)
		}
	}
	if len(c.Signatures) < vs.Quorum() {
		return fmt.Errorf("%w: %d of %d needed", ErrCertNoQuorum, len(c.Signatures), vs.Quorum())
	}
	return nil
}
