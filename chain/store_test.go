package chain_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/apps/kv"
	"github.com/bafomet/bafomet/chain/wal"
)

// A data directory written before the consensus log moved out of Badger
// still holds its records under p/: LegacyRecords returns them in append
// order with their heights, and DeleteLegacyRecords removes them.
func TestLegacyRecords(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	if recs, err := s.LegacyRecords(); err != nil || len(recs) != 0 {
		t.Fatalf("new store has legacy records %v (%v)", recs, err)
	}
	want := []wal.Record{{Height: 5, Data: []byte("pp5")}, {Height: 5, Data: []byte("p5")}, {Height: 3, Data: []byte("vc3")}, {Height: 6, Data: []byte("c6")}}
	for i, r := range want {
		if err := chain.PutLegacyRecord(s, uint64(i), r.Height, r.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	defer s.Close()
	got, err := s.LegacyRecords()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("legacy records = %v, want %v", got, want)
	}
	if err := s.DeleteLegacyRecords(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.LegacyRecords(); err != nil || len(got) != 0 {
		t.Fatalf("after delete: %v (%v)", got, err)
	}
}

func TestCheckpoints(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	if _, _, err := s.LatestCheckpoint(); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("no checkpoint: %v", err)
	}
	for _, h := range []uint64{100, 300, 200, 1 << 60} {
		if err := s.PutCheckpoint(h, []byte(fmt.Sprint("proof", h))); err != nil {
			t.Fatal(err)
		}
	}
	h, proof, err := s.LatestCheckpoint()
	if err != nil || h != 1<<60 || string(proof) != fmt.Sprint("proof", uint64(1<<60)) {
		t.Fatalf("latest = %d %q %v", h, proof, err)
	}
	if p, err := s.Checkpoint(200); err != nil || string(p) != "proof200" {
		t.Fatalf("checkpoint 200 = %q, %v", p, err)
	}
	if _, err := s.Checkpoint(150); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("checkpoint 150: %v", err)
	}
}

func TestCheckIdentity(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	gh := chain.Hash{1, 2, 3}
	if err := s.CheckIdentity("alpha", gh); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	defer s.Close()
	tests := []struct {
		chainID string
		gh      chain.Hash
		wantErr error
	}{
		{"alpha", gh, nil},
		{"beta", gh, chain.ErrOtherChain},
		{"alpha", chain.Hash{9}, chain.ErrOtherChain},
	}
	for _, tc := range tests {
		if err := s.CheckIdentity(tc.chainID, tc.gh); !errors.Is(err, tc.wantErr) {
			t.Errorf("CheckIdentity(%q, %s) = %v, want %v", tc.chainID, tc.gh, err, tc.wantErr)
		}
	}
	if v, err := s.Meta(chain.MetaChainID); err != nil || string(v) != "alpha" {
		t.Fatalf("meta chain id = %q, %v", v, err)
	}
	if err := s.PutMeta("note", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Meta("note"); err != nil || string(v) != "x" {
		t.Fatalf("meta note = %q, %v", v, err)
	}
	if _, err := s.Meta("absent"); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("absent meta: %v", err)
	}
}

// kvBlock returns ntx kv transactions from one sender, each payload of
// about payloadBytes.
func kvBlock(t testing.TB, ntx, payloadBytes int) []signed {
	k := keyN(t, 4)
	txs := make([]signed, ntx)
	for i := range txs {
		p := fmt.Sprintf("key%06d=", i)
		for len(p) < payloadBytes {
			p += "v"
		}
		txs[i] = sign(t, k, uint64(i), p)
	}
	return txs
}

func TestBigBlockCommitsAtomically(t *testing.T) {
	if testing.Short() {
		t.Skip("signs 5,000 transactions")
	}
	n := newTestNode(t, kv.New(), "")
	defer n.close()
	res := n.apply(kvBlock(t, 5000, 200)...)
	if len(res.Receipts) != 5000 || res.Receipts[4999].Code != chain.CodeOK {
		t.Fatalf("receipts = %d", len(res.Receipts))
	}
	if nonce, _ := n.store.Nonce(addr(keyN(t, 4))); nonce != 5000 {
		t.Fatalf("nonce = %d", nonce)
	}
}

// TestBlockTooBigForBadger shrinks Badger's memtable so its transaction
// limit (15% of it) is below what a block writes: the commit fails with
// ErrBlockTooBig and the store stays at the previous height.
func TestBlockTooBigForBadger(t *testing.T) {
	dir := t.TempDir()
	s, err := chain.OpenStore(dir, chain.StoreOptions{MemTableBytes: 1 << 20, BlockCacheBytes: 1 << 20, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.MaxCommitBytes(); got != 157286 {
		t.Fatalf("MaxCommitBytes = %d", got)
	}
	e := chain.NewExecutor(s, kv.New(), testChainID, quietLog)
	if _, err := e.InitGenesis(nil); err != nil {
		t.Fatal(err)
	}
	fits, fitsCert := makeBlock(t, 1, chain.Hash{}, kvBlock(t, 100, 100))
	if _, err := e.ApplyBlock(fits, fitsCert); err != nil {
		t.Fatalf("small block: %v", err)
	}
	big, bigCert := makeBlock(t, 2, fits.Hash(), kvBlock(t, 1100, 100)[100:])
	if _, err := e.ApplyBlock(big, bigCert); !errors.Is(err, chain.ErrBlockTooBig) {
		t.Fatalf("big block err = %v", err)
	}
	if h, err := s.Height(); err != nil || h != 1 {
		t.Fatalf("height = %d, %v", h, err)
	}
}

// TestMemTableSizedForGenesisLimits: the default memtable cannot commit a
// 30,000-transaction block, the one MemTableBytesFor sizes for that limit
// can, and the default limits keep the default size.
func TestMemTableSizedForGenesisLimits(t *testing.T) {
	if got := chain.MemTableBytesFor(1000, 2<<20); got != chain.DefaultMemTableBytes {
		t.Fatalf("default genesis limits: memtable %d, want the default %d", got, chain.DefaultMemTableBytes)
	}
	if testing.Short() {
		t.Skip("signs 30,000 transactions")
	}
	const ntx, payload = 30_000, 100
	txs := kvBlock(t, ntx, payload)
	var blockBytes uint64
	for _, tx := range txs {
		blockBytes += uint64(len(tx.raw))
	}
	for _, c := range []struct {
		name     string
		memtable int64
		wantErr  error
	}{
		{"default", chain.DefaultMemTableBytes, chain.ErrBlockTooBig},
		{"sized", chain.MemTableBytesFor(ntx, blockBytes), nil},
	} {
		s, err := chain.OpenStore(t.TempDir(), chain.StoreOptions{MemTableBytes: c.memtable, Logger: quietLog})
		if err != nil {
			t.Fatal(err)
		}
		e := chain.NewExecutor(s, kv.New(), testChainID, quietLog)
		if _, err := e.InitGenesis(nil); err != nil {
			t.Fatal(err)
		}
		b, cert := makeBlock(t, 1, chain.Hash{}, txs)
		if _, err := e.ApplyBlock(b, cert); !errors.Is(err, c.wantErr) {
			t.Errorf("%s memtable (%d bytes): apply = %v, want %v", c.name, c.memtable, err, c.wantErr)
		}
		s.Close()
	}
}
