// Package blockfile keeps a node's committed blocks and receipts in
// append-only segment files beside Badger, and reads them back by location.
//
// The store writes each batch of blocks here first, with one write and one
// fsync, and only then commits, in one synced Badger transaction, the
// Locations of the new entries with the rest of the blocks' data. Badger is
// therefore the index and the authority: an entry no Location in Badger
// names is an orphan: the store cuts it off again (Cut) when the commit
// fails before reaching Badger, and at open for a crash before the commit.
// When the Badger commit itself fails, the store calls Fail and appends
// nothing more until it is reopened.
//
// Blocks live here rather than in Badger because Badger writes large values
// into a value log through a shared memory mapping and keeps the written
// pages mapped: every block a node ever committed stayed in its resident
// memory (docs/performance.md). These files are written and read with
// pwrite and pread, so their pages stay in the kernel's page cache, shared
// and reclaimable, not in the node's memory.
//
// Each entry is a frame: payload length (4 bytes), CRC-32C of the payload
// (4 bytes), payload. Read checks both, so a damaged entry is ErrCorrupt,
// never wrong data.
//
// A node that prunes old blocks drops whole segments below the oldest
// entry it keeps (DropBefore), oldest first, so the segments on disk are
// always a run first, first+1, …, newest without a gap.
package blockfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"

	"github.com/bafomet/bafomet/chain/internal/fsync"
)

// DefaultSegmentBytes is the size past which the files continue in a new
// segment. Pruning deletes whole segments only, so it is also how much the
// block file can hold beyond what a node keeps: small against the blocks a
// pruned node retains (node.retain_blocks), large enough that a busy chain
// starts a new file every few minutes, not every few seconds.
const DefaultSegmentBytes = 64 << 20

// LocationBytes is the length of an encoded Location.
const LocationBytes = 16

