package blockfile

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/bafomet/bafomet/chain/internal/fsync"
)

func openFile(t *testing.T, dir string, segBytes int64) *File {
	t.Helper()
	f, err := Open(dir, Options{SegmentBytes: segBytes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func payloads(from, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = bytes.Repeat([]byte(fmt.Sprintf("entry %d;", from+i)), 10+from+i)
	}
	return out
}

func mustAppend(t *testing.T, f *File, ps [][]byte) []Location {
	t.Helper()
	locs, err := f.Append(ps)
	if err != nil {
		t.Fatal(err)
	}
	if len(locs) != len(ps) {
		t.Fatalf("%d locations for %d entries", len(locs), len(ps))
	}
	return locs
}

// appendBatches appends n batches of three entries, checks that no batch
// was split across segments, and returns every location and payload.
func appendBatches(t *testing.T, f *File, n int) (locs []Location, ps [][]byte) {
	t.Helper()
	for batch := range n {
		p := payloads(batch*3, 3)
		l := mustAppend(t, f, p)
		if l[0].Segment != l[2].Segment {
			t.Fatalf("batch %d split across segments %d and %d", batch, l[0].Segment, l[2].Segment)
		}
		locs, ps = append(locs, l...), append(ps, p...)
	}
	return locs, ps
}

func checkRead(t *testing.T, f *File, locs []Location, ps [][]byte) {
	t.Helper()
	for i, loc := range locs {
		got, err := f.Read(loc)
		if err != nil {
			t.Fatalf("read %+v: %v", loc, err)
		}
		if !bytes.Equal(got, ps[i]) {
			t.Fatalf("read %+v = %q, want %q", loc, got, ps[i])
		}
	}
}

// checkSize fails unless f.Size is what the segment files in dir hold.
func checkSize(t *testing.T, f *File, dir string) {
	t.Helper()
	var total int64
	for _, index := range segments(t, dir) {
		st, err := os.Stat(filepath.Join(dir, fsync.SegmentName(index, segmentSuffix)))
		if err != nil {
			t.Fatal(err)
		}
		total += st.Size()
	}
	if f.Size() != total {
		t.Fatalf("Size() = %d, the segments hold %d", f.Size(), total)
	}
}

func segments(t *testing.T, dir string) []uint64 {
	t.Helper()
	idx, err := fsync.ListSegments(dir, segmentSuffix)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// TestAppendReadAcrossSegmentsAndReopen: entries read back as written, from
// several segments (a batch is never split), before and after a reopen.
func TestAppendReadAcrossSegmentsAndReopen(t *testing.T) {
	dir := t.TempDir()
	f := openFile(t, dir, 1000)
	locs, ps := appendBatches(t, f, 8)
	checkRead(t, f, locs, ps)
	checkSize(t, f, dir)
	if n := len(segments(t, dir)); n < 3 {
		t.Fatalf("%d segments, want several", n)
	}
	size := f.Size()
	f.Close()
	if _, err := f.Read(locs[0]); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	g := openFile(t, dir, 1000)
	if g.Size() != size {
		t.Fatalf("size after reopen %d, want %d", g.Size(), size)
	}
	checkRead(t, g, locs, ps)
	if err := g.Cut(locs[len(locs)-1].End()); err != nil {
		t.Fatal(err)
	}
	more := payloads(100, 2)
	checkRead(t, g, mustAppend(t, g, more), more)
	checkRead(t, g, locs, ps)
}

// TestCut: Cut removes every entry after a position, in its segment and in
// later ones; entries appended then land where the removed ones were; the
// zero Position empties the files; a position past the end is ErrMissing
// and removes nothing.
func TestCut(t *testing.T) {
	dir := t.TempDir()
	f := openFile(t, dir, 1000)
	locs, ps := appendBatches(t, f, 8)
	last := locs[len(locs)-1]
	if err := f.Cut(Position{Segment: last.Segment, Offset: last.End().Offset + 1}); !errors.Is(err, ErrMissing) {
		t.Fatalf("cut past the end: %v", err)
	}
	if err := f.Cut(Position{Segment: last.Segment + 1}); !errors.Is(err, ErrMissing) {
		t.Fatalf("cut in a segment that does not exist: %v", err)
	}
	checkRead(t, f, locs, ps)

	keep := 4 // entries 0..3 stay; 4 is in the same segment as 3 or later
	if err := f.Cut(locs[keep-1].End()); err != nil {
		t.Fatal(err)
	}
	if got := segments(t, dir); uint32(len(got)) != locs[keep-1].Segment {
		t.Fatalf("segments after cut %v, want %d", got, locs[keep-1].Segment)
	}
	checkRead(t, f, locs[:keep], ps[:keep])
	checkSize(t, f, dir)
	for _, loc := range locs[keep:] {
		if _, err := f.Read(loc); err == nil {
			t.Fatalf("entry at %+v still reads after the cut", loc)
		}
	}
	more := payloads(50, 1)
	l := mustAppend(t, f, more)
	if l[0].Offset != locs[keep-1].End().Offset || l[0].Segment != locs[keep-1].Segment {
		t.Fatalf("append after cut at %+v, want right after %+v", l[0], locs[keep-1])
	}
	checkRead(t, f, l, more)
	checkSize(t, f, dir)

	if err := f.Cut(Position{}); err != nil {
		t.Fatal(err)
	}
	if got := segments(t, dir); len(got) != 1 || f.Size() != 0 {
		t.Fatalf("after cut to zero: segments %v, size %d", got, f.Size())
	}
	first := mustAppend(t, f, more)
	if first[0] != (Location{Segment: 1, Offset: 0, Length: uint32(len(more[0]))}) {
		t.Fatalf("first entry after emptying at %+v", first[0])
	}
}

// TestReadRefusesDamage: a flipped byte, a location whose length disagrees
// with the frame, and a location past the end are errors, never data.
func TestReadRefusesDamage(t *testing.T) {
	dir := t.TempDir()
	f := openFile(t, dir, 0)
	ps := payloads(0, 2)
	locs := mustAppend(t, f, ps)

	wrongLen := locs[0]
	wrongLen.Length--
	if _, err := f.Read(wrongLen); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read with a wrong length: %v", err)
	}
	past := locs[1]
	past.Offset = locs[1].End().Offset
	if _, err := f.Read(past); !errors.Is(err, ErrMissing) {
		t.Fatalf("read past the end: %v", err)
	}
	if _, err := f.Read(Location{Segment: 2, Length: 1}); !errors.Is(err, ErrMissing) {
		t.Fatalf("read in a missing segment: %v", err)
	}

	path := filepath.Join(dir, fsync.SegmentName(1, segmentSuffix))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[locs[1].Offset+frameHeaderBytes+3] ^= 0x40
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Read(locs[1]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read of a damaged entry: %v", err)
	}
	checkRead(t, f, locs[:1], ps[:1])
}

// TestOpenRefusesMissingSegment: a gap in the segment numbers means lost
// data, and Open says so instead of reading around it.
func TestOpenRefusesMissingSegment(t *testing.T) {
	dir := t.TempDir()
	f := openFile(t, dir, 100)
	for batch := range 4 {
		mustAppend(t, f, payloads(batch, 1))
	}
	f.Close()
	if err := os.Remove(filepath.Join(dir, fsync.SegmentName(2, segmentSuffix))); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{SegmentBytes: 100}); !errors.Is(err, ErrMissing) {
		t.Fatalf("open with segment 2 missing: %v", err)
	}
}

// TestAppendAfterFailureFails: after a write error the tail is unknown and
// every later Append fails until the file is reopened, even when the
// segment could be written again; so does every Append after Fail.
func TestAppendAfterFailureFails(t *testing.T) {
	dir := t.TempDir()
	f := openFile(t, dir, 0)
	mustAppend(t, f, payloads(0, 1))
	size := f.Size()
	f.active.Close() // the next write fails
	if _, err := f.Append(payloads(1, 1)); err == nil {
		t.Fatal("append to a closed segment succeeded")
	}
	working, _, err := f.openSegment(1)
	if err != nil {
		t.Fatal(err)
	}
	f.active = working
	if _, err := f.Append(payloads(2, 1)); err == nil {
		t.Fatal("append after a failed append succeeded")
	}
	if f.Size() != size {
		t.Fatalf("size %d after failed appends, want %d", f.Size(), size)
	}
	if st, err := os.Stat(filepath.Join(dir, fsync.SegmentName(1, segmentSuffix))); err != nil || st.Size() != size {
		t.Fatalf("segment after failed appends: %v, %v; want %d bytes", st, err, size)
	}

	g := openFile(t, t.TempDir(), 0)
	mustAppend(t, g, payloads(0, 1))
	cause := errors.New("database commit failed")
	g.Fail(cause)
	if _, err := g.Append(payloads(1, 1)); !errors.Is(err, cause) {
		t.Fatalf("append after Fail: %v", err)
	}
}

// TestOneDescriptorForManySegments: only the segment appended to stays
// open, however many there are, before and after a reopen; older ones are
// opened for a read and closed after it.
func TestOneDescriptorForManySegments(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts descriptors in /proc/self/fd")
	}
	dir := t.TempDir()
	openFDs := func() int { // descriptors open on files in dir
		t.Helper()
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range entries {
			if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && filepath.Dir(target) == dir {
				n++
			}
		}
		return n
	}
	before := openFDs()
	f := openFile(t, dir, 100)
	locs, ps := appendBatches(t, f, 40)
	checkRead(t, f, locs, ps)
	if n := len(segments(t, dir)); n < 30 {
		t.Fatalf("%d segments, want dozens", n)
	}
	if got := openFDs() - before; got != 1 {
		t.Fatalf("%d descriptors open for %d segments, want 1", got, len(segments(t, dir)))
	}
	size := f.Size()
	f.Close()
	g := openFile(t, dir, 100)
	if got := openFDs() - before; got != 1 {
		t.Fatalf("%d descriptors open after reopen, want 1", got)
	}
	if g.Size() != size {
		t.Fatalf("size after reopen %d, want %d", g.Size(), size)
	}
	checkRead(t, g, locs, ps)
}

