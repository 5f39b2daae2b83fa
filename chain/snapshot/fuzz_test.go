package snapshot_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/snapshot"
)

// FuzzDecodeManifest: the decoder never panics, and whatever it accepts
// re-encodes to the same bytes.
func FuzzDecodeManifest(f *testing.F) {
	m := &snapshot.Manifest{Version: snapshot.Version, ChainID: "c", Height: 5, Entries: 2, Bytes: 40, Chunks: []chain.Hash{{1}, {2}}}
	f.Add(m.Encode())
	f.Add((&snapshot.Manifest{Version: snapshot.Version, ChainID: "c", Height: 1}).Encode())
	f.Add([]byte{0xc0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := snapshot.DecodeManifest(b)
		if err != nil {
			return
		}
		if !bytes.Equal(m.Encode(), b) {
			t.Fatal("accepted manifest does not re-encode to its input")
		}
		if len(m.Chunks) > snapshot.MaxChunks {
			t.Fatalf("accepted %d chunks", len(m.Chunks))
		}
	})
}

// FuzzDecodeChunk: the decoder never panics, and what it accepts is
// ordered, valid state that re-encodes to the same bytes.
func FuzzDecodeChunk(f *testing.F) {
	entries, _ := testState(4, 3)
	f.Add(snapshot.EncodeChunk(entries))
	f.Add(snapshot.EncodeChunk(entries[:1]))
	f.Add([]byte{0xc0})
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := snapshot.DecodeChunk(b)
		if err != nil {
			return
		}
		if !bytes.Equal(snapshot.EncodeChunk(es), b) {
			t.Fatal("accepted chunk does not re-encode to its input")
		}
		for i, e := range es {
			if err := chain.CheckStateEntry(e); err != nil {
				t.Fatalf("accepted entry %d: %v", i, err)
			}
			if i > 0 && bytes.Compare(es[i-1].Key, e.Key) >= 0 {
				t.Fatalf("accepted out-of-order entry %d", i)
			}
		}
	})
}

// FuzzReadExport: the export file reader never panics; what it accepts
// whole is canonical — written again from its manifest, proof and chunks
// it gives the same bytes — and holds the entries its manifest counts.
func FuzzReadExport(f *testing.F) {
	groups, _ := threeChunks()
	good := exportOf(f, groups, nil)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(exportOf(f, nil, nil))
	f.Add([]byte(snapshot.ExportMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := snapshot.NewExportReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		var chunks [][]byte
		var entries uint64
		for {
			c, es, err := x.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return
			}
			chunks = append(chunks, bytes.Clone(c))
			entries += uint64(len(es))
		}
		if entries != x.Manifest().Entries || len(chunks) != len(x.Manifest().Chunks) {
			t.Fatalf("accepted %d entries in %d chunks, manifest %d in %d", entries, len(chunks), x.Manifest().Entries, len(x.Manifest().Chunks))
		}
		var buf bytes.Buffer
		w, err := snapshot.NewExportWriter(&buf, x.ManifestBytes(), x.Proof())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range chunks {
			if err := w.WriteChunk(c); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), b) {
			t.Fatal("accepted file differs from the one written from its contents")
		}
	})
}
