package chain_test

import (
	"fmt"
	"testing"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/apps/kv"
	"github.com/ethereum/go-ethereum/crypto"
)

func BenchmarkDecodeTxAndSender(b *testing.B) {
	raw := sign(b, keyN(b, 1), 7, "greeting=hello").raw
	b.ReportAllocs()
	for b.Loop() {
		tx, err := chain.DecodeTx(raw, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.Sender(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBlockEncodeAndHash(b *testing.B) {
	blk, _ := makeBlock(b, 1, chain.Hash{}, kvBlock(b, 1000, 64))
	b.ReportAllocs()
	for b.Loop() {
		enc := blk.Encode()
		_ = crypto.Keccak256Hash(enc)
		_ = blk.Hash()
		_ = chain.TxRoot(blk.Txs, blk.Senders)
	}
}

func BenchmarkCertificateVerify(b *testing.B) {
	for _, n := range []int{4, 16} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			vals := make([]chain.Validator, n)
			sigs := make([]chain.CommitSig, 0, n)
			hash := chain.Hash{7}
			q := chain.Quorum(n)
			for i := range vals {
				k := keyN(b, byte(i+10))
				vals[i] = chain.Validator{Name: fmt.Sprint("v", i), PubKey: crypto.CompressPubkey(&k.PublicKey)}
				if i < q {
					sig, err := chain.Sign(k, chain.CommitDigest(testChainID, 9, 0, hash))
					if err != nil {
						b.Fatal(err)
					}
					sigs = append(sigs, chain.CommitSig{Validator: uint32(i), Signature: sig})
				}
			}
			vs, err := chain.NewValidatorSet(vals)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				// A new Certificate each time: Verify remembers a success.
				c := &chain.Certificate{Height: 9, BlockHash: hash, Signatures: sigs}
				if err := c.Verify(testChainID, vs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkLtHashUpdate(b *testing.B) {
	var lt chain.LtHash
	key, old, val := []byte("s/key000001"), []byte("old value"), []byte("new value")
	b.ReportAllocs()
	for b.Loop() {
		lt.Remove(key, old)
		lt.Add(key, val)
	}
}

// BenchmarkApplyBlockKV1000 applies a 1,000-transaction kv block (1,000
// state writes and one nonce write) to a store with synced writes. Each
// iteration applies the next block on a growing state.
func BenchmarkApplyBlockKV1000(b *testing.B) {
	n := newTestNode(b, kv.New(), "")
	defer n.close()
	k := keyN(b, 4)
	var nonce uint64
	mk := func() []signed {
		txs := make([]signed, 1000)
		for i := range txs {
			txs[i] = sign(b, k, nonce, fmt.Sprintf("key%07d=value-%d", nonce, nonce))
			nonce++
		}
		return txs
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		blk, cert := makeBlock(b, n.height()+1, n.parentHash(), mk())
		b.StartTimer()
		if _, err := n.exec.ApplyBlock(blk, cert); err != nil {
			b.Fatal(err)
		}
	}
}
