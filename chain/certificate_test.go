package chain

import (
	"crypto/ecdsa"
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

// testValidators returns n validators with real keys, seeded 1..n.
func testValidators(t testing.TB, n int) (*ValidatorSet, []*ecdsa.PrivateKey) {
	t.Helper()
	keys := make([]*ecdsa.PrivateKey, n)
	vals := make([]Validator, n)
	for i := range keys {
		keys[i] = testKey(t, byte(i+1))
		vals[i] = Validator{Name: "v" + string(rune('0'+i)), PubKey: crypto.CompressPubkey(&keys[i].PublicKey)}
	}
	vs, err := NewValidatorSet(vals)
	if err != nil {
		t.Fatal(err)
	}
	return vs, keys
}

func commitSig(t testing.TB, key *ecdsa.PrivateKey, idx uint32, chainID string, height, view uint64, h Hash) CommitSig {
	t.Helper()
	sig, err := Sign(key, CommitDigest(chainID, height, view, h))
	if err != nil {
		t.Fatal(err)
	}
	return CommitSig{Validator: idx, Signature: sig}
}

func TestCertificateVerify(t *testing.T) {
	const chainID = "bafomet-test"
	vs, keys := testValidators(t, 4) // f = 1, quorum = 3
	blockHash := crypto.Keccak256Hash([]byte("block 9"))
	sig := func(i int) CommitSig { return commitSig(t, keys[i], uint32(i), chainID, 9, 2, blockHash) }
	outsider := testKey(t, 99)
	forged := commitSig(t, outsider, 1, chainID, 9, 2, blockHash)
	otherChain := commitSig(t, keys[1], 1, "other-chain", 9, 2, blockHash)
	otherView := commitSig(t, keys[1], 1, chainID, 9, 3, blockHash)
	shortSig := sig(1)
	shortSig.Signature = shortSig.Signature[:64]

	tests := []struct {
		name    string
		sigs    []CommitSig
		wantErr error
	}{
		{"quorum", []CommitSig{sig(0), sig(1), sig(2)}, nil},
		{"all", []CommitSig{sig(3), sig(0), sig(2), sig(1)}, nil},
		{"below quorum", []CommitSig{sig(0), sig(1)}, ErrCertNoQuorum},
		{"none", nil, ErrCertNoQuorum},
		{"duplicate signer", []CommitSig{sig(0), sig(1), sig(1)}, ErrCertDuplicateSigner},
		{"unknown signer", []CommitSig{sig(0), sig(1), commitSig(t, keys[2], 4, chainID, 9, 2, blockHash)}, ErrCertUnknownSigner},
		{"max index", []CommitSig{sig(0), sig(1), {Validator: ^uint32(0), Signature: sig(2).Signature}}, ErrCertUnknownSigner},
		{"outsider key", []CommitSig{sig(0), forged, sig(2)}, ErrCertBadSignature},
		{"other chain", []CommitSig{sig(0), otherChain, sig(2)}, ErrCertBadSignature},
		{"other view", []CommitSig{sig(0), otherView, sig(2)}, ErrCertBadSignature},
		{"short signature", []CommitSig{sig(0), shortSig, sig(2)}, ErrCertBadSignature},
		{"signature at wrong index", []CommitSig{sig(0), {Validator: 2, Signature: sig(1).Signature}, sig(3)}, ErrCertBadSignature},
		{"too many", []CommitSig{sig(0), sig(1), sig(2), sig(3), sig(0)}, ErrCertTooManySignatures},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &Certificate{Height: 9, View: 2, BlockHash: blockHash, Signatures: tc.sigs}
			if err := c.Verify(chainID, vs); !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestCertificateCoversFields(t *testing.T) {
	vs, keys := testValidators(t, 1)
	h := crypto.Keccak256Hash([]byte("b"))
	good := &Certificate{Height: 1, View: 0, BlockHash: h, Signatures: []CommitSig{commitSig(t, keys[0], 0, "c", 1, 0, h)}}
	if err := good.Verify("c", vs); err != nil {
		t.Fatalf("n=1 certificate: %v", err)
	}
	for name, c := range map[string]Certificate{
		"height": {Height: 2, View: 0, BlockHash: h, Signatures: good.Signatures},
		"view":   {Height: 1, View: 1, BlockHash: h, Signatures: good.Signatures},
		"hash":   {Height: 1, View: 0, BlockHash: Hash{1}, Signatures: good.Signatures},
	} {
		if err := c.Verify("c", vs); !errors.Is(err, ErrCertBadSignature) {
			t.Errorf("changed %s: err = %v", name, err)
		}
	}
}

// TestCertificateVerifyMemo: a successful Verify is remembered only for
// the exact content, chain id and validator set it checked. Changing any
// field of a verified certificate in place, or verifying it for another
// chain or set, checks the signatures again.
func TestCertificateVerifyMemo(t *testing.T) {
	const chainID = "bafomet-test"
	vs, keys := testValidators(t, 4)
	otherVS, _ := testValidators(t, 7)
	h := crypto.Keccak256Hash([]byte("block 9"))
	fresh := func() *Certificate {
		sigs := make([]CommitSig, 3)
		for i := range sigs {
			sigs[i] = commitSig(t, keys[i], uint32(i), chainID, 9, 2, h)
		}
		c := &Certificate{Height: 9, View: 2, BlockHash: h, Signatures: sigs}
		if err := c.Verify(chainID, vs); err != nil {
			t.Fatalf("valid certificate: %v", err)
		}
		if err := c.Verify(chainID, vs); err != nil {
			t.Fatalf("valid certificate, again: %v", err)
		}
		return c
	}
	changes := map[string]struct {
		change  func(c *Certificate)
		chainID string
		vs      *ValidatorSet
		wantErr error
	}{
		"signature byte":    {func(c *Certificate) { c.Signatures[1].Signature[10] ^= 1 }, chainID, vs, ErrCertBadSignature},
		"signer index":      {func(c *Certificate) { c.Signatures[1].Validator = 3 }, chainID, vs, ErrCertBadSignature},
		"signature dropped": {func(c *Certificate) { c.Signatures = c.Signatures[:2] }, chainID, vs, ErrCertNoQuorum},
		"height":            {func(c *Certificate) { c.Height++ }, chainID, vs, ErrCertBadSignature},
		"view":              {func(c *Certificate) { c.View++ }, chainID, vs, ErrCertBadSignature},
		"block hash":        {func(c *Certificate) { c.BlockHash[0] ^= 1 }, chainID, vs, ErrCertBadSignature},
		"chain id":          {func(*Certificate) {}, "other-chain", vs, ErrCertBadSignature},
		"validator set":     {func(*Certificate) {}, chainID, otherVS, ErrCertNoQuorum}, // same first keys, larger quorum
	}
	for name, tc := range changes {
		t.Run(name, func(t *testing.T) {
			c := fresh()
			tc.change(c)
			if err := c.Verify(tc.chainID, tc.vs); !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
	t.Run("failure is not remembered", func(t *testing.T) {
		c := fresh()
		good := c.Signatures[0].Signature[5]
		c.Signatures[0].Signature[5] ^= 1
		if err := c.Verify(chainID, vs); !errors.Is(err, ErrCertBadSignature) {
			t.Fatalf("err = %v, want %v", err, ErrCertBadSignature)
		}
		c.Signatures[0].Signature[5] = good
		if err := c.Verify(chainID, vs); err != nil {
			t.Fatalf("restored certificate: %v", err)
		}
	})
}

func TestQuorumMaths(t *testing.T) {
	tests := []struct{ n, f, q int }{
		{1, 0, 1}, {2, 0, 2}, {3, 0, 3}, {4, 1, 3}, {5, 1, 4}, {6, 1, 5},
		{7, 2, 5}, {10, 3, 7}, {100, 33, 67},
	}
	for _, tc := range tests {
		if f, q := MaxFaulty(tc.n), Quorum(tc.n); f != tc.f || q != tc.q {
			t.Errorf("n=%d: f=%d q=%d, want f=%d q=%d", tc.n, f, q, tc.f, tc.q)
		}
		// Any two quorums intersect in at least f+1 validators, so in at
		// least one honest one.
		if 2*Quorum(tc.n)-tc.n < MaxFaulty(tc.n)+1 {
			t.Errorf("n=%d: quorums intersect in fewer than f+1", tc.n)
		}
	}
	if MaxFaulty(0) != 0 {
		t.Errorf("MaxFaulty(0) = %d", MaxFaulty(0))
	}
}
