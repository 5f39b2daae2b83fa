package chain

import (
	"fmt"
	"sync"

	"github.com/ethereum/go-ethereum/crypto"
)

// SigCacheEntries bounds each of the two generations of a validator set's
// cache of verified signatures: at most 2 × SigCacheEntries signatures are
// remembered.
const SigCacheEntries = 1 << 14

// sigKey names one verified signature: the signer's index in the set, the
// digest and the 65-byte signature.
type sigKey struct {
	validator uint32
	digest    Hash
	sig       [SignatureLength]byte
}

// sigCache remembers signatures a validator set has verified, so that a
// signature seen again — a vote re-sent, the same commits arriving as
// messages and inside a certificate — costs a map lookup instead of an
// elliptic-curve verification. It keeps only successes: an entry exists
// only for a signature that verified, so nobody without a validator's key
// can add one. When the current generation is full it becomes the previous
// one and the oldest is dropped.
type sigCache struct {
	mu   sync.Mutex
	cur  map[sigKey]struct{}
	prev map[sigKey]struct{}
}

func (c *sigCache) has(k sigKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.cur[k]; ok {
		return true
	}
	_, ok := c.prev[k]
	return ok
}

func (c *sigCache) add(k sigKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil || len(c.cur) >= SigCacheEntries {
		c.prev, c.cur = c.cur, make(map[sigKey]struct{}, min(SigCacheEntries, 1024))
	}
	c.cur[k] = struct{}{}
}

// VerifySignature checks that sig over digest was made by validator i,
// like the package's VerifySignature with that validator's key, and
// remembers the signatures that verify.
func (vs *ValidatorSet) VerifySignature(i int, digest Hash, sig []byte) error {
	if i < 0 || i >= len(vs.vals) {
		return fmt.Errorf("%w: validator index %d of %d", ErrBadSignature, i, len(vs.vals))
	}
	if err := checkSignatureForm(sig); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	k := sigKey{validator: uint32(i), digest: digest}
	copy(k.sig[:], sig)
	if vs.sigs.has(k) {
		return nil
	}
	if !crypto.VerifySignature(vs.vals[i].PubKey, digest[:], sig[:64]) {
		return ErrBadSignature
	}
	vs.sigs.add(k)
	return nil
}
