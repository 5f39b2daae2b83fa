// Package blockfile keeps a node's committed blocks and receipts in
// append-only segment files beside Badger, and reads them back by location.
//
// The store writes each batch of blocks here first, with one write and one
// fsync, and only then commits, in one synced Badger transaction, the
// Locations of the new entries with the rest of the blocks' data. Badger is
// therefore the index and the authority: an entry no Location in Badger
// names (written before a crash that came before the Badger commit) is an
// orphan, and the store cuts the files back to the end of the last entry it
// knows (Cut) when it opens.
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
// segment.
const DefaultSegmentBytes = 256 << 20

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

// ParseLocation decodes a Location encoded by Bytes.
func ParseLocation(b []byte) (Location, error) {
	if len(b) != LocationBytes {
		return Location{}, fmt.Errorf("%w: location is %d bytes, want %d", ErrCorrupt, len(b), LocationBytes)
	}
	l := Location{
		Segment: binary.BigEndian.Uint32(b),
		Offset:  binary.BigEndian.Uint64(b[4:]),
		Length:  binary.BigEndian.Uint32(b[12:]),
	}
	if l.Segment == 0 || l.Length > maxPayloadBytes {
		return Location{}, fmt.Errorf("%w: location %+v", ErrCorrupt, l)
	}
	return l, nil
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

// File is an open set of block segments. Read is safe from any goroutine,
// concurrently with Append; Append and Cut are serialised.
type File struct {
	dir string
	opt Options

	// appendMu serialises Append, Cut, Size and Close, and guards size,
	// buf and err; mu guards segs and closed for Read. appendMu is taken
	// first.
	appendMu sync.Mutex
	mu       sync.RWMutex
	segs     []*os.File // segs[i] is segment i+1; the last is written to
	closed   bool
	size     int64 // bytes in the last segment
	buf      []byte
	err      error // sticky: after a failed write or sync the tail is unknown
}

// Open opens the block files in dir, creating the directory and a first
// segment when there are none. The segments must be numbered 1, 2, … with
// none missing. Open reads no entry: the caller calls Cut with the end of
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
	f := &File{dir: dir, opt: opt}
	for i, index := range idx {
		if index != uint64(i+1) {
			f.closeSegments()
			return nil, fmt.Errorf("%w: segment %d missing in %s", ErrMissing, i+1, dir)
		}
		seg, err := os.OpenFile(f.path(index), os.O_RDWR, 0o600)
		if err != nil {
			f.closeSegments()
			return nil, fmt.Errorf("open block file: %w", err)
		}
		f.segs = append(f.segs, seg)
	}
	if len(f.segs) == 0 {
		if err := f.addSegment(); err != nil {
			return nil, err
		}
		return f, nil
	}
	st, err := f.segs[len(f.segs)-1].Stat()
	if err != nil {
		f.closeSegments()
		return nil, fmt.Errorf("open block file: %w", err)
	}
	f.size = st.Size()
	return f, nil
}

func (f *File) path(index uint64) string {
	return filepath.Join(f.dir, fsync.SegmentName(index, segmentSuffix))
}

// Cut removes everything after end: later segments are deleted and end's
// segment is truncated to end.Offset, durably. The zero Position empties
// the files. It returns ErrMissing when the files end before end.
func (f *File) Cut(end Position) error {
	f.appendMu.Lock()
	defer f.appendMu.Unlock()
	if f.closed {
		return ErrClosed
	}
	if end.Segment == 0 {
		end = Position{Segment: 1}
	}
	if int(end.Segment) > len(f.segs) {
		return fmt.Errorf("%w: the store names segment %d, %s holds %d", ErrMissing, end.Segment, f.dir, len(f.segs))
	}
	seg := f.segs[end.Segment-1]
	st, err := seg.Stat()
	if err != nil {
		return fmt.Errorf("cut block file: %w", err)
	}
	if uint64(st.Size()) < end.Offset {
		return fmt.Errorf("%w: segment %d is %d bytes, the store names %d", ErrMissing, end.Segment, st.Size(), end.Offset)
	}
	if uint64(st.Size()) > end.Offset {
		if err := seg.Truncate(int64(end.Offset)); err != nil {
			return fmt.Errorf("cut block file: %w", err)
		}
		if err := seg.Sync(); err != nil {
			return fmt.Errorf("cut block file: %w", err)
		}
	}
	f.mu.Lock()
	drop := f.segs[end.Segment:]
	f.segs = f.segs[:end.Segment]
	f.size = int64(end.Offset)
	f.mu.Unlock()
	for i := len(drop) - 1; i >= 0; i-- { // newest first: a crash leaves no gap
		drop[i].Close()
		if err := os.Remove(f.path(uint64(int(end.Segment) + 1 + i))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cut block file: %w", err)
		}
	}
	if len(drop) > 0 {
		if err := fsync.SyncDir(f.dir); err != nil {
			return fmt.Errorf("cut block file: %w", err)
		}
	}
	return nil
}

// Append durably appends one entry per payload, in order, and returns
// their Locations: when it returns nil every entry is on disk. A batch is
// never split across segments; a new segment starts first when the batch
// would take the active one past Options.SegmentBytes. After a failed
// write or sync every later call fails too, since what reached the disk is
// unknown; the node must restart, and the store's Cut at open removes
// whatever part of the batch was written.
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
		if err := f.addSegment(); err != nil { // the active one is synced
			f.err = err
			return nil, err
		}
	}
	segment := uint32(len(f.segs))
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
	seg := f.segs[segment-1]
	if _, err := seg.WriteAt(buf, f.size); err != nil {
		f.err = fmt.Errorf("append to block file: %w", err)
		return nil, f.err
	}
	if err := seg.Sync(); err != nil {
		f.err = fmt.Errorf("sync block file: %w", err)
		return nil, f.err
	}
	f.size += int64(len(buf))
	return locs, nil
}

// addSegment creates the next segment and makes its entry durable.
func (f *File) addSegment() error {
	index := uint64(len(f.segs) + 1)
	seg, err := os.OpenFile(f.path(index), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("create block file segment: %w", err)
	}
	if err := fsync.SyncDir(f.dir); err != nil {
		seg.Close()
		return fmt.Errorf("create block file segment: %w", err)
	}
	f.mu.Lock()
	f.segs = append(f.segs, seg)
	f.size = 0
	f.mu.Unlock()
	return nil
}

// Read returns the payload of the entry at l, checked against its length
// and checksum.
func (f *File) Read(l Location) ([]byte, error) {
	if l.Length > maxPayloadBytes {
		return nil, fmt.Errorf("%w: location %+v", ErrCorrupt, l)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return nil, ErrClosed
	}
	if l.Segment == 0 || int(l.Segment) > len(f.segs) {
		return nil, fmt.Errorf("%w: segment %d of %d", ErrMissing, l.Segment, len(f.segs))
	}
	seg := f.segs[l.Segment-1]
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

// Size returns the bytes the segments hold.
func (f *File) Size() int64 {
	f.appendMu.Lock()
	defer f.appendMu.Unlock()
	total := f.size
	for _, seg := range f.segs[:max(len(f.segs)-1, 0)] {
		if st, err := seg.Stat(); err == nil {
			total += st.Size()
		}
	}
	return total
}

// Close closes the segments. Entries appended before stay on disk.
func (f *File) Close() error {
	f.appendMu.Lock()
	defer f.appendMu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	return f.closeSegments()
}

func (f *File) closeSegments() error {
	var first error
	for _, seg := range f.segs {
		if err := seg.Close(); err != nil && first == nil {
			first = fmt.Errorf("close block file: %w", err)
		}
	}
	return first
}