const (
	frameHeaderBytes = 8
	segmentSuffix    = ".blk"
	// maxPayloadBytes bounds one entry; a block is far smaller (genesis
	// limits), and a larger length in a Location is corruption.
	maxPayloadBytes = 1 << 30
	// retainBufferBytes bounds the encode buffer kept between appends.
	retainBufferBytes = 4 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Errors.
var (
	// ErrCorrupt means an entry does not verify, or a Location points
	// outside the files.
	ErrCorrupt = errors.New("block file corrupt")
	// ErrMissing means the files end before an entry the store names:
	// they were lost or cut short outside the node.
	ErrMissing = errors.New("block file missing data")
	// ErrClosed is returned by a closed File.
	ErrClosed = errors.New("block file closed")
)

// Location names one entry: its segment, the offset of its frame in the
// segment, and its payload length.
type Location struct {
	Segment uint32
	Offset  uint64
	Length  uint32
}

// Bytes encodes l in LocationBytes bytes.
func (l Location) Bytes() []byte {
	b := make([]byte, 0, LocationBytes)
	b = binary.BigEndian.AppendUint32(b, l.Segment)
	b = binary.BigEndian.AppendUint64(b, l.Offset)
	return binary.BigEndian.AppendUint32(b, l.Length)
}

// ParseLocation decodes a Location encoded by Bytes. A Location whose
// frame would end past the largest file offset is ErrCorrupt, so End never
// overflows.
func ParseLocation(b []byte) (Location, error) {
	if len(b) != LocationBytes {
		return Location{}, fmt.Errorf("%w: location is %d bytes, want %d", ErrCorrupt, len(b), LocationBytes)
	}
	l := Location{
		Segment: binary.BigEndian.Uint32(b),
		Offset:  binary.BigEndian.Uint64(b[4:]),
		Length:  binary.BigEndian.Uint32(b[12:]),
	}
	if l.Segment == 0 || l.Length > maxPayloadBytes || l.Offset > math.MaxInt64-frameHeaderBytes-uint64(l.Length) {
		return Location{}, fmt.Errorf("%w: location %+v", ErrCorrupt, l)
	}
	return l, nil
}

// Start returns the position of l's frame: cutting there removes l and
// everything after it.
func (l Location) Start() Position {
	return Position{Segment: l.Segment, Offset: l.Offset}
}

// End returns the position just past l's frame.
func (l Location) End() Position {
	return Position{Segment: l.Segment, Offset: l.Offset + frameHeaderBytes + uint64(l.Length)}
}

// Position is a point in the files: an offset in a segment. The zero
// Position is the start, before any entry.
type Position struct {
	Segment uint32
	Offset  uint64
}

// Options configures a File. Zero fields take defaults.
type Options struct {
	SegmentBytes int64
}

// File is an open set of block segments. Only the newest segment, the one
// appended to, is kept open; a read from an older one opens it for that
// read, so a node that has run for months holds one descriptor here, not
// one per segment. Read and Size are safe from any goroutine, concurrently
// with Append; Append, Cut and Fail are serialised, and so are DropBefore
// calls.
type File struct {
	dir string
	opt Options

	// appendMu serialises Append, Cut, Fail and Close and guards buf and
	// err. mu guards the fields after it; those Append and Cut change are
	// written holding both locks, so either lock is enough to read them.
	// appendMu is taken first.
	appendMu sync.Mutex
	buf      []byte
	err      error // sticky: what reached the disk is unknown

	mu          sync.RWMutex
	first       uint32   // the oldest segment held (1 until DropBefore drops one)
	sealed      []int64  // sealed[i] is the size of full segment first+i
	sealedBytes int64    // the sum of sealed
	active      *os.File // segment first+len(sealed), appended to
	size        int64    // bytes in the active segment
	closed      bool

	// dropMu serialises DropBefore, which removes files without holding
	// appendMu so that appends never wait for an unlink.
	dropMu sync.Mutex
}

// Open opens the block files in dir, creating the directory and a first
// segment when there are none. The segments must be numbered consecutively
// from the oldest held (1 unless older ones were dropped), with none
// missing between. Open reads no entry: the caller calls Cut with the end of
// the last entry it knows before it appends.
func Open(dir string, opt Options) (*File, error) {
	if opt.SegmentBytes <= 0 {
		opt.SegmentBytes = DefaultSegmentBytes
	}
	if err := fsync.MkdirSynced(dir); err != nil {
		return nil, fmt.Errorf("open block file: %w", err)
	}
	idx, err := fsync.ListSegments(dir, segmentSuffix)
	if err != nil {
		return nil, fmt.Errorf("open block file: %w", err)
	}
	f := &File{dir: dir, opt: opt, first: 1}
	for i, index := range idx {
		if index > math.MaxUint32 {
			return nil, fmt.Errorf("%w: segment number %d in %s", ErrCorrupt, index, dir)
		}
		if index != idx[0]+uint64(i) {
			return nil, fmt.Errorf("%w: segment %d missing in %s", ErrMissing, idx[0]+uint64(i), dir)
		}
	}
	if len(idx) == 0 {
		if f.active, err = f.createSegment(1); err != nil {
			return nil, err
		}
		return f, nil
	}
	f.first = uint32(idx[0])
	for _, index := range idx[:len(idx)-1] {
		st, err := os.Stat(f.path(index))
		if err != nil {
			return nil, fmt.Errorf("open block file: %w", err)
		}
		f.sealed = append(f.sealed, st.Size())
		f.sealedBytes += st.Size()
	}
	if f.active, f.size, err = f.openSegment(idx[len(idx)-1]); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *File) path(index uint64) string {
	return filepath.Join(f.dir, fsync.SegmentName(index, segmentSuffix))
}

// openSegment opens an existing segment for writing and returns its size.
func (f *File) openSegment(index uint64) (*os.File, int64, error) {
	seg, err := os.OpenFile(f.path(index), os.O_RDWR, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("open block file: %w", err)
	}
	st, err := seg.Stat()
	if err != nil {
		seg.Close()
		return nil, 0, fmt.Errorf("open block file: %w", err)
	}
	return seg, st.Size(), nil
}

// createSegment creates segment index, empty, and makes its entry durable.
func (f *File) createSegment(index uint64) (*os.File, error) {
	seg, err := os.OpenFile(f.path(index), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create block file segment: %w", err)
	}
	if err := fsync.SyncDir(f.dir); err != nil {
		seg.Close()
		return nil, fmt.Errorf("create block file segment: %w", err)
	}
	return seg, nil
}

// segmentSize returns the size of segment index (first ≤ index ≤ the
// active one); the caller holds appendMu or mu.
func (f *File) segmentSize(index uint32) int64 {
	if i := index - f.first; int(i) < len(f.sealed) {
		return f.sealed[i]
	}
	return f.size
}

// activeIndex returns the number of the segment appended to; the caller
// holds appendMu or mu.
func (f *File) activeIndex() uint32 { return f.first + uint32(len(f.sealed)) }

// Cut removes everything after end: later segments are deleted and end's
// segment is truncated to end.Offset, durably, and becomes the one
// appended to. The zero Position empties the files (down to the oldest
// segment held). It returns ErrMissing when the files end before end, or
// when end is in a segment DropBefore dropped.
func (f *File) Cut(end Position) error {
	f.appendMu.Lock()
	defer f.appendMu.Unlock()
	if f.closed {
		return ErrClosed
	}
	if end.Segment == 0 {
		end = Position{Segment: f.first}
	}
	activeIndex := f.activeIndex()
	if end.Segment > activeIndex || end.Segment < f.first {
		return fmt.Errorf("%w: the store names segment %d, %s holds %d to %d", ErrMissing, end.Segment, f.dir, f.first, activeIndex)
	}
	size := f.segmentSize(end.Segment)
	if uint64(size) < end.Offset {
		return fmt.Errorf("%w: segment %d is %d bytes, the store names %d", ErrMissing, end.Segment, size, end.Offset)
	}
	seg := f.active
	if end.Segment < activeIndex {
		var err error
		if seg, _, err = f.openSegment(uint64(end.Segment)); err != nil {
			return fmt.Errorf("cut block file: %w", err)
		}
	}
	if uint64(size) > end.Offset {
		if err := truncateSynced(seg, int64(end.Offset)); err != nil {
			if seg != f.active {
				seg.Close()
			}
			return fmt.Errorf("cut block file: %w", err)
		}
	}
	f.mu.Lock()
	old := f.active
	f.active, f.size = seg, int64(end.Offset)
	f.sealed = f.sealed[:end.Segment-f.first]
	f.sealedBytes = 0
	for _, n := range f.sealed {
		f.sealedBytes += n
	}
	f.mu.Unlock()
	if old == seg {
		return nil
	}
	old.Close()
	for index := activeIndex; index > end.Segment; index-- { // newest first: a crash leaves no gap
		if err := os.Remove(f.path(uint64(index))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cut block file: %w", err)
		}
	}
	if err := fsync.SyncDir(f.dir); err != nil {
		return fmt.Errorf("cut block file: %w", err)
	}
	return nil
}

func truncateSynced(seg *os.File, size int64) error {
	if err := seg.Truncate(size); err != nil {
		return err
	}
	return seg.Sync()
}

// Append durably appends one entry per payload, in order, and returns
// their Locations: when it returns nil every entry is on disk. A batch is
// never split across segments; a new segment starts first when the batch
// would take the active one past Options.SegmentBytes. After a failed
// write or sync every later call fails too, since what reached the disk is
// unknown; the node must restart, and the store's Cut at open removes
// whatever part of the batch was written. Fail has the same effect.
func (f *File) Append(payloads [][]byte) ([]Location, error) {
	f.appendMu.Lock()
	defer f.appendMu.Unlock()
	if f.closed {
		return nil, ErrClosed
	}
	if f.err != nil {
		return nil, f.err
	}
	if len(payloads) == 0 {
		return nil, nil
	}
	total := 0
	for _, p := range payloads {
		if len(p) > maxPayloadBytes {
			return nil, fmt.Errorf("append to block file: entry of %d bytes is over %d", len(p), maxPayloadBytes)
		}
		total += frameHeaderBytes + len(p)
	}
	if f.size > 0 && f.size+int64(total) > f.opt.SegmentBytes {
		if err := f.roll(); err != nil {
			f.err = err
			return nil, err
		}
	}
	segment := f.activeIndex()
	locs := make([]Location, len(payloads))
	buf := f.buf[:0]
	for i, p := range payloads {
		locs[i] = Location{Segment: segment, Offset: uint64(f.size) + uint64(len(buf)), Length: uint32(len(p))}
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(p)))
		buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(p, crcTable))
		buf = append(buf, p...)
	}
	if cap(buf) <= retainBufferBytes {
		f.buf = buf
	} else {
		f.buf = nil
	}
	if _, err := f.active.WriteAt(buf, f.size); err != nil {
		f.err = fmt.Errorf("append to block file: %w", err)
		return nil, f.err
	}
	if err := f.active.Sync(); err != nil {
		f.err = fmt.Errorf("sync block file: %w", err)
		return nil, f.err
	}
	f.mu.Lock()
	f.size += int64(len(buf))
	f.mu.Unlock()
	return locs, nil
}

