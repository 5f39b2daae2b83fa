package chain_test

import (
	"testing"

	"github.com/bafomet/bafomet/chain"
)

// TestImportedStoreReopens: a store whose state was imported holds no
// block at its height; it opens again all the same, at that height.
func TestImportedStoreReopens(t *testing.T) {
	dir := t.TempDir()
	s, err := chain.OpenStore(dir, chain.StoreOptions{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	entries := []chain.StateEntry{{Key: []byte("s/k"), Value: []byte("v")}}
	var lt chain.LtHash
	lt.Add(entries[0].Key, entries[0].Value)
	if err := s.ImportStateEntries(entries); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishStateImport(chain.StateImportHead{Height: 100, BlockHash: chain.Hash{1}, AppHash: lt.AppHash(), LtHash: &lt, Checkpoint: []byte("p")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = chain.OpenStore(dir, chain.StoreOptions{MinFreeBytes: -1})
	if err != nil {
		t.Fatalf("reopen an imported store: %v", err)
	}
	defer s.Close()
	if h, err := s.Height(); err != nil || h != 100 {
		t.Fatalf("height %d, %v; want 100", h, err)
	}
	if ah, err := s.AppHashAt(100); err != nil || ah != lt.AppHash() {
		t.Fatalf("appHash %s, %v", ah, err)
	}
}
