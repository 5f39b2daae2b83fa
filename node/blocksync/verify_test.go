package blocksync

import (
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
)

// copyBlock returns a deep-enough copy of block h of c to mutate.
func copyBlock(c *testChain, h uint64) (*chain.Block, *chain.Certificate) {
	b := *c.blocks[h-1]
	b.Txs = append([][]byte(nil), b.Txs...)
	b.Senders = append([]chain.Address(nil), b.Senders...)
	cert := *c.certs[h-1]
	cert.Signatures = append([]chain.CommitSig(nil), cert.Signatures...)
	return &b, &cert
}

func TestVerifyBlock(t *testing.T) {
	c := getShared(t)
	v := NewVerifier(testChainID, c.vs, testCkptEvery)
	const h = 10
	tests := []struct {
		name   string
		mutate func(b *chain.Block, cert *chain.Certificate) (*chain.Block, *chain.Certificate)
		height uint64
		want   error
	}{
		{"valid", func(b *chain.Block, cert *chain.Certificate) (*chain.Block, *chain.Certificate) { return b, cert }, h, nil},
		{"wrong height asked", func(b *chain.Block, cert *chain.Certificate) (*chain.Block, *chain.Certificate) { return b, cert }, h + 1, ErrBadBlock},
		{"wrong validators hash", func(b *chain.Block, _ *chain.Certificate) (*chain.Block, *chain.Certificate) {
			b.Header.ValidatorsHash = chain.Hash{1}
			return b, certify(t, c.keys, b, 0, 0, 1, 2)
		}, h, ErrBadBlock},
		{"certificate for another block", func(b *chain.Block, _ *chain.Certificate) (*chain.Block, *chain.Certificate) {
			return b, c.certs[h]
		}, h, ErrCertMismatch},
		{"certificate height differs", func(b *chain.Block, cert *chain.Certificate) (*chain.Block, *chain.Certificate) {
			cert.Height++
			return b, cert
		}, h, ErrCertMismatch},
		{"transaction replaced", func(b *chain.Block, cert *chain.Certificate) (*chain.Block, *chain.Certificate) {
			b.Txs[0] = c.blocks[0].Txs[0]
			return b, cert
		}, h, ErrBadBlock},
		{"tx root does not match, block re-certified", func(b *chain.Block, _ *chain.Certificate) (*chain.Block, *chain.Certificate) {
			b.Senders[0] = chain.Address{9}
			return b, certify(t, c.keys, b, 0, 0, 1, 2)
		}, h, ErrBadBlock},
		{"two signatures", func(b *chain.Block, cert *chain.Certificate) (*chain.Block, *chain.Certificate) {
			cert.Signatures = cert.Signatures[:2]
			return b, cert
		}, h, ErrBadCertificate},
		{"forged signature", func(b *chain.Block, cert *chain.Certificate) (*chain.Block, *chain.Certificate) {
			sig := append([]byte(nil), cert.Signatures[0].Signature...)
			sig[10] ^= 1
			cert.Signatures[0].Signature = sig
			return b, cert
		}, h, ErrBadCertificate},
		{"all four signers", func(b *chain.Block, cert *chain.Certificate) (*chain.Block, *chain.Certificate) {
			return b, certify(t, c.keys, b, cert.View, 0, 1, 2, 3)
		}, h, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, cert := tc.mutate(copyBlock(c, h))
			hash, err := v.VerifyBlock(b, cert, tc.height)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err == nil && hash != b.Hash() {
				t.Fatalf("hash %s, want %s", hash, b.Hash())
			}
		})
	}
}

func rangeOf(c *testChain, from, to uint64) []CertifiedBlock {
	var out []CertifiedBlock
	for h := from; h <= to; h++ {
		b, cert := copyBlock(c, h)
		out = append(out, CertifiedBlock{Block: *b, Certificate: *cert})
	}
	return out
}

