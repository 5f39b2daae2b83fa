package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
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
	tails := map[string]func(full []byte) []byte{
		"half a header":    func(full []byte) []byte { return full[:5] },
		"header only":      func(full []byte) []byte { return full[:frameHeaderBytes] },
		"half the payload": func(full []byte) []byte { return full[:len(full)-3] },
		"zeros":            func(full []byte) []byte { return make([]byte, len(full)) },
		"bad payload sum":  func(full []byte) []byte { return append(append([]byte{}, full[:len(full)-1]...), full[len(full)-1]^1) },
		"zeroed header":    func(full []byte) []byte { return append(make([]byte, frameHeaderBytes), full[frameHeaderBytes:]...) },
	}
	for name, tail := range tails {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			l, _ := mustOpen(t, dir, Options{})
			want := []Record{rec(7, "a"), rec(8, "b")}
			mustAppend(t, l, want[0])
			mustAppend(t, l, want[1])
			seg := segmentFiles(t, dir)[0]
			before, _ := os.ReadFile(seg)
			full := appendFrame(nil, framePos{l.segs[0].salt, 1, int64(len(before))}, []Record{rec(9, "never acknowledged"), rec(9, "neither")})
			l.Close()
			f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(tail(full))
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
		b[segmentHeaderBytes+frameHeaderBytes+recordHeaderBytes] ^= 1 // first record's data
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
	b[segmentHeaderBytes] = 0xff // first frame's length, so its header sum fails
	os.WriteFile(seg, b, 0o600)
	if _, _, err := Open(dir, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open: %v, want ErrCorrupt", err)
	}
}

// A client's transaction is written verbatim into the pre-prepare record
// that carries its block, so a record's data can hold a copy of a frame the
// log wrote. When the append of such a record is cut short, the copy must
// not pass for a valid frame after the torn one: Open cuts the tail and
// keeps every acknowledged record.
func TestTornTailWithFrameInsideRecord(t *testing.T) {
	dir := t.TempDir()
	l, _ := mustOpen(t, dir, Options{})
	segPath := func() string {
		m, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
		if len(m) != 1 {
			t.Fatalf("segments %v, want one", m)
		}
		return m[0]
	}
	size := func() int {
		b, err := os.ReadFile(segPath())
		if err != nil {
			t.Fatal(err)
		}
		return len(b)
	}
	start := size()
	first := rec(1, "prepare 1")
	mustAppend(t, l, first)
	written, _ := os.ReadFile(segPath())
	frame := written[start:] // the frame exactly as the log wrote it
	copies := bytes.Repeat(append(append([]byte("k=v"), frame...), "pad"...), 50)
	before := size()
	mustAppend(t, l, rec(2, "pre-prepare carrying kv "+string(copies)))
	l.Close()

	b, _ := os.ReadFile(segPath())
	for _, cut := range []int{before + 40, before + len(copies)/2, len(b) - 1} {
		if err := os.WriteFile(segPath(), b[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		l2, recs, err := Open(dir, Options{Logger: discardLogger()})
		if err != nil {
			t.Fatalf("cut at %d of %d: open: %v, want the torn tail cut off", cut, len(b), err)
		}
		l2.Close()
		sameRecords(t, recs, []Record{first})
		if got := size(); got != before {
			t.Fatalf("cut at %d: segment is %d bytes after open, want %d", cut, got, before)
		}
	}
}

// tornFrameTail returns a torn append for the end of l's only segment: a
// frame header announcing a payload of size bytes, followed by body (the
// bytes that reached the disk). With a header that verifies the tail is
// plainly torn; with a zeroed one Open must search what follows.
func tornFrameTail(l *Log, size int, body []byte, zeroHeader bool) []byte {
	pos := framePos{l.segs[0].salt, 1, l.size}
	hs := headerSum(pos, uint32(size))
	b := make([]byte, frameHeaderBytes, frameHeaderBytes+len(body))
	if !zeroHeader {
		binary.BigEndian.PutUint32(b, uint32(size))
		binary.BigEndian.PutUint32(b[4:], hs)
	}
	return append(b, body...)
}

// The search after a bad frame costs one fixed-size header check per
// offset, and payload checksums at most as many bytes as the tail has:
// linear in the tail, even for 2 MiB of copied frames or of frame headers
// crafted to verify at their own offsets.
func TestTornTailScanIsLinear(t *testing.T) {
	const tailBytes = 2 << 20
	dir := t.TempDir()
	l, _ := mustOpen(t, dir, Options{Logger: discardLogger()})
	acked := []Record{rec(1, "prepare 1")}
	mustAppend(t, l, acked...)
	seg := segmentFiles(t, dir)[0]
	before, _ := os.ReadFile(seg)
	copied := before[segmentHeaderBytes:] // a frame this log wrote, elsewhere

	var copies []byte
	for len(copies) < tailBytes {
		copies = append(copies, copied...)
		copies = append(copies, byte(len(copies))) // every alignment
	}
	// Headers that do verify where they sit, each announcing a payload up
	// to the end of the file, with payloads that do not: only someone
	// who knows the segment's salt can write these.
	crafted := make([]byte, tailBytes)
	end := l.size + frameHeaderBytes + tailBytes
	for at := 0; at+frameHeaderBytes <= len(crafted); at += frameHeaderBytes {
		pos := framePos{l.segs[0].salt, 1, l.size + frameHeaderBytes + int64(at)} // after the torn header
		n := uint32(end - pos.offset - frameHeaderBytes)
		binary.BigEndian.PutUint32(crafted[at:], n)
		binary.BigEndian.PutUint32(crafted[at+4:], headerSum(pos, n))
	}
	cases := []struct {
		name        string
		tail        []byte
		wantCorrupt bool
		maxHeaders  int
	}{
		{"verified header past the end", tornFrameTail(l, tailBytes+100, copies, false), false, 0},
		{"zeroed header, copied frames", tornFrameTail(l, 0, copies, true), false, tailBytes + frameHeaderBytes},
		{"zeroed header, crafted headers", tornFrameTail(l, 0, crafted, true), true, tailBytes + frameHeaderBytes},
	}
	l.Close()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(seg, append(append([]byte{}, before...), c.tail...), 0o600); err != nil {
				t.Fatal(err)
			}
			l, recs, err := Open(dir, Options{Logger: discardLogger()})
			if c.wantCorrupt {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("open: %v, want ErrCorrupt (the scan cannot tell)", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer l.Close()
			sameRecords(t, recs, acked)
			if l.scan.headers > c.maxHeaders || l.scan.payloadBytes > len(c.tail) {
				t.Fatalf("scan checked %d headers and %d payload bytes for a %d-byte tail, want ≤ %d and ≤ %d",
					l.scan.headers, l.scan.payloadBytes, len(c.tail), c.maxHeaders, len(c.tail))
			}
		})
	}
	// The crafted case stays linear on its way to refusing.
	if err := os.WriteFile(seg, append(append([]byte{}, before...), cases[2].tail...), 0o600); err != nil {
		t.Fatal(err)
	}
	lg := &Log{dir: dir, log: discardLogger()}
	s := segment{index: 1}
	if _, _, err := lg.readSegment(&s, true); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read: %v, want ErrCorrupt", err)
	}
	if tail := len(cases[2].tail); lg.scan.headers > tail || lg.scan.payloadBytes > tail {
		t.Fatalf("crafted tail: %d headers, %d payload bytes checked for %d bytes", lg.scan.headers, lg.scan.payloadBytes, tail)
	}
}