// roll seals the active segment (synced by the Append that wrote it last)
// and continues in a new one.
func (f *File) roll() error {
	seg, err := f.createSegment(uint64(f.activeIndex()) + 1)
	if err != nil {
		return err
	}
	f.mu.Lock()
	old := f.active
	f.sealed = append(f.sealed, f.size)
	f.sealedBytes += f.size
	f.active, f.size = seg, 0
	f.mu.Unlock()
	return old.Close()
}

// Fail makes every later Append return err. The caller calls it when what
// it did with appended entries has an unknown outcome (a failed database
// commit), so that nothing is appended after them before the node
// restarts and Cut sorts it out.
func (f *File) Fail(err error) {
	f.appendMu.Lock()
	defer f.appendMu.Unlock()
	if f.err == nil {
		f.err = fmt.Errorf("block file: an earlier commit failed: %w", err)
	}
}

// Read returns the payload of the entry at l, checked against its length
// and checksum.
func (f *File) Read(l Location) ([]byte, error) {
	if l.Length > maxPayloadBytes {
		return nil, fmt.Errorf("%w: location %+v", ErrCorrupt, l)
	}
	f.mu.RLock()
	if f.closed {
		f.mu.RUnlock()
		return nil, ErrClosed
	}
	activeIndex := f.activeIndex()
	if l.Segment < f.first || l.Segment > activeIndex {
		f.mu.RUnlock()
		return nil, fmt.Errorf("%w: segment %d, the files hold %d to %d", ErrMissing, l.Segment, f.first, activeIndex)
	}
	if l.Segment == activeIndex {
		// Under the lock: a roll or Cut that closes the active segment
		// waits for the read. Reads of recent blocks come from the page
		// cache and are short.
		defer f.mu.RUnlock()
		return readEntry(f.active, l)
	}
	f.mu.RUnlock()
	seg, err := os.Open(f.path(uint64(l.Segment)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: segment %d was removed", ErrMissing, l.Segment)
	}
	if err != nil {
		return nil, fmt.Errorf("read block file: %w", err)
	}
	defer seg.Close()
	return readEntry(seg, l)
}

// readEntry reads and checks the entry at l from its segment.
func readEntry(seg *os.File, l Location) ([]byte, error) {
	var header [frameHeaderBytes]byte
	if err := readAt(seg, header[:], l.Offset); err != nil {
		return nil, fmt.Errorf("entry at %+v: %w", l, err)
	}
	if n := binary.BigEndian.Uint32(header[:]); n != l.Length {
		return nil, fmt.Errorf("%w: entry at %+v has length %d", ErrCorrupt, l, n)
	}
	payload := make([]byte, l.Length)
	if err := readAt(seg, payload, l.Offset+frameHeaderBytes); err != nil {
		return nil, fmt.Errorf("entry at %+v: %w", l, err)
	}
	if crc32.Checksum(payload, crcTable) != binary.BigEndian.Uint32(header[4:]) {
		return nil, fmt.Errorf("%w: entry at %+v fails its checksum", ErrCorrupt, l)
	}
	return payload, nil
}

// readAt fills b from seg at off; the segment ending first is ErrMissing.
func readAt(seg *os.File, b []byte, off uint64) error {
	if off > math.MaxInt64-uint64(len(b)) {
		return fmt.Errorf("%w: offset %d", ErrCorrupt, off)
	}
	_, err := seg.ReadAt(b, int64(off))
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: past the end of its segment", ErrMissing)
	}
	if err != nil {
		return fmt.Errorf("read block file: %w", err)
	}
	return nil
}

