package wal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

func rec(h uint64, s string) Record { return Record{Height: h, Data: []byte(s)} }

func mustOpen(t *testing.T, dir string, opt Options) (*Log, []Record) {
	t.Helper()
	l, recs, err := Open(dir, opt)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l, recs
}

func mustAppend(t *testing.T, l *Log, recs ...Record) {
	t.Helper()
	if err := l.Append(recs); err != nil {
		t.Fatalf("append: %v", err)
	}
}

func sameRecords(t *testing.T, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range want {
		if got[i].Height != want[i].Height || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Fatalf("record %d: got %d/%q, want %d/%q", i, got[i].Height, got[i].Data, want[i].Height, want[i].Data)
		}
	}
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAppendReopenAcrossSegments(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	l, recs := mustOpen(t, dir, Options{SegmentBytes: 64})
	if len(recs) != 0 {
		t.Fatalf("new log has %d records", len(recs))
	}
	mustAppend(t, l) // nothing to write
	var want []Record
	for h := uint64(1); h <= 20; h++ {
		batch := []Record{rec(h, fmt.Sprintf("pre-prepare %d", h)), rec(h, ""), rec(h, fmt.Sprintf("commit %d", h))}
		mustAppend(t, l, batch...)
		want = append(want, batch...)
	}
	if l.Segments() < 10 {
		t.Fatalf("%d segments, want one per ~64 bytes", l.Segments())
	}
	l.Close()
	if err := l.Append([]Record{rec(21, "x")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v, want ErrClosed", err)
	}
	l2, got := mustOpen(t, dir, Options{SegmentBytes: 64})
	sameRecords(t, got, want)
	mustAppend(t, l2, rec(21, "after reopen"))
	l2.Close()
	_, got = mustOpen(t, dir, Options{SegmentBytes: 64})
	sameRecords(t, got, append(want, rec(21, "after reopen")))
}

// A crash during an append leaves part of a frame (or zeros, where the
// file grew before its data reached the disk); Open cuts it off, keeps
// every acknowledged record and appends after them.
func TestTornTailIsCutOff(t *testing.T) {
	full := appendFrame(nil, []Record{rec(9, "never acknowledged"), rec(9, "neither")})
	tails := map[string][]byte{
		"half a header":    full[:5],
		"header only":      full[:frameHeaderBytes],
		"half the payload": full[:len(full)-3],
		"zeros":            make([]byte, len(full)),
		"bad checksum":     append(append([]byte{}, full[:len(full)-1]...), full[len(full)-1]^1),
	}
	for name, tail := range tails {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			l, _ := mustOpen(t, dir, Options{})
			want := []Record{rec(7, "a"), rec(8, "b")}
			mustAppend(t, l, want[0])
			mustAppend(t, l, want[1])
			l.Close()
			seg := segmentFiles(t, dir)[0]
			before, _ := os.ReadFile(seg)
			f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(tail)
			f.Close()

			l2, got := mustOpen(t, dir, Options{})
			sameRecords(t, got, want)
			after, _ := os.ReadFile(seg)
			if !bytes.Equal(after, before) {
				t.Fatalf("segment is %d bytes after open, want the %d before the torn append", len(after), len(before))
			}
			mustAppend(t, l2, rec(9, "c"))
			l2.Close()
			_, got = mustOpen(t, dir, Options{})
			sameRecords(t, got, append(want, rec(9, "c")))
		})
	}
}

// A bad frame that a torn write cannot explain — in a closed segment, or
// followed by a valid frame — is corruption: Open refuses the log rather
// than drop records a validator may have sent.
func TestCorruptionIsRefused(t *testing.T) {
	t.Run("closed segment", func(t *testing.T) {
		dir := t.TempDir()
		l, _ := mustOpen(t, dir, Options{SegmentBytes: 1})
		mustAppend(t, l, rec(1, "one"))
		mustAppend(t, l, rec(2, "two"))
		l.Close()
		flipLastByte(t, segmentFiles(t, dir)[0])
		if _, _, err := Open(dir, Options{SegmentBytes: 1}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("open: %v, want ErrCorrupt", err)
		}
	})
	t.Run("valid frame after", func(t *testing.T) {
		dir := t.TempDir()
		l, _ := mustOpen(t, dir, Options{})
		mustAppend(t, l, rec(1, "one"))
		mustAppend(t, l, rec(2, "two"))
		l.Close()
		seg := segmentFiles(t, dir)[0]
		b, _ := os.ReadFile(seg)
		b[frameHeaderBytes+recordHeaderBytes] ^= 1 // first record's data
		os.WriteFile(seg, b, 0o600)
		if _, _, err := Open(dir, Options{}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("open: %v, want ErrCorrupt", err)
		}
		if after, _ := os.ReadFile(seg); !bytes.Equal(after, b) {
			t.Fatal("open changed a corrupt segment")
		}
	})
}

// A damaged length field in the last segment hides where the next frame
// starts; the frames after it were acknowledged, so this is corruption,
// not a torn tail.
func TestDamagedLengthBeforeValidFramesIsRefused(t *testing.T) {
	dir := t.TempDir()
	l, _ := mustOpen(t, dir, Options{})
	mustAppend(t, l, rec(1, "one"))
	mustAppend(t, l, rec(2, "two"))
	mustAppend(t, l, rec(3, "three"))
	l.Close()
	seg := segmentFiles(t, dir)[0]
	b, _ := os.ReadFile(seg)
	b[0] = 0xff // first frame's length now runs past the end
	os.WriteFile(seg, b, 0o600)
	if _, _, err := Open(dir, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open: %v, want ErrCorrupt", err)
	}
}

