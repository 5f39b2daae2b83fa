// Package wal is a validator's consensus log: the signed messages the
// ordering core hands the driver to make durable before it sends them
// (ordering.Ready.Persist), kept so that a restarted validator never signs
// two different things for one view and height.
//
// The log is a directory of segment files written append-only. Each Append
// is one frame — length, CRC-32C and the batch's records — written with one
// write and one fsync, so a batch is on disk whole or, after a crash during
// the write, is a torn tail that Open cuts off (its records were never
// acknowledged, so never sent). A bad frame anywhere else is corruption and
// Open refuses the log. Segments roll over at Options.SegmentBytes; Prune
// deletes the closed segments whose records are all below a height.
//
// The log lives beside Badger, not in it: a synced Badger write waits for
// every write queued before it (block commits of hundreds of kilobytes) and
// for memtable switches, and the persist-before-send write sits on the
// critical path of every vote.
package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/bafomet/bafomet/chain/internal/fsync"
)

// DefaultSegmentBytes is the size past which the log starts a new segment.
const DefaultSegmentBytes = 8 << 20

const (
	frameHeaderBytes  = 8  // payload length, CRC-32C of the payload
	recordHeaderBytes = 12 // height, data length
	segmentSuffix     = ".wal"
	importSuffix      = ".import"
	// retainBufferBytes bounds the encode buffer kept between appends.
	retainBufferBytes = 1 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Errors.
var (
	// ErrCorrupt means a segment holds a frame that does not verify where
	// a torn write cannot explain it.
	ErrCorrupt = errors.New("consensus log corrupt")
	// ErrClosed is returned by a closed log.
	ErrClosed = errors.New("consensus log closed")
)

// Record is one persisted consensus message and the height it belongs to
// (Prune works by height).
type Record struct {
	Height uint64
	Data   []byte
}

// Options configures a Log. Zero fields take defaults.
type Options struct {
	SegmentBytes int64
	Logger       *slog.Logger
}

// Log is an open consensus log. Its methods are safe for concurrent use.
type Log struct {
	dir string
	opt Options
	log *slog.Logger

	mu     sync.Mutex
	segs   []segment // oldest first; the last is written to
	active *os.File
	size   int64  // bytes in the active segment
	buf    []byte // encode buffer
	err    error  // sticky: after a failed write or sync the tail is unknown
}

// segment is one file of the log.
type segment struct {
	index     uint64
	maxHeight uint64 // highest record height in it (0 when empty)
}

func (s segment) name() string { return fsync.SegmentName(s.index, segmentSuffix) }

// Open opens the log in dir, creating the directory and a first segment
// when there are none, and returns every record in it, oldest first. A torn
// tail left by a crash during an append is cut off; any other bad frame is
// ErrCorrupt.
func Open(dir string, opt Options) (*Log, []Record, error) {
	if opt.SegmentBytes <= 0 {
		opt.SegmentBytes = DefaultSegmentBytes
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	l := &Log{dir: dir, opt: opt, log: opt.Logger}
	if err := fsync.MkdirSynced(dir); err != nil {
		return nil, nil, fmt.Errorf("open consensus log: %w", err)
	}
	idx, err := fsync.ListSegments(dir, segmentSuffix)
	if err != nil {
		return nil, nil, fmt.Errorf("list consensus log: %w", err)
	}
	var recs []Record
	for i, index := range idx {
		seg := segment{index: index}
		last := i == len(idx)-1
		segRecs, err := l.readSegment(&seg, last)
		if err != nil {
			return nil, nil, err
		}
		recs = append(recs, segRecs...)
		l.segs = append(l.segs, seg)
	}
	if len(l.segs) == 0 {
		if err := l.createSegment(1); err != nil {
			return nil, nil, err
		}
		return l, recs, nil
	}
	last := l.segs[len(l.segs)-1]
	f, err := os.OpenFile(filepath.Join(dir, last.name()), os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open consensus log segment: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("open consensus log segment: %w", err)
	}
	l.active, l.size = f, st.Size()
	return l, recs, nil
}

// Exists reports whether dir holds a consensus log (at least one segment).
func Exists(dir string) (bool, error) {
	idx, err := fsync.ListSegments(dir, segmentSuffix)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return len(idx) > 0, err
}

// Import creates the log in dir holding recs, atomically: the first
// segment is written and synced under a staging name in dir and then
// renamed into place, so after a crash dir either holds every record or no
// log. dir may exist (an empty directory made by `bafomet init`, say) but
// must not hold a log already.
func Import(dir string, recs []Record) error {
	if ok, err := Exists(dir); err != nil || ok {
		if err == nil {
			err = errors.New("a consensus log is already there")
		}
		return fmt.Errorf("import consensus log into %s: %w", dir, err)
	}
	if err := fsync.MkdirSynced(dir); err != nil {
		return fmt.Errorf("import consensus log: %w", err)
	}
	var data []byte
	if len(recs) > 0 {
		data = appendFrame(nil, recs)
	}
	staged := filepath.Join(dir, segment{index: 1}.name()+importSuffix)
	err := os.Remove(staged) // left by a crash during an earlier import
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if err == nil {
		err = writeFileSynced(staged, data)
	}
	if err == nil {
		err = os.Rename(staged, filepath.Join(dir, segment{index: 1}.name()))
	}
	if err == nil {
		err = fsync.SyncDir(dir)
	}
	if err != nil {
		os.Remove(staged)
		return fmt.Errorf("import consensus log into %s: %w", dir, err)
	}
	return nil
}

// Append durably appends recs as one frame: when it returns nil they are
// on disk. After a failed write or sync every later call fails too, since
// what reached the disk is unknown; the node must restart and let Open
// decide.
func (l *Log) Append(recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	if l.size >= l.opt.SegmentBytes {
		if err := l.rotate(); err != nil {
			l.err = fmt.Errorf("consensus log: start segment: %w", err)
			return l.err
		}
	}
	l.buf = appendFrame(l.buf[:0], recs)
	if _, err := l.active.Write(l.buf); err != nil {
		l.err = fmt.Errorf("consensus log: write: %w", err)
		return l.err
	}
	if err := l.active.Sync(); err != nil {
		l.err = fmt.Errorf("consensus log: sync: %w", err)
		return l.err
	}
	l.size += int64(len(l.buf))
	seg := &l.segs[len(l.segs)-1]
	for _, r := range recs {
		seg.maxHeight = max(seg.maxHeight, r.Height)
	}
	if cap(l.buf) > retainBufferBytes {
		l.buf = nil
	}
	return nil
}

// Prune deletes every segment but the one being written whose records are
// all below height below. Records of lower heights can survive in a segment
// that also holds higher ones; a reader skips them.
func (l *Log) Prune(below uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	kept := l.segs[:0]
	removed := 0
	var err error
	for i, s := range l.segs {
		if i == len(l.segs)-1 || s.maxHeight >= below || err != nil {
			kept = append(kept, s)
			continue
		}
		if rerr := os.Remove(filepath.Join(l.dir, s.name())); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = rerr
			kept = append(kept, s)
			continue
		}
		removed++
	}
	l.segs = kept
	if removed > 0 && err == nil {
		err = fsync.SyncDir(l.dir)
	}
	if err != nil {
		return fmt.Errorf("consensus log: prune below %d: %w", below, err)
	}
	return nil
}

// Segments returns how many segment files the log has.
func (l *Log) Segments() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.segs)
}

