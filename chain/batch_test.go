package chain_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/apps/kv"
	"github.com/ethereum/go-ethereum/rlp"
)

// batchBlocks builds five consecutive blocks whose transactions depend on
// the blocks before them: the same sender's nonces run on across blocks,
// keys are overwritten, and a replayed transaction must see the earlier
// block's nonce.
func batchBlocks(t *testing.T) ([]*chain.Block, []*chain.Certificate) {
	k1, k2 := keyN(t, 1), keyN(t, 2)
	perBlock := [][]signed{
		{sign(t, k1, 0, "a=1"), sign(t, k2, 0, "b=1")},
		{sign(t, k1, 1, "a=2"), sign(t, k1, 0, "a=replayed")}, // bad nonce: 0 was used in block 1
		{},
		{sign(t, k2, 1, "a=3"), sign(t, k2, 2, "no separator")},
		{sign(t, k1, 2, "c=4"), sign(t, k2, 3, "b=5")},
	}
	var blocks []*chain.Block
	var certs []*chain.Certificate
	parent := chain.Hash{}
	for i, txs := range perBlock {
		b, c := makeBlock(t, uint64(i+1), parent, txs)
		blocks, certs = append(blocks, b), append(certs, c)
		parent = b.Hash()
	}
	return blocks, certs
}

// TestApplyBlocksMatchesOneByOne: applying blocks in one batch commits
// exactly what applying them one at a time does — the same hashes,
// appHashes, receipts, state and nonces — and survives a reopen.
func TestApplyBlocksMatchesOneByOne(t *testing.T) {
	blocks, certs := batchBlocks(t)
	one := newTestNode(t, kv.New(), `{}`)
	defer one.close()
	var want []*chain.BlockResult
	for i, b := range blocks {
		res, err := one.exec.ApplyBlock(b, certs[i])
		if err != nil {
			t.Fatalf("block %d: %v", i+1, err)
		}
		want = append(want, res)
	}
	batch := newTestNode(t, kv.New(), `{}`)
	defer batch.close()
	got, err := batch.exec.ApplyBlocks(blocks, certs)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("batch results differ:\n got %+v\nwant %+v", got, want)
	}
	if codes(got[1].Receipts)[1] != chain.CodeBadNonce || codes(got[3].Receipts)[1] != kv.CodeBadPayload {
		t.Fatalf("unexpected receipts %v %v", codes(got[1].Receipts), codes(got[3].Receipts))
	}
	check := func(n *testNode) {
		t.Helper()
		if h := n.height(); h != 5 {
			t.Fatalf("height %d, want 5", h)
		}
		for _, a := range []chain.Address{addr(keyN(t, 1)), addr(keyN(t, 2))} {
			a1, err1 := one.store.Nonce(a)
			a2, err2 := n.store.Nonce(a)
			if err1 != nil || err2 != nil || a1 != a2 {
				t.Fatalf("nonce of %s: %d, %v vs %d, %v", a, a1, err1, a2, err2)
			}
		}
		for h := uint64(1); h <= 5; h++ {
			ah, err := n.store.AppHashAt(h)
			if err != nil || ah != want[h-1].AppHash {
				t.Fatalf("AppHashAt(%d) = %s, %v", h, ah, err)
			}
		}
		for h := uint64(1); h <= 5; h++ {
			b, err := n.store.Block(h)
			if err != nil || b.Hash() != want[h-1].Hash {
				t.Fatalf("Block(%d) = %v, %v; want hash %s", h, b, err, want[h-1].Hash)
			}
			r, err := n.store.Receipts(h)
			if err != nil || !bytes.Equal(rlpBytes(t, r), rlpBytes(t, want[h-1].Receipts)) {
				t.Fatalf("Receipts(%d) = %v, %v; want %v", h, r, err, want[h-1].Receipts)
			}
		}
		for _, key := range []string{"a", "b", "c"} {
			if g, w := query(t, n, kv.QueryGet, key), query(t, one, kv.QueryGet, key); g != w {
				t.Fatalf("get %s = %s, want %s", key, g, w)
			}
		}
	}
	check(batch)
	batch.reopen()
	check(batch)
}

func rlpBytes(t *testing.T, v any) []byte {
	t.Helper()
	b, err := rlp.EncodeToBytes(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestApplyBlocksAllOrNothing: a batch with one block that cannot follow
// (a wrong parent in the middle) commits none of its blocks, and the
// store accepts the good blocks afterwards.
func TestApplyBlocksAllOrNothing(t *testing.T) {
	blocks, certs := batchBlocks(t)
	n := newTestNode(t, kv.New(), `{}`)
	defer n.close()
	bad, badCert := makeBlock(t, 3, chain.Hash{0x01}, nil)
	mixed := []*chain.Block{blocks[0], blocks[1], bad, blocks[3]}
	mixedCerts := []*chain.Certificate{certs[0], certs[1], badCert, certs[3]}
	if _, err := n.exec.ApplyBlocks(mixed, mixedCerts); !errors.Is(err, chain.ErrWrongParent) {
		t.Fatalf("err = %v, want ErrWrongParent", err)
	}
	if h := n.height(); h != 0 {
		t.Fatalf("height %d after a failed batch, want 0", h)
	}
	if nonce, err := n.store.Nonce(addr(keyN(t, 1))); err != nil || nonce != 0 {
		t.Fatalf("nonce after a failed batch = %d, %v; want 0", nonce, err)
	}
	if _, err := n.store.Block(1); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("Block(1) after a failed batch: %v", err)
	}
	if _, err := n.exec.ApplyBlocks(blocks[:2], certs[:1]); err == nil {
		t.Fatal("mismatched blocks and certificates accepted")
	}
	if _, err := n.exec.ApplyBlocks(blocks, certs); err != nil {
		t.Fatalf("good batch after a failed one: %v", err)
	}
	if h := n.height(); h != 5 {
		t.Fatalf("height %d, want 5", h)
	}
}