func TestLocationBytesRoundTrip(t *testing.T) {
	l := Location{Segment: 7, Offset: 1 << 40, Length: 12345}
	got, err := ParseLocation(l.Bytes())
	if err != nil || got != l {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
	overflow := Location{Segment: 1, Offset: math.MaxInt64 - frameHeaderBytes - 9, Length: 10}
	for _, b := range [][]byte{nil, make([]byte, LocationBytes-1), make([]byte, LocationBytes), overflow.Bytes()} {
		if _, err := ParseLocation(b); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("parse %x: %v", b, err)
		}
	}
}

// FuzzRead: whatever a segment holds and whatever a location says, Read
// returns an error or exactly the payload of a frame at that location, and
// never panics.
func FuzzRead(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0xa0, 0x14, 0x1c, 0x1b, 'x'}, []byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{}, make([]byte, LocationBytes))
	f.Fuzz(func(t *testing.T, segment, loc []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, fsync.SegmentName(1, segmentSuffix)), segment, 0o600); err != nil {
			t.Fatal(err)
		}
		bf, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer bf.Close()
		l, err := ParseLocation(loc)
		if err != nil {
			return
		}
		got, err := bf.Read(l)
		if err != nil {
			return
		}
		want := segment[l.Offset+frameHeaderBytes : l.Offset+frameHeaderBytes+uint64(l.Length)]
		if !bytes.Equal(got, want) {
			t.Fatalf("read %+v = %x, want %x", l, got, want)
		}
	})
}