// Close closes the log; later calls fail with ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.active == nil {
		return nil
	}
	err := l.active.Close()
	l.active, l.err = nil, ErrClosed
	if err != nil {
		return fmt.Errorf("close consensus log: %w", err)
	}
	return nil
}

// rotate closes the full active segment (already synced) and starts the next.
func (l *Log) rotate() error {
	next := l.segs[len(l.segs)-1].index + 1
	old := l.active
	if err := l.createSegment(next); err != nil {
		return err
	}
	return old.Close()
}

// createSegment creates segment index, makes its directory entry durable
// and makes it the active one.
func (l *Log) createSegment(index uint64) error {
	s := segment{index: index}
	f, err := os.OpenFile(filepath.Join(l.dir, s.name()), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("create consensus log segment: %w", err)
	}
	if err := fsync.SyncDir(l.dir); err != nil {
		f.Close()
		return fmt.Errorf("create consensus log segment: %w", err)
	}
	l.segs = append(l.segs, s)
	l.active, l.size = f, 0
	return nil
}

// readSegment decodes one segment. In the last segment a frame that does
// not verify, with no valid frame after it, is the torn tail of an append
// cut short by a crash: it is truncated away.
func (l *Log) readSegment(seg *segment, last bool) ([]Record, error) {
	path := filepath.Join(l.dir, seg.name())
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read consensus log: %w", err)
	}
	var recs []Record
	off := 0
	for off < len(data) {
		frame, n, err := decodeFrame(data[off:])
		if err == nil {
			for _, r := range frame {
				seg.maxHeight = max(seg.maxHeight, r.Height)
			}
			recs = append(recs, frame...)
			off += n
			continue
		}
		if !last || validFrameFollows(data[off:]) {
			return nil, fmt.Errorf("%w: %s at offset %d: %v", ErrCorrupt, path, off, err)
		}
		l.log.Warn("consensus log: cutting off a torn tail (an append the crash interrupted; its records were never sent)",
			"segment", path, "offset", off, "bytes", len(data)-off, "reason", err)
		if err := truncateSynced(path, int64(off)); err != nil {
			return nil, err
		}
		break
	}
	return recs, nil
}

