package snapshot_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/snapshot"
)

// testState returns n state entries in key order: a few nonces, then
// application keys whose values are valueBytes long.
func testState(n, valueBytes int) ([]chain.StateEntry, *chain.LtHash) {
	var out []chain.StateEntry
	for i := range 3 {
		var a chain.Address
		a[0] = byte(i + 1)
		out = append(out, chain.StateEntry{Key: append([]byte("n/"), a[:]...), Value: []byte{0, 0, 0, 0, 0, 0, 0, byte(i + 7)}})
	}
	for i := range n {
		out = append(out, chain.StateEntry{Key: fmt.Appendf(nil, "s/key-%06d", i), Value: bytes.Repeat([]byte{byte(i)}, valueBytes)})
	}
	var lt chain.LtHash
	for _, e := range out {
		lt.Add(e.Key, e.Value)
	}
	return out, &lt
}

// storeWith returns a store holding entries as the state after height h.
func storeWith(t *testing.T, entries []chain.StateEntry, lt *chain.LtHash, h uint64) *chain.Store {
	t.Helper()
	s, err := chain.OpenStore(t.TempDir(), chain.StoreOptions{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.ImportStateEntries(entries); err != nil {
		t.Fatal(err)
	}
	head := chain.StateImportHead{Height: h, BlockHash: crypto.Keccak256Hash([]byte("block")), AppHash: lt.AppHash(), LtHash: lt, Checkpoint: []byte("proof")}
	if err := s.FinishStateImport(head); err != nil {
		t.Fatal(err)
	}
	return s
}

func readAll(t *testing.T, s *chain.Store) []chain.StateEntry {
	t.Helper()
	r, err := s.OpenStateRead()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []chain.StateEntry
	if err := r.Each(func(e chain.StateEntry) error {
		out = append(out, chain.StateEntry{Key: bytes.Clone(e.Key), Value: bytes.Clone(e.Value)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestWriteAndRestore writes a snapshot of a state larger than two chunks,
// checks the manifest, and restores the chunks into an empty store: the
// same entries and the same appHash.
func TestWriteAndRestore(t *testing.T) {
	entries, lt := testState(3000, 3000) // ≈ 9 MB: three chunks
	src := storeWith(t, entries, lt, 40)
	dir, err := snapshot.OpenDir(filepath.Join(t.TempDir(), "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := src.OpenStateRead()
	if err != nil {
		t.Fatal(err)
	}
	m, err := dir.Write(r, "test-chain", crypto.Keccak256Hash([]byte("block")))
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if m.Height != 40 || m.AppHash != lt.AppHash() || m.Entries != uint64(len(entries)) || len(m.Chunks) != 3 {
		t.Fatalf("manifest: height %d entries %d chunks %d appHash ok %v", m.Height, m.Entries, len(m.Chunks), m.AppHash == lt.AppHash())
	}
	got, err := dir.Manifest(40)
	if err != nil || got.Hash() != m.Hash() {
		t.Fatalf("stored manifest: %v (hash equal %v)", err, err == nil && got.Hash() == m.Hash())
	}
	dst, err := chain.OpenStore(t.TempDir(), chain.StoreOptions{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	var acc chain.LtHash
	for i, want := range m.Chunks {
		b, err := dir.Chunk(40, i)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > snapshot.ChunkBytes+8 {
			t.Errorf("chunk %d is %d bytes, over ChunkBytes", i, len(b))
		}
		if snapshot.ChunkHash(b) != want {
			t.Fatalf("chunk %d hash differs from the manifest", i)
		}
		es, err := snapshot.DecodeChunk(b)
		if err != nil {
			t.Fatal(err)
		}
		acc.Combine(snapshot.LtHashOf(es))
		if err := dst.ImportStateEntries(es); err != nil {
			t.Fatal(err)
		}
	}
	head := chain.StateImportHead{Height: 40, BlockHash: m.BlockHash, AppHash: m.AppHash, LtHash: &acc, Checkpoint: []byte("proof")}
	if err := dst.FinishStateImport(head); err != nil {
		t.Fatal(err)
	}
	if h, _ := dst.Height(); h != 40 {
		t.Fatalf("restored height %d, want 40", h)
	}
	if ah, err := dst.AppHashAt(40); err != nil || ah != lt.AppHash() {
		t.Fatalf("restored appHash %s, %v", ah, err)
	}
	if !equalEntries(readAll(t, dst), entries) {
		t.Fatal("restored entries differ")
	}
}

func equalEntries(a, b []chain.StateEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].Key, b[i].Key) || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

// TestChunkingIsDeterministic: two stores with the same state write the
// same manifest, byte for byte.
func TestChunkingIsDeterministic(t *testing.T) {
	entries, lt := testState(1500, 5000)
	var hashes []chain.Hash
	for range 2 {
		s := storeWith(t, entries, lt, 8)
		dir, err := snapshot.OpenDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		r, _ := s.OpenStateRead()
		m, err := dir.Write(r, "c", chain.Hash{1})
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, m.Hash())
	}
	if hashes[0] != hashes[1] {
		t.Fatal("same state, different manifests")
	}
}

// TestFinishRefusesWrongAppHash: entries that do not hash to the
// certified appHash leave the store empty.
func TestFinishRefusesWrongAppHash(t *testing.T) {
	entries, lt := testState(10, 10)
	s, err := chain.OpenStore(t.TempDir(), chain.StoreOptions{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.ImportStateEntries(entries[:len(entries)-1]); err != nil {
		t.Fatal(err)
	}
	var partial chain.LtHash
	for _, e := range entries[:len(entries)-1] {
		partial.Add(e.Key, e.Value)
	}
	err = s.FinishStateImport(chain.StateImportHead{Height: 3, AppHash: lt.AppHash(), LtHash: &partial})
	if !errors.Is(err, chain.ErrImportAppHash) {
		t.Fatalf("finish with a missing entry: %v, want ErrImportAppHash", err)
	}
	if ok, _ := s.Initialized(); ok {
		t.Fatal("store initialised by a refused import")
	}
}

// TestImportRefusesNonStateEntries: a key outside the state namespaces,
// or a malformed nonce, is refused before anything is written.
func TestImportRefusesNonStateEntries(t *testing.T) {
	s, err := chain.OpenStore(t.TempDir(), chain.StoreOptions{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, e := range []chain.StateEntry{
		{Key: []byte("m/height"), Value: []byte{1}},
		{Key: []byte("s/"), Value: []byte{1}},
		{Key: []byte("n/short"), Value: make([]byte, 8)},
		{Key: append([]byte("n/"), make([]byte, 20)...), Value: []byte{1}},
	} {
		if err := s.ImportStateEntries([]chain.StateEntry{{Key: []byte("s/ok"), Value: []byte("v")}, e}); err == nil {
			t.Errorf("entry %q accepted", e.Key)
		}
	}
	if got := countEntries(t, s); got != 0 {
		t.Fatalf("%d entries written by refused imports", got)
	}
}

// countEntries finishes an import of nothing into s and counts the
// entries it holds.
func countEntries(t *testing.T, s *chain.Store) int {
	t.Helper()
	var empty chain.LtHash
	if err := s.FinishStateImport(chain.StateImportHead{Height: 1, AppHash: empty.AppHash(), LtHash: &empty}); err != nil {
		t.Fatal(err)
	}
	return len(readAll(t, s))
}

// TestDirPrunesAndDropsTemporaries: an interrupted write leaves nothing
// visible, and Prune keeps the newest.
func TestDirPrunesAndDropsTemporaries(t *testing.T) {
	path := t.TempDir()
	if err := os.MkdirAll(filepath.Join(path, "00000000000000000010.tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	dir, err := snapshot.OpenDir(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(path, "00000000000000000010.tmp")); !os.IsNotExist(err) {
		t.Fatalf("leftover temporary kept: %v", err)
	}
	entries, lt := testState(5, 5)
	for _, h := range []uint64{10, 20, 30} {
		s := storeWith(t, entries, lt, h)
		r, _ := s.OpenStateRead()
		if _, err := dir.Write(r, "c", chain.Hash{}); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	if err := dir.SetProof(20, []byte("p20")); err != nil {
		t.Fatal(err)
	}
	if p, err := dir.Proof(20); err != nil || string(p) != "p20" {
		t.Fatalf("proof: %q %v", p, err)
	}
	if _, err := dir.Proof(30); !errors.Is(err, snapshot.ErrNotFound) {
		t.Fatalf("proof of 30: %v, want ErrNotFound", err)
	}
	if err := dir.Prune(2); err != nil {
		t.Fatal(err)
	}
	if hs, _ := dir.Heights(); len(hs) != 2 || hs[0] != 20 || hs[1] != 30 {
		t.Fatalf("after prune: %v, want [20 30]", hs)
	}
}