// DropBefore deletes every segment older than p's, except the one
// appended to: the caller needs no entry before p any more (a node that
// prunes old blocks passes the start of the oldest entry it keeps). It
// returns how many segments it deleted. Segments go oldest first, so a
// crash midway leaves a run without a gap, which Open accepts; the next
// call deletes the rest. Appends and reads go on meanwhile: the files are
// removed after the File stops naming them, and a read that opened one
// before still reads it.
func (f *File) DropBefore(p Position) (int, error) {
	f.dropMu.Lock()
	defer f.dropMu.Unlock()
	f.appendMu.Lock()
	if f.closed {
		f.appendMu.Unlock()
		return 0, ErrClosed
	}
	from, upTo := f.first, min(p.Segment, f.activeIndex())
	if upTo <= from {
		f.appendMu.Unlock()
		return 0, nil
	}
	n := upTo - from
	f.mu.Lock()
	for _, size := range f.sealed[:n] {
		f.sealedBytes -= size
	}
	f.sealed = append([]int64(nil), f.sealed[n:]...)
	f.first = upTo
	f.mu.Unlock()
	f.appendMu.Unlock()
	for index := from; index < upTo; index++ {
		if err := os.Remove(f.path(uint64(index))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return int(index - from), fmt.Errorf("drop block file segment: %w", err)
		}
	}
	if err := fsync.SyncDir(f.dir); err != nil {
		return int(n), fmt.Errorf("drop block file segments: %w", err)
	}
	return int(n), nil
}

// Segments returns the oldest segment held and the one appended to.
func (f *File) Segments() (first, active uint32) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.first, f.activeIndex()
}

// Size returns the bytes the segments hold.
func (f *File) Size() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.sealedBytes + f.size
}

// Close closes the active segment. Entries appended before stay on disk.
func (f *File) Close() error {
	f.appendMu.Lock()
	defer f.appendMu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	if err := f.active.Close(); err != nil {
		return fmt.Errorf("close block file: %w", err)
	}
	return nil
}
