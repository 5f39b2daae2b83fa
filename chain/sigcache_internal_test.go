package chain

import (
	"crypto/ecdsa"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

// The cache holds at most two generations of SigCacheEntries.
func TestSigCacheBound(t *testing.T) {
	var c sigCache
	for i := range 3*SigCacheEntries + 7 {
		var k sigKey
		binary.BigEndian.PutUint64(k.digest[:], uint64(i))
		c.add(k)
		if n := len(c.cur) + len(c.prev); n > 2*SigCacheEntries {
			t.Fatalf("after %d adds the cache holds %d entries, more than 2 × %d", i+1, n, SigCacheEntries)
		}
	}
	var newest sigKey
	binary.BigEndian.PutUint64(newest.digest[:], uint64(3*SigCacheEntries+6))
	if !c.has(newest) {
		t.Fatal("the newest entry is gone")
	}
	var oldest sigKey
	if c.has(oldest) {
		t.Fatal("the oldest entry survived two generations")
	}
}

func testValidatorSet(t *testing.T, n int) (*ValidatorSet, []*ecdsa.PrivateKey) {
	t.Helper()
	var keys []*ecdsa.PrivateKey
	var vals []Validator
	for range n {
		k, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
		vals = append(vals, Validator{Name: "v", PubKey: crypto.CompressPubkey(&k.PublicKey)})
	}
	vs, err := NewValidatorSet(vals)
	if err != nil {
		t.Fatal(err)
	}
	return vs, keys
}

// A remembered signature verifies again only for its own signer, digest
// and bytes; a bad one is never remembered.
func TestValidatorSetVerifySignatureCache(t *testing.T) {
	vs, keys := testValidatorSet(t, 2)
	digest := SigningDigest("test", []any{uint64(1)})
	sig, err := Sign(keys[0], digest)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second time from the cache
		if err := vs.VerifySignature(0, digest, sig); err != nil {
			t.Fatalf("valid signature: %v", err)
		}
		if err := vs.VerifySignature(1, digest, sig); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("signature of validator 0 accepted for validator 1: %v", err)
		}
		other := digest
		other[0] ^= 1
		if err := vs.VerifySignature(0, other, sig); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("signature accepted for another digest: %v", err)
		}
	}
	bad := append([]byte(nil), sig...)
	bad[10] ^= 1
	for range 2 {
		if err := vs.VerifySignature(0, digest, bad); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("corrupted signature: %v", err)
		}
	}
	if n := len(vs.sigs.cur) + len(vs.sigs.prev); n != 1 {
		t.Fatalf("cache holds %d entries, want only the valid signature", n)
	}
	for _, i := range []int{-1, 2} {
		if err := vs.VerifySignature(i, digest, sig); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("validator index %d: %v", i, err)
		}
	}
	if err := vs.VerifySignature(0, digest, sig[:64]); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("64-byte signature: %v", err)
	}
}
