package chain

import (
	"crypto/ecdsa"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
)

// Validator is one member of the static validator set named in genesis.
type Validator struct {
	Name      string
	PubKey    []byte // 33-byte compressed secp256k1 public key
	Address   Address
	Multiaddr string // libp2p multiaddr the validator listens on
}

// ValidatorSet is the ordered, immutable set of validators. A validator's
// index in the set is its identity in certificates and in PBFT (the primary
// of view v is the validator at index v mod n).
type ValidatorSet struct {
	vals    []Validator
	byAddr  map[Address]int
	pubKeys []*ecdsa.PublicKey
	hash    Hash
	sigs    sigCache
}

// NewValidatorSet builds a set from validators in order. It rejects an empty
// set, bad keys and duplicate keys or addresses.
func NewValidatorSet(vals []Validator) (*ValidatorSet, error) {
	if len(vals) == 0 {
		return nil, errors.New("validator set is empty")
	}
	vs := &ValidatorSet{byAddr: make(map[Address]int, len(vals))}
	for i, v := range vals {
		pub, err := crypto.DecompressPubkey(v.PubKey)
		if err != nil {
			return nil, fmt.Errorf("validator %d (%s): bad public key: %w", i, v.Name, err)
		}
		addr := crypto.PubkeyToAddress(*pub)
		if j, dup := vs.byAddr[addr]; dup {
			return nil, fmt.Errorf("validator %d (%s): same key as validator %d (%s)", i, v.Name, j, vals[j].Name)
		}
		v.Address = addr
		v.PubKey = append([]byte(nil), v.PubKey...)
		vs.byAddr[addr] = i
		vs.vals = append(vs.vals, v)
		vs.pubKeys = append(vs.pubKeys, pub)
	}
	vs.hash = vs.computeHash()
	return vs, nil
}

func (vs *ValidatorSet) computeHash() Hash {
	type entry struct {
		Name   string
		PubKey []byte
	}
	list := make([]entry, len(vs.vals))
	for i, v := range vs.vals {
		list[i] = entry{v.Name, v.PubKey}
	}
	enc, err := rlp.EncodeToBytes(list)
	if err != nil {
		panic(fmt.Sprintf("chain: encoding validator set: %v", err))
	}
	return crypto.Keccak256Hash([]byte("bafomet/validators/v1"), enc)
}

// Size returns n, the number of validators.
func (vs *ValidatorSet) Size() int { return len(vs.vals) }

// F returns the number of Byzantine validators tolerated, ⌊(n-1)/3⌋.
func (vs *ValidatorSet) F() int { return MaxFaulty(len(vs.vals)) }

// Quorum returns ⌊2n/3⌋+1, the number of matching votes that commit.
func (vs *ValidatorSet) Quorum() int { return Quorum(len(vs.vals)) }

// Hash commits to the names and keys of the validators, in order.
func (vs *ValidatorSet) Hash() Hash { return vs.hash }

// Validator returns the validator at index i.
func (vs *ValidatorSet) Validator(i int) Validator { return vs.vals[i] }

// Validators returns a copy of the validators in order.
func (vs *ValidatorSet) Validators() []Validator { return append([]Validator(nil), vs.vals...) }

// IndexOf returns the index of the validator with address addr.
func (vs *ValidatorSet) IndexOf(addr Address) (int, bool) {
	i, ok := vs.byAddr[addr]
	return i, ok
}

// PubKey returns the public key of validator i.
func (vs *ValidatorSet) PubKey(i int) *ecdsa.PublicKey { return vs.pubKeys[i] }

// Quorum returns ⌊2n/3⌋+1 for n validators.
func Quorum(n int) int { return 2*n/3 + 1 }

// MaxFaulty returns ⌊(n-1)/3⌋ for n validators.
func MaxFaulty(n int) int {
	if n <= 0 {
		return 0
	}
	return (n - 1) / 3
}