// A log in another format is refused with what to do, never misread.
func TestOtherFormatIsRefused(t *testing.T) {
	v1 := []byte{0, 0, 0, 13, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 'x'} // format 1: frames from byte 0
	v3 := appendSegmentHeader(nil, segment{index: 1, salt: 5})
	binary.BigEndian.PutUint32(v3[8:], FormatVersion+1)
	for name, b := range map[string][]byte{"format 1": v1, "a later format": v3, "empty file": {}} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, segment{index: 1}.name()), b, 0o600)
			_, _, err := Open(dir, Options{})
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "move") {
				t.Fatalf("open: %v, want ErrFormat saying what to do", err)
			}
			if after, _ := os.ReadFile(filepath.Join(dir, segment{index: 1}.name())); !bytes.Equal(after, b) {
				t.Fatal("open changed a segment it refused")
			}
		})
	}
}

// After a failed fsync the page cache may hold an append the disk lacks.
// Append cuts the segment back to its acknowledged records, so a restart
// reads what the disk holds; when the cut cannot be synced either, the log
// records the failure and refuses to open until an operator clears it.
func TestFailedSyncIsNotTrusted(t *testing.T) {
	eio := errors.New("input/output error")
	t.Run("cut back", func(t *testing.T) {
		dir := t.TempDir()
		l, _ := mustOpen(t, dir, Options{Logger: discardLogger()})
		mustAppend(t, l, rec(1, "acknowledged"))
		fails := 1
		l.sync = func(f *os.File) error {
			if fails > 0 {
				fails--
				return eio
			}
			return f.Sync()
		}
		if err := l.Append([]Record{rec(2, "sync failed")}); !errors.Is(err, eio) {
			t.Fatalf("append: %v, want the sync error", err)
		}
		if err := l.Append([]Record{rec(3, "later")}); err == nil {
			t.Fatal("append after a failed sync succeeded")
		}
		l.Close()
		_, got := mustOpen(t, dir, Options{})
		sameRecords(t, got, []Record{rec(1, "acknowledged")})
	})
	t.Run("marker", func(t *testing.T) {
		dir := t.TempDir()
		l, _ := mustOpen(t, dir, Options{Logger: discardLogger()})
		mustAppend(t, l, rec(1, "acknowledged"))
		l.sync = func(*os.File) error { return eio }
		err := l.Append([]Record{rec(2, "sync failed")})
		if !errors.Is(err, eio) || !strings.Contains(err.Error(), SyncFailedFile) {
			t.Fatalf("append: %v, want the sync error naming the marker", err)
		}
		l.Close()
		if _, _, err := Open(dir, Options{}); !errors.Is(err, ErrSyncFailed) || !strings.Contains(err.Error(), "reboot") {
			t.Fatalf("open: %v, want ErrSyncFailed saying what to do", err)
		}
		os.Remove(filepath.Join(dir, SyncFailedFile)) // the operator, after a reboot
		_, got := mustOpen(t, dir, Options{})
		sameRecords(t, got, []Record{rec(1, "acknowledged")})
	})
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
	if left, _ := filepath.Glob(filepath.Join(dir, "*"+stagingSuffix)); len(left) != 0 {
		t.Fatalf("import left its staging file: %v", left)
	}
	l, got := mustOpen(t, dir, Options{})
	sameRecords(t, got, want)
	mustAppend(t, l, rec(5, "new"))

	empty := filepath.Join(parent, "empty")
	os.Mkdir(empty, 0o700) // made by bafomet init
	stale := filepath.Join(empty, segment{index: 1}.name()+stagingSuffix)
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
	pos := framePos{salt: 0x0123456789abcdef, index: 3, offset: 1000}
	b := appendFrame([]byte("prefix"), pos, recs)
	got, n, err := decodeFrame(b[len("prefix"):], pos)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(b)-len("prefix") {
		t.Fatalf("frame length %d, want %d", n, len(b)-len("prefix"))
	}
	sameRecords(t, got, recs)
	for _, other := range []framePos{{pos.salt, pos.index, pos.offset + 1}, {pos.salt, pos.index + 1, pos.offset}, {pos.salt ^ 1, pos.index, pos.offset}} {
		if _, _, err := decodeFrame(b[len("prefix"):], other); err == nil {
			t.Fatalf("frame written at %+v verifies at %+v", pos, other)
		}
	}
}

