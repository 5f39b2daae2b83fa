package snapshot_test

import (
	"bytes"
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