func flipLastByte(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0x80
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestPruneKeepsHigherHeightsAndTheActiveSegment(t *testing.T) {
	dir := t.TempDir()
	l, _ := mustOpen(t, dir, Options{SegmentBytes: 1}) // a segment per append
	mustAppend(t, l, rec(1, "a"), rec(2, "b"))
	mustAppend(t, l, rec(3, "view change, high watermark"), rec(9, "vc"))
	mustAppend(t, l, rec(4, "c"))
	mustAppend(t, l, rec(5, "d"))
	if err := l.Prune(5); err != nil {
		t.Fatal(err)
	}
	// Segment 1 (max 2) and 3 (max 4) go; 2 (max 9) and the active 4 stay.
	if n := l.Segments(); n != 2 {
		t.Fatalf("%d segments after prune, want 2", n)
	}
	if err := l.Prune(100); err != nil {
		t.Fatal(err)
	}
	if n := l.Segments(); n != 1 {
		t.Fatalf("%d segments after pruning everything, want the active one", n)
	}
	mustAppend(t, l, rec(6, "e"))
	l.Close()
	_, got := mustOpen(t, dir, Options{SegmentBytes: 1})
	sameRecords(t, got, []Record{rec(5, "d"), rec(6, "e")})
}

func TestImport(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "wal")
	if ok, err := Exists(dir); ok || err != nil {
		t.Fatalf("Exists on a missing dir: %v %v", ok, err)
	}
	want := []Record{rec(3, "legacy 1"), rec(4, "legacy 2")}
	if err := Import(dir, want); err != nil {
		t.Fatal(err)
	}
	if ok, err := Exists(dir); !ok || err != nil {
		t.Fatalf("Exists after import: %v %v", ok, err)
	}
	if err := Import(dir, want); err == nil {
		t.Fatal("import over an existing log succeeded")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*"+importSuffix)); len(left) != 0 {
		t.Fatalf("import left its staging file: %v", left)
	}
	l, got := mustOpen(t, dir, Options{})
	sameRecords(t, got, want)
	mustAppend(t, l, rec(5, "new"))

	empty := filepath.Join(parent, "empty")
	os.Mkdir(empty, 0o700) // made by bafomet init
	stale := filepath.Join(empty, segment{index: 1}.name()+importSuffix)
	os.WriteFile(stale, []byte("left by a crash"), 0o600)
	if ok, err := Exists(empty); ok || err != nil {
		t.Fatalf("Exists with only a staging file: %v %v", ok, err)
	}
	if err := Import(empty, nil); err != nil {
		t.Fatal(err)
	}
	if _, got := mustOpen(t, empty, Options{}); len(got) != 0 {
		t.Fatalf("empty import has %d records", len(got))
	}

	// Files that are not segments are left alone.
	busy := filepath.Join(parent, "busy")
	os.Mkdir(busy, 0o700)
	os.WriteFile(filepath.Join(busy, "notes.txt"), []byte("x"), 0o600)
	if err := Import(busy, want); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(busy, "notes.txt")); err != nil || string(b) != "x" {
		t.Fatalf("import touched another file: %q %v", b, err)
	}
	_, got = mustOpen(t, busy, Options{})
	sameRecords(t, got, want)
}

func TestFrameRoundTrip(t *testing.T) {
	recs := []Record{rec(0, ""), rec(1<<63, "max"), rec(42, string(make([]byte, 5000)))}
	b := appendFrame([]byte("prefix"), recs)
	got, n, err := decodeFrame(b[len("prefix"):])
	if err != nil {
		t.Fatal(err)
	}
	if n != len(b)-len("prefix") {
		t.Fatalf("frame length %d, want %d", n, len(b)-len("prefix"))
	}
	sameRecords(t, got, recs)
}

// FuzzDecodeFrame: any bytes decode without panicking, and whatever decodes
// is exactly the frame its records encode to.
func FuzzDecodeFrame(f *testing.F) {
	f.Add(appendFrame(nil, []Record{rec(1, "a"), rec(2, "bc")}))
	f.Add(appendFrame(nil, []Record{rec(7, "")}))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 12, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, n, err := decodeFrame(b)
		if err != nil {
			return
		}
		if len(recs) == 0 {
			t.Fatal("a frame decoded to no records")
		}
		if enc := appendFrame(nil, recs); !bytes.Equal(enc, b[:n]) {
			t.Fatalf("re-encoded frame differs:\n got %x\nwant %x", enc, b[:n])
		}
	})
}

// FuzzOpen: a segment holding any bytes opens or is refused as corrupt,
// never panics, and an opened log takes appends that a reopen returns.
func FuzzOpen(f *testing.F) {
	good := appendFrame(nil, []Record{rec(1, "a")})
	f.Add(good)
	f.Add(append(append([]byte{}, good...), good[:9]...))
	f.Add(append(append([]byte{}, good...), make([]byte, 30)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segment{index: 1}.name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
		quiet := Options{Logger: discardLogger()}
		l, recs, err := Open(dir, quiet)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("open: %v, want ErrCorrupt or success", err)
			}
			return
		}
		if err := l.Append([]Record{rec(99, "tail")}); err != nil {
			t.Fatal(err)
		}
		l.Close()
		l2, again, err := Open(dir, quiet)
		if err != nil {
			t.Fatalf("reopen after append: %v", err)
		}
		l2.Close()
		sameRecords(t, again, append(recs, rec(99, "tail")))
	})
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
