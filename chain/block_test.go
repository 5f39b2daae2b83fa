package chain

import (
	"bytes"
	"encoding/hex"
	"errors"
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