func TestVerifyRange(t *testing.T) {
	c := getShared(t)
	v := NewVerifier(testChainID, c.vs, 0)
	for _, par := range []int{1, 3, 64} {
		hashes, err := v.VerifyRange(rangeOf(c, 21, 40), 21, par)
		if err != nil || len(hashes) != 20 || hashes[0] != c.hashes[20] || hashes[19] != c.hashes[39] {
			t.Fatalf("parallelism %d: %d hashes, %v", par, len(hashes), err)
		}
	}
	if _, err := v.VerifyRange(rangeOf(c, 21, 40), 22, 2); !errors.Is(err, ErrBadBlock) {
		t.Fatalf("shifted range: %v", err)
	}
	gap := append(rangeOf(c, 21, 25), rangeOf(c, 27, 27)...)
	if _, err := v.VerifyRange(gap, 21, 2); !errors.Is(err, ErrBadBlock) {
		t.Fatalf("gap: %v", err)
	}
	// A block with a valid certificate that names the wrong parent.
	bad := rangeOf(c, 21, 25)
	bad[3].Block.Header.ParentHash = chain.Hash{7}
	bad[3].Certificate = *certify(t, c.keys, &bad[3].Block, 0, 0, 1, 2)
	if _, err := v.VerifyRange(bad, 21, 2); !errors.Is(err, ErrWrongParent) {
		t.Fatalf("wrong parent: %v", err)
	}
	if hashes, err := v.VerifyRange(nil, 5, 4); err != nil || len(hashes) != 0 {
		t.Fatalf("empty range: %v", err)
	}
}

func TestVerifyCheckpoint(t *testing.T) {
	c := getShared(t)
	v := NewVerifier(testChainID, c.vs, testCkptEvery)
	const h = 100
	bh, ah := c.hashes[h-1], c.appHashes[h]
	proof := func(signers ...int) *ordering.CheckpointProof {
		return checkpointProof(t, c.keys, h, bh, ah, signers...)
	}
	tests := []struct {
		name  string
		proof func() *ordering.CheckpointProof
		want  error
	}{
		{"quorum", func() *ordering.CheckpointProof { return proof(0, 1, 2) }, nil},
		{"all four", func() *ordering.CheckpointProof { return proof(3, 2, 1, 0) }, nil},
		{"below quorum", func() *ordering.CheckpointProof { return proof(0, 1) }, ErrBadCheckpoint},
		{"duplicate signer", func() *ordering.CheckpointProof { return proof(0, 1, 1) }, ErrBadCheckpoint},
		{"more messages than validators", func() *ordering.CheckpointProof { return proof(0, 1, 2, 3, 0) }, ErrBadCheckpoint},
		{"off interval", func() *ordering.CheckpointProof { return checkpointProof(t, c.keys, h+1, bh, ah, 0, 1, 2) }, ErrBadCheckpoint},
		{"height zero", func() *ordering.CheckpointProof { return checkpointProof(t, c.keys, 0, bh, ah, 0, 1, 2) }, ErrBadCheckpoint},
		{"message for another appHash", func() *ordering.CheckpointProof {
			p := proof(0, 1, 2)
			p.Checkpoints[2] = checkpointProof(t, c.keys, h, bh, chain.Hash{3}, 2).Checkpoints[0]
			return p
		}, ErrBadCheckpoint},
		{"proof claims another appHash", func() *ordering.CheckpointProof {
			p := proof(0, 1, 2)
			p.AppHash = chain.Hash{3}
			return p
		}, ErrBadCheckpoint},
		{"forged signature", func() *ordering.CheckpointProof {
			p := proof(0, 1, 2)
			p.Checkpoints[1].Signature = append([]byte(nil), p.Checkpoints[0].Signature...)
			return p
		}, ErrBadCheckpoint},
		{"commit message instead", func() *ordering.CheckpointProof {
			p := proof(0, 1, 2)
			p.Checkpoints[0].Type = ordering.MsgCommit
			return p
		}, ErrBadCheckpoint},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := rlp.EncodeToBytes(tc.proof())
			if err != nil {
				t.Fatal(err)
			}
			p, err := v.DecodeCheckpoint(enc)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err == nil && (p.Height != h || p.AppHash != ah || p.BlockHash != bh) {
				t.Fatalf("decoded %+v", p)
			}
		})
	}
	if _, err := v.DecodeCheckpoint([]byte{0x01, 0x02}); !errors.Is(err, ErrBadCheckpoint) {
		t.Fatalf("garbage: %v", err)
	}
}

func TestCheckAppHash(t *testing.T) {
	c := getShared(t)
	p := checkpointProof(t, c.keys, 50, c.hashes[49], c.appHashes[50], 0, 1, 2)
	if err := CheckAppHash(p, 50, c.appHashes[50]); err != nil {
		t.Fatal(err)
	}
	if err := CheckAppHash(p, 50, c.appHashes[49]); !errors.Is(err, ErrAppHashMismatch) {
		t.Fatalf("diverged state: %v", err)
	}
	if err := CheckAppHash(p, 100, c.appHashes[50]); err == nil || errors.Is(err, ErrAppHashMismatch) {
		t.Fatalf("wrong height: %v", err)
	}
}