// FuzzDecodeFrame: any bytes decode without panicking at any position,
// and whatever decodes is exactly the frame its records encode to there.
func FuzzDecodeFrame(f *testing.F) {
	pos := framePos{salt: 7, index: 1, offset: segmentHeaderBytes}
	f.Add(appendFrame(nil, pos, []Record{rec(1, "a"), rec(2, "bc")}), pos.salt, pos.index, pos.offset)
	f.Add(appendFrame(nil, pos, []Record{rec(7, "")}), pos.salt, pos.index, pos.offset)
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, uint64(0), uint64(0), int64(0))
	f.Add([]byte{0, 0, 0, 12, 1, 2, 3, 4}, uint64(1), uint64(2), int64(3))
	f.Fuzz(func(t *testing.T, b []byte, salt, index uint64, offset int64) {
		pos := framePos{salt, index, offset}
		recs, n, err := decodeFrame(b, pos)
		if err != nil {
			return
		}
		if len(recs) == 0 {
			t.Fatal("a frame decoded to no records")
		}
		if enc := appendFrame(nil, pos, recs); !bytes.Equal(enc, b[:n]) {
			t.Fatalf("re-encoded frame differs:\n got %x\nwant %x", enc, b[:n])
		}
	})
}

// FuzzOpen: a segment holding a valid header and then any bytes opens or
// is refused as corrupt, never panics, and an opened log takes appends
// that a reopen returns.
func FuzzOpen(f *testing.F) {
	seg := segment{index: 1, salt: 42}
	head := appendSegmentHeader(nil, seg)
	good := appendFrame(nil, framePos{seg.salt, 1, segmentHeaderBytes}, []Record{rec(1, "a")})
	f.Add(good)
	f.Add(append(append([]byte{}, good...), good[:9]...))
	f.Add(append(append([]byte{}, good...), make([]byte, 30)...))
	f.Add(append(append([]byte{}, good...), good...)) // a frame where it was not written
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := memTempDir(t)
		if err := os.WriteFile(filepath.Join(dir, seg.name()), append(append([]byte{}, head...), b...), 0o600); err != nil {
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
		if l.scan.payloadBytes > len(b) {
			t.Fatalf("the tail scan checksummed %d payload bytes of a %d-byte segment body", l.scan.payloadBytes, len(b))
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

// memTempDir is a temporary directory in memory (/dev/shm) where the
// machine has one, so that the fsyncs of every fuzz input cost nothing;
// elsewhere it is t.TempDir().
func memTempDir(t *testing.T) string {
	if st, err := os.Stat("/dev/shm"); err != nil || !st.IsDir() {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("/dev/shm", "bafomet-wal-fuzz-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