// TestReadWhileAppending: readers see every entry Append returned while
// later appends roll to new segments (run with -race).
func TestReadWhileAppending(t *testing.T) {
	f := openFile(t, t.TempDir(), 2000)
	locs := make(chan Location, 1000)
	want := map[Location][]byte{}
	done := make(chan error)
	var mu sync.Mutex
	go func() {
		defer close(done)
		for loc := range locs {
			mu.Lock()
			p := want[loc]
			mu.Unlock()
			got, err := f.Read(loc)
			if err != nil || !bytes.Equal(got, p) {
				done <- fmt.Errorf("read %+v = %q, %v; want %q", loc, got, err, p)
				return
			}
		}
	}()
	for batch := range 200 {
		ps := payloads(batch, 2)
		l := mustAppend(t, f, ps)
		mu.Lock()
		want[l[0]], want[l[1]] = ps[0], ps[1]
		mu.Unlock()
		locs <- l[0]
		locs <- l[1]
	}
	close(locs)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestDropBefore: DropBefore deletes whole segments older than the
// position's, never the position's own nor the one appended to; entries
// at and after the position still read, appends go on, the files reopen
// from the oldest segment left, and a Cut never reaches below it.
func TestDropBefore(t *testing.T) {
	dir := t.TempDir()
	f := openFile(t, dir, 1000)
	locs, ps := appendBatches(t, f, 8)
	all := segments(t, dir)
	if len(all) < 4 {
		t.Fatalf("%d segments, want at least 4", len(all))
	}
	// The first entry of the third segment: segments 1 and 2 go.
	keep := 0
	for locs[keep].Segment < 3 {
		keep++
	}
	if n, err := f.DropBefore(locs[keep].Start()); err != nil || n != 2 {
		t.Fatalf("DropBefore = %d, %v; want 2 segments dropped", n, err)
	}
	if got := segments(t, dir); got[0] != 3 || len(got) != len(all)-2 {
		t.Fatalf("segments after the drop %v, want 3..%d", got, all[len(all)-1])
	}
	checkSize(t, f, dir)
	checkRead(t, f, locs[keep:], ps[keep:])
	for _, loc := range locs[:keep] {
		if _, err := f.Read(loc); !errors.Is(err, ErrMissing) {
			t.Fatalf("read of dropped entry %+v: %v", loc, err)
		}
	}
	if first, _ := f.Segments(); first != 3 {
		t.Fatalf("Segments() first = %d, want 3", first)
	}
	// Dropping again below the oldest segment does nothing.
	if n, err := f.DropBefore(locs[0].Start()); err != nil || n != 0 {
		t.Fatalf("second DropBefore = %d, %v", n, err)
	}
	// A position past every segment keeps the one appended to.
	last := locs[len(locs)-1]
	if _, err := f.DropBefore(Position{Segment: last.Segment + 5}); err != nil {
		t.Fatal(err)
	}
	if got := segments(t, dir); len(got) != 1 || got[0] != uint64(last.Segment) {
		t.Fatalf("segments after dropping all but the newest: %v, want [%d]", got, last.Segment)
	}
	var tail []Location
	var tailPs [][]byte
	for i, loc := range locs {
		if loc.Segment == last.Segment {
			tail, tailPs = append(tail, loc), append(tailPs, ps[i])
		}
	}
	checkRead(t, f, tail, tailPs)
	more := payloads(200, 3)
	moreLocs := mustAppend(t, f, more)
	checkRead(t, f, moreLocs, more)
	checkSize(t, f, dir)
	if err := f.Cut(Position{Segment: last.Segment - 1}); !errors.Is(err, ErrMissing) {
		t.Fatalf("cut into a dropped segment: %v", err)
	}
	f.Close()

	g := openFile(t, dir, 1000)
	checkRead(t, g, append(tail, moreLocs...), append(tailPs, more...))
	checkSize(t, g, dir)
	if err := g.Cut(moreLocs[0].Start()); err != nil {
		t.Fatal(err)
	}
	checkRead(t, g, tail, tailPs)
}

// TestOpenAfterPartialDrop: a crash in the middle of DropBefore leaves the
// newer segments without a gap, and Open takes them from the oldest left.
func TestOpenAfterPartialDrop(t *testing.T) {
	dir := t.TempDir()
	f := openFile(t, dir, 1000)
	locs, ps := appendBatches(t, f, 8)
	f.Close()
	if err := os.Remove(filepath.Join(dir, fsync.SegmentName(1, segmentSuffix))); err != nil {
		t.Fatal(err)
	}
	g := openFile(t, dir, 1000)
	keep := 0
	for locs[keep].Segment < 2 {
		keep++
	}
	checkRead(t, g, locs[keep:], ps[keep:])
	if first, _ := g.Segments(); first != 2 {
		t.Fatalf("first segment after reopen %d, want 2", first)
	}
	checkSize(t, g, dir)
}
