package chain_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/apps/kv"
	"github.com/bafomet/bafomet/chain/blockfile"
	"github.com/ethereum/go-ethereum/rlp"
)

// blockFileSegment is the path of the store's first block-file segment.
func blockFileSegment(n *testNode) string {
	return filepath.Join(n.dir, "blocks", "0000000000000001.blk")
}

// TestInlineBlocksStillRead: a store written before blocks moved to the
// block file holds them in Badger; they read as before, the store opens,
// and new blocks go to the block file beside them.
func TestInlineBlocksStillRead(t *testing.T) {
	n := newTestNode(t, kv.New(), "")
	defer func() { n.close() }()
	k := keyN(t, 1)
	r1 := n.apply(sign(t, k, 0, "a=1"))
	r2 := n.apply(sign(t, k, 1, "b=2"), sign(t, k, 1, "c=3"))
	for _, r := range []*chain.BlockResult{r1, r2} {
		b, err := n.store.Block(r.Height)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rlp.EncodeToBytes(r.Receipts)
		if err != nil {
			t.Fatal(err)
		}
		if err := chain.PutInlineBlock(n.store, r.Height, b.Encode(), rc); err != nil {
			t.Fatal(err)
		}
	}
	n.reopen() // the latest height is inline: the block file is emptied
	if got := n.store.BlockFileBytes(); got != 0 {
		t.Fatalf("block file holds %d bytes when no height names it", got)
	}
	r3 := n.apply(sign(t, k, 2, "d=4"))
	n.reopen()
	for _, r := range []*chain.BlockResult{r1, r2, r3} {
		b, err := n.store.Block(r.Height)
		if err != nil {
			t.Fatalf("block %d: %v", r.Height, err)
		}
		if b.Hash() != r.Hash {
			t.Fatalf("block %d hash %s, want %s", r.Height, b.Hash(), r.Hash)
		}
		rs, err := n.store.Receipts(r.Height)
		if err != nil || len(rs) != len(r.Receipts) || rs[len(rs)-1].Code != r.Receipts[len(rs)-1].Code {
			t.Fatalf("receipts %d = %v, %v; want %v", r.Height, rs, err, r.Receipts)
		}
	}
	if got := n.store.BlockFileBytes(); got == 0 {
		t.Fatal("block 3 is not in the block file")
	}
}

// TestStoreRefusesLostBlockFile: a data directory whose block file is gone
// or cut short does not open (it would serve missing blocks to peers and
// clients); the error names the cause.
func TestStoreRefusesLostBlockFile(t *testing.T) {
	for name, damage := range map[string]func(n *testNode) error{
		"removed":   func(n *testNode) error { return os.RemoveAll(filepath.Join(n.dir, "blocks")) },
		"truncated": func(n *testNode) error { return os.Truncate(blockFileSegment(n), 10) },
	} {
		t.Run(name, func(t *testing.T) {
			n := newTestNode(t, kv.New(), "")
			n.apply(sign(t, keyN(t, 1), 0, "a=1"))
			n.close()
			if err := damage(n); err != nil {
				t.Fatal(err)
			}
			checkOpenRefused(t, n.dir, blockfile.ErrMissing)
		})
	}
}

// TestStoreRefusesDamagedLatestReceipts: the store reads the latest
// receipts entry before cutting the block file to its end, so a damaged
// entry stops the open and the file is left as it was, not cut short.
func TestStoreRefusesDamagedLatestReceipts(t *testing.T) {
	n := newTestNode(t, kv.New(), "")
	n.apply(sign(t, keyN(t, 1), 0, "a=1"))
	n.close()
	path := blockFileSegment(n)
	size := flipLastByte(t, path) // inside the last entry: height 1's receipts
	checkOpenRefused(t, n.dir, blockfile.ErrCorrupt)
	if st, err := os.Stat(path); err != nil || st.Size() != size {
		t.Fatalf("block file after the refused open: %v, %v; want %d bytes", st, err, size)
	}
}

// checkOpenRefused fails unless opening the store in dir fails with want.
func checkOpenRefused(t *testing.T, dir string, want error) {
	t.Helper()
	s, err := chain.OpenStore(dir, chain.StoreOptions{Logger: quietLog})
	if err == nil {
		s.Close()
		t.Fatalf("store opened; want %v", want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("open: %v, want %v", err, want)
	}
}

// flipLastByte changes the last byte of the file at path and returns the
// file's size.
func flipLastByte(t *testing.T, path string) int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] ^= 1
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return int64(len(data))
}

// TestDamagedBlockIsAnError: a block whose bytes changed on disk is
// refused by its checksum, never served.
func TestDamagedBlockIsAnError(t *testing.T) {
	n := newTestNode(t, kv.New(), "")
	defer n.close()
	n.apply(sign(t, keyN(t, 1), 0, "a=1"))
	path := blockFileSegment(n)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[20] ^= 1 // inside block 1, the first entry
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := n.store.Block(1); !errors.Is(err, blockfile.ErrCorrupt) {
		t.Fatalf("damaged block: %v", err)
	}
	if _, err := n.store.Receipts(1); err != nil {
		t.Fatalf("receipts beside the damaged block: %v", err)
	}
}

// TestTxIndexHoldsNoReceipt: a transaction's index entry is only where it
// executed, [height, index]; Tx reads the receipt from the block's
// receipts, and a record written before (receipt inside) reads as it is.
func TestTxIndexHoldsNoReceipt(t *testing.T) {
	n := newTestNode(t, kv.New(), "")
	defer func() { n.close() }()
	k := keyN(t, 1)
	first := sign(t, k, 0, "a=1")
	n.apply(first)
	res := n.apply(sign(t, k, 1, "b=2"), first, sign(t, k, 2, "no separator"))
	for i, h := range res.TxHashes {
		raw, err := chain.TxRecordBytes(n.store, h)
		if err != nil {
			t.Fatal(err)
		}
		var loc []uint64
		if err := rlp.DecodeBytes(raw, &loc); err != nil || len(loc) != 2 {
			t.Fatalf("t/ value of tx %d = %x (%v, %v): want [height, index]", i, raw, loc, err)
		}
		rec, err := n.store.Tx(h)
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 { // the replay keeps the record of its execution in block 1
			if rec.Height != 1 || rec.Index != 0 || rec.Receipt.Code != chain.CodeOK {
				t.Fatalf("replayed tx record %+v, want block 1's execution", rec)
			}
			continue
		}
		if rec.Height != res.Height || rec.Index != uint64(i) || !bytes.Equal(rlpBytes(t, rec.Receipt), rlpBytes(t, res.Receipts[i])) {
			t.Fatalf("tx %d record %+v, want height %d index %d receipt %+v", i, rec, res.Height, i, res.Receipts[i])
		}
	}

	legacy := chain.TxRecord{Height: res.Height, Index: 0, Receipt: chain.Receipt{Code: 7, Message: "from the record"}}
	if err := chain.PutLegacyTxRecord(n.store, res.TxHashes[0], legacy); err != nil {
		t.Fatal(err)
	}
	n.reopen()
	rec, err := n.store.Tx(res.TxHashes[0])
	if err != nil || rec.Receipt.Code != 7 || rec.Receipt.Message != "from the record" {
		t.Fatalf("legacy record read as %+v, %v", rec, err)
	}
}