// validFrameFollows reports whether a valid frame starts anywhere after the
// bad frame at the start of b: then the bad one is not a torn tail but
// damage before acknowledged records (its length field may be the damaged
// part, so every offset is tried). A torn tail is short — one append — so
// the scan is too.
func validFrameFollows(b []byte) bool {
	for off := 1; off+frameHeaderBytes+recordHeaderBytes <= len(b); off++ {
		if _, _, err := decodeFrame(b[off:]); err == nil {
			return true
		}
	}
	return false
}

// appendFrame appends the frame holding recs to b:
//
//	frame:  payload length (4) ‖ CRC-32C of payload (4) ‖ payload
//	payload: one or more of height (8) ‖ data length (4) ‖ data
//
// All integers are big-endian.
func appendFrame(b []byte, recs []Record) []byte {
	start := len(b)
	b = append(b, make([]byte, frameHeaderBytes)...)
	for _, r := range recs {
		b = binary.BigEndian.AppendUint64(b, r.Height)
		b = binary.BigEndian.AppendUint32(b, uint32(len(r.Data)))
		b = append(b, r.Data...)
	}
	payload := b[start+frameHeaderBytes:]
	binary.BigEndian.PutUint32(b[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(b[start+4:], crc32.Checksum(payload, crcTable))
	return b
}

// decodeFrame decodes the frame at the start of b and returns its records
// (their Data aliases b) and the frame's length.
func decodeFrame(b []byte) ([]Record, int, error) {
	if len(b) < frameHeaderBytes {
		return nil, 0, fmt.Errorf("frame header cut short (%d bytes)", len(b))
	}
	n := uint64(binary.BigEndian.Uint32(b))
	if n < recordHeaderBytes {
		return nil, 0, fmt.Errorf("frame payload of %d bytes cannot hold a record", n)
	}
	if n > uint64(len(b)-frameHeaderBytes) {
		return nil, 0, fmt.Errorf("frame payload of %d bytes runs past the end (%d left)", n, len(b)-frameHeaderBytes)
	}
	payload := b[frameHeaderBytes : frameHeaderBytes+n]
	if sum := crc32.Checksum(payload, crcTable); sum != binary.BigEndian.Uint32(b[4:]) {
		return nil, 0, fmt.Errorf("frame checksum %08x, want %08x", sum, binary.BigEndian.Uint32(b[4:]))
	}
	var recs []Record
	for len(payload) > 0 {
		if len(payload) < recordHeaderBytes {
			return nil, 0, fmt.Errorf("record header cut short (%d bytes)", len(payload))
		}
		h := binary.BigEndian.Uint64(payload)
		size := uint64(binary.BigEndian.Uint32(payload[8:]))
		payload = payload[recordHeaderBytes:]
		if size > uint64(len(payload)) {
			return nil, 0, fmt.Errorf("record of %d bytes runs past its frame (%d left)", size, len(payload))
		}
		recs = append(recs, Record{Height: h, Data: payload[:size:size]})
		payload = payload[size:]
	}
	return recs, frameHeaderBytes + int(n), nil
}

func writeFileSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func truncateSynced(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("truncate consensus log: %w", err)
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("truncate consensus log: %w", err)
	}
	return nil
}
