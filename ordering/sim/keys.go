package sim

import (
	"crypto/ecdsa"
	"encoding/binary"
	"fmt"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/chain"
)

// Key derivation domains, so validator and client keys never coincide.
const (
	domainValidatorKey = "bafomet/sim/validator-key"
	domainClientKey    = "bafomet/sim/client-key"
)

// DeriveKey returns the secp256k1 private key numbered i for seed in
// domain: Keccak256(domain ‖ seed ‖ i ‖ attempt), retrying the attempt
// counter in the (negligible) case that the digest is not a valid scalar.
func DeriveKey(domain string, seed uint64, i int) *ecdsa.PrivateKey {
	var buf [24]byte
	binary.BigEndian.PutUint64(buf[0:8], seed)
	binary.BigEndian.PutUint64(buf[8:16], uint64(i))
	for attempt := uint64(0); ; attempt++ {
		binary.BigEndian.PutUint64(buf[16:24], attempt)
		key, err := crypto.ToECDSA(crypto.Keccak256([]byte(domain), buf[:]))
		if err == nil {
			return key
		}
	}
}

// ValidatorKeys derives n validator keys from seed.
func ValidatorKeys(seed uint64, n int) []*ecdsa.PrivateKey {
	keys := make([]*ecdsa.PrivateKey, n)
	for i := range keys {
		keys[i] = DeriveKey(domainValidatorKey, seed, i)
	}
	return keys
}

// ValidatorSet builds the validator set of keys, named v0, v1, … in order.
func ValidatorSet(keys []*ecdsa.PrivateKey) (*chain.ValidatorSet, error) {
	vals := make([]chain.Validator, len(keys))
	for i, k := range keys {
		vals[i] = chain.Validator{
			Name:   fmt.Sprintf("v%d", i),
			PubKey: crypto.CompressPubkey(&k.PublicKey),
		}
	}
	vs, err := chain.NewValidatorSet(vals)
	if err != nil {
		return nil, fmt.Errorf("sim validator set: %w", err)
	}
	return vs, nil
}
