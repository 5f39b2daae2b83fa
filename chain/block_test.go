package chain

import (
	"bytes"
	"encoding/hex"
	"errors"
	"slices"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

func testBlock(t testing.TB, height uint64, ntx int) *Block {
	t.Helper()
	key := testKey(t, 5)
	sender := crypto.PubkeyToAddress(key.PublicKey)
	b := &Block{Header: Header{Height: height, Timestamp: 1000 + height, ParentHash: Hash{byte(height)}}}
	for i := 0; i < ntx; i++ {
		tx, err := SignTx(key, "c", uint64(i), []byte("k=v"))
		if err != nil {
			t.Fatal(err)
		}
		b.Txs = append(b.Txs, tx.Bytes())
		b.Senders = append(b.Senders, sender)
	}
	b.Header.TxRoot = TxRoot(b.Txs, b.Senders)
	return b
}

func TestBlockRoundTrip(t *testing.T) {
	b := testBlock(t, 3, 4)
	enc := b.Encode()
	dec, err := DecodeBlock(enc)
	if err != nil {
		t.Fatal(err)
	}
	if dec.Hash() != b.Hash() || !bytes.Equal(dec.Encode(), enc) || len(dec.Txs) != 4 || dec.Size() != b.Size() {
		t.Fatalf("round trip changed the block")
	}
	if err := dec.CheckTxRoot(); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeBlock(append(enc, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

func TestCheckTxRoot(t *testing.T) {
	b := testBlock(t, 1, 2)
	b.Senders[1] = Address{1}
	if err := b.CheckTxRoot(); !errors.Is(err, ErrTxRootMismatch) {
		t.Fatalf("changed sender: %v", err)
	}
	b.Senders = b.Senders[:1]
	if err := b.CheckTxRoot(); !errors.Is(err, ErrSendersMismatch) {
		t.Fatalf("missing sender: %v", err)
	}
	empty := &Block{}
	if got := TxRoot(nil, nil); got != crypto.Keccak256Hash([]byte{0xc0}) {
		t.Fatalf("empty root = %s", got)
	}
	empty.Header.TxRoot = TxRoot(nil, nil)
	if err := empty.CheckTxRoot(); err != nil {
		t.Fatal(err)
	}
}

// TestTxHashesMemoFollowsTheTransactions: the memoized hashes must never
// vouch for transactions they were not computed from. Replacing a
// transaction (in the block or in a copy of it) after a successful
// CheckTxRoot must make the check fail again, and a copy with other
// transactions must not disturb the original's memo.
func TestTxHashesMemoFollowsTheTransactions(t *testing.T) {
	b := testBlock(t, 1, 3)
	want := func(txs [][]byte) []Hash {
		out := make([]Hash, len(txs))
		for i, tx := range txs {
			out[i] = crypto.Keccak256Hash(tx)
		}
		return out
	}
	if err := b.CheckTxRoot(); err != nil {
		t.Fatal(err)
	}
	if got := b.TxHashes(); !slices.Equal(got, want(b.Txs)) {
		t.Fatalf("TxHashes = %v", got)
	}
	replacement := append([]byte(nil), b.Txs[1]...)
	replacement[len(replacement)-70] ^= 1 // a payload byte: another transaction

	c := *b // a copy by value shares the memo
	c.Txs = slices.Clone(b.Txs)
	c.Txs[1] = replacement
	if err := c.CheckTxRoot(); !errors.Is(err, ErrTxRootMismatch) {
		t.Fatalf("copy with a replaced transaction: %v", err)
	}
	if got := c.TxHashes(); !slices.Equal(got, want(c.Txs)) {
		t.Fatalf("copy's TxHashes are stale")
	}
	if err := b.CheckTxRoot(); err != nil {
		t.Fatalf("original after the copy: %v", err)
	}

	b.Txs[2] = replacement // in place in the original's slice
	if err := b.CheckTxRoot(); !errors.Is(err, ErrTxRootMismatch) {
		t.Fatalf("replaced transaction passed: %v", err)
	}
	b.Txs = b.Txs[:2]
	b.Senders = b.Senders[:2]
	if got := b.TxHashes(); !slices.Equal(got, want(b.Txs)) {
		t.Fatalf("TxHashes after truncation = %v", got)
	}
	if b.ComputeTxRoot() != TxRoot(b.Txs, b.Senders) {
		t.Fatal("ComputeTxRoot differs from TxRoot")
	}
}

func TestHeaderHashCoversEveryField(t *testing.T) {
	base := Header{Height: 1, ParentHash: Hash{1}, Timestamp: 2, Proposer: Address{3}, TxRoot: Hash{4}, AppHash: Hash{5}, ValidatorsHash: Hash{6}}
	mods := []func(h *Header){
		func(h *Header) { h.Height++ },
		func(h *Header) { h.ParentHash[0]++ },
		func(h *Header) { h.Timestamp++ },
		func(h *Header) { h.Proposer[0]++ },
		func(h *Header) { h.TxRoot[0]++ },
		func(h *Header) { h.AppHash[0]++ },
		func(h *Header) { h.ValidatorsHash[0]++ },
	}
	for i, m := range mods {
		h := base
		m(&h)
		if h.Hash() == base.Hash() {
			t.Errorf("field %d does not change the hash", i)
		}
	}
}

func FuzzDecodeBlock(f *testing.F) {
	f.Add(testBlock(f, 1, 0).Encode())
	f.Add(testBlock(f, 7, 3).Encode())
	for _, s := range []string{"c0", "c3c0c0c0", "f9ffffff", ""} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		blk, err := DecodeBlock(b)
		if err != nil {
			return
		}
		if !bytes.Equal(blk.Encode(), b) {
			t.Fatalf("re-encoding %x gives %x", b, blk.Encode())
		}
		_ = blk.Hash()
		_ = blk.CheckTxRoot()
	})
}
