package snapshot_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/snapshot"
)

// exportOf builds an export file whose chunks are the given groups of
// entries (each group one chunk), with a manifest that describes them
// truly unless mutate changes it.
func exportOf(t testing.TB, groups [][]chain.StateEntry, mutate func(*snapshot.Manifest)) []byte {
	t.Helper()
	m := &snapshot.Manifest{Version: snapshot.Version, ChainID: "test-chain", Height: 10, BlockHash: chain.Hash{0xb}}
	var lt chain.LtHash
	var chunks [][]byte
	for _, g := range groups {
		c := snapshot.EncodeChunk(g)
		chunks = append(chunks, c)
		m.Chunks = append(m.Chunks, snapshot.ChunkHash(c))
		m.Entries += uint64(len(g))
		m.Bytes += uint64(len(c))
		lt.Combine(snapshot.LtHashOf(g))
	}
	m.AppHash = lt.AppHash()
	if mutate != nil {
		mutate(m)
	}
	var buf bytes.Buffer
	x, err := snapshot.NewExportWriter(&buf, m.Encode(), []byte("proof"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chunks {
		if err := x.WriteChunk(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readExport reads a whole export file and returns its entries.
func readExport(b []byte) (*snapshot.ExportReader, []chain.StateEntry, error) {
	x, err := snapshot.NewExportReader(bytes.NewReader(b))
	if err != nil {
		return nil, nil, err
	}
	var out []chain.StateEntry
	for {
		_, es, err := x.Next()
		if errors.Is(err, io.EOF) {
			return x, out, nil
		}
		if err != nil {
			return x, out, err
		}
		out = append(out, es...)
	}
}

func threeChunks() ([][]chain.StateEntry, []chain.StateEntry) {
	entries, _ := testState(9, 4)
	return [][]chain.StateEntry{entries[:4], entries[4:8], entries[8:]}, entries
}

// TestExportRoundTrip exports a snapshot from a Dir and reads it back: the
// same manifest, proof and entries.
func TestExportRoundTrip(t *testing.T) {
	entries, lt := testState(3000, 3000) // three chunks
	src := storeWith(t, entries, lt, 40)
	dir, err := snapshot.OpenDir(filepath.Join(t.TempDir(), "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := src.OpenStateRead()
	m, err := dir.Write(r, "test-chain", crypto.Keccak256Hash([]byte("block")))
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := dir.Export(&buf, 40); !errors.Is(err, snapshot.ErrNotStable) {
		t.Fatalf("export without a proof: %v, want ErrNotStable", err)
	}
	if _, err := dir.Export(&buf, 41); !errors.Is(err, snapshot.ErrNotFound) {
		t.Fatalf("export of a missing height: %v, want ErrNotFound", err)
	}
	if err := dir.SetProof(40, []byte("the proof")); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	got, err := dir.Export(&buf, 40)
	if err != nil || got.Hash() != m.Hash() {
		t.Fatalf("export: %v", err)
	}
	x, read, err := readExport(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if x.Manifest().Hash() != m.Hash() || string(x.Proof()) != "the proof" || !bytes.Equal(x.ManifestBytes(), m.Encode()) {
		t.Fatal("manifest or proof differ after the round trip")
	}
	if !equalEntries(read, entries) {
		t.Fatal("entries differ after the round trip")
	}
	if _, _, err := x.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("Next after the end: %v, want io.EOF", err)
	}
}

// TestReadExportTruncated: every proper prefix of a file is refused as
// truncated.
func TestReadExportTruncated(t *testing.T) {
	groups, _ := threeChunks()
	b := exportOf(t, groups, nil)
	for n := range len(b) {
		_, _, err := readExport(b[:n])
		if !errors.Is(err, snapshot.ErrTruncated) {
			t.Fatalf("file cut at %d of %d bytes: %v, want ErrTruncated", n, len(b), err)
		}
	}
}

// section returns the offset of the i-th section's tag (0 = manifest).
func sectionAt(b []byte, i int) int {
	off := len(snapshot.ExportMagic) + 4
	for ; i > 0; i-- {
		off += 5 + int(binary.BigEndian.Uint32(b[off+1:]))
	}
	return off
}

// TestReadExportRefuses: each kind of bad file is refused with an error
// that says what is wrong.
func TestReadExportRefuses(t *testing.T) {
	groups, entries := threeChunks()
	good := exportOf(t, groups, nil)
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name string
		file []byte
		is   error
		msg  string
	}{
		{"empty", nil, snapshot.ErrTruncated, "empty file"},
		{"wrong magic", edit(func(b []byte) []byte { b[0] = 'B'; return b }), snapshot.ErrMalformed, "not a bafomet snapshot file"},
		{"short other file", []byte("hello"), snapshot.ErrMalformed, "not a bafomet snapshot file"},
		{"wrong version", edit(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[len(snapshot.ExportMagic):], 2)
			return b
		}), snapshot.ErrMalformed, "format version 2, this bafomet reads version 1"},
		{"trailing garbage", append(bytes.Clone(good), 0), snapshot.ErrMalformed, "bytes after the trailer"},
		{"damaged chunk", edit(func(b []byte) []byte { b[sectionAt(b, 3)+9] ^= 1; return b }), snapshot.ErrMalformed, "chunk 1 does not match its hash"},
		{"damaged checksum", edit(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), snapshot.ErrMalformed, "checksum in the trailer does not match"},
		{"damaged proof", edit(func(b []byte) []byte { b[sectionAt(b, 1)+6] ^= 1; return b }), snapshot.ErrMalformed, "checksum in the trailer does not match"},
		{"chunk too large", edit(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[sectionAt(b, 2)+1:], snapshot.MaxChunkBytes+1)
			return b
		}), snapshot.ErrTooLarge, "chunk 0 (of 3, numbered from 0) of 12582913 bytes, limit 12582912"},
		{"manifest too large", edit(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[sectionAt(b, 0)+1:], 0xffffffff)
			return b
		}), snapshot.ErrTooLarge, "the manifest of 4294967295 bytes"},
		{"empty proof", edit(func(b []byte) []byte {
			off := sectionAt(b, 1)
			n := int(binary.BigEndian.Uint32(b[off+1:]))
			binary.BigEndian.PutUint32(b[off+1:], 0)
			return append(b[:off+5], b[off+5+n:]...)
		}), snapshot.ErrMalformed, "the checkpoint proof is empty"},
		{"sections swapped", edit(func(b []byte) []byte { b[sectionAt(b, 1)] = 'C'; return b }), snapshot.ErrMalformed, "found a chunk where the checkpoint proof should be"},
		{"missing chunk", edit(func(b []byte) []byte {
			return append(b[:sectionAt(b, 4)], b[sectionAt(b, 5):]...)
		}), snapshot.ErrMalformed, "found the trailer where chunk 2 (of 3, numbered from 0) should be"},
		{"extra chunk", func() []byte {
			b := exportOf(t, groups[:2], nil)
			off := sectionAt(b, 4)
			return append(b[:off:off], append(bytes.Clone(good[sectionAt(good, 4):sectionAt(good, 5)]), b[off:]...)...)
		}(), snapshot.ErrMalformed, "found a chunk where the trailer should be"},
		{"wrong appHash", exportOf(t, groups, func(m *snapshot.Manifest) { m.AppHash[0] ^= 1 }), snapshot.ErrMalformed, "the entries hash to appHash"},
		{"wrong entry count", exportOf(t, groups, func(m *snapshot.Manifest) { m.Entries++ }), snapshot.ErrMalformed, "the chunks hold 12 entries"},
		{"too many entries", exportOf(t, groups, func(m *snapshot.Manifest) { m.Entries = 5 }), snapshot.ErrMalformed, "chunks 0 to 1 hold 8 entries"},
		{"chunks out of order", exportOf(t, [][]chain.StateEntry{groups[1], groups[0], groups[2]}, nil), snapshot.ErrMalformed, "chunk 1 does not start after the end of chunk 0"},
		{"overlapping chunks", exportOf(t, [][]chain.StateEntry{entries[:5], entries[4:]}, nil), snapshot.ErrMalformed, "chunk 1 does not start after the end of chunk 0"},
	}
	for _, tc := range tests {
		_, _, err := readExport(tc.file)
		if !errors.Is(err, tc.is) || err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want %v containing %q", tc.name, err, tc.is, tc.msg)
		}
	}
}

// TestExportWriterRefuses: the writer takes no chunk the manifest does not
// name, and no file without its proof or its last chunk.
func TestExportWriterRefuses(t *testing.T) {
	groups, _ := threeChunks()
	b := exportOf(t, groups, nil)
	x, err := snapshot.NewExportReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snapshot.NewExportWriter(io.Discard, x.ManifestBytes(), nil); !errors.Is(err, snapshot.ErrNotStable) {
		t.Fatalf("writer without a proof: %v, want ErrNotStable", err)
	}
	w, err := snapshot.NewExportWriter(io.Discard, x.ManifestBytes(), x.Proof())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteChunk(snapshot.EncodeChunk(groups[1])); !errors.Is(err, snapshot.ErrMalformed) {
		t.Fatalf("chunk 1 written as chunk 0: %v, want ErrMalformed", err)
	}
	w, _ = snapshot.NewExportWriter(io.Discard, x.ManifestBytes(), x.Proof())
	if err := w.WriteChunk(snapshot.EncodeChunk(groups[0])); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "1 of 3 chunks written") {
		t.Fatalf("close after one of three chunks: %v", err)
	}
}

// TestReadExportEmptyState: a snapshot of an empty state has no chunk.
func TestReadExportEmptyState(t *testing.T) {
	b := exportOf(t, nil, nil)
	x, es, err := readExport(b)
	if err != nil || len(es) != 0 || len(x.Manifest().Chunks) != 0 {
		t.Fatalf("empty state: %v, %d entries", err, len(es))
	}
}
