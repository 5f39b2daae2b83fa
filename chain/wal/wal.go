// Package wal is a validator's consensus log: the signed messages the
// ordering core hands the driver to make durable before it sends them
// (ordering.Ready.Persist), kept so that a restarted validator never signs
// two different things for one view and height.
//
// The log is a directory of segment files written append-only. A segment
// starts with a header naming the format version and a random salt, and is
// created under a staging name and renamed into place, so no segment is
// ever seen without its header. Each Append is one frame, written with one
// write and one fsync, so a batch is on disk whole or, after a crash during
// the write, is a torn tail that Open cuts off (its records were never
// acknowledged, so never sent). A frame's checksums cover the segment's
// salt, the segment's index and the frame's offset, so a frame is valid
// only where it was written: a copy of a frame inside a record's data (a
// pre-prepare carries client transactions byte for byte) never checks out.
// A bad frame that a torn append cannot explain is corruption, and Open
// refuses the log. Segments roll over at Options.SegmentBytes; Prune
// deletes the closed segments whose records are all below a height.
//
// A failed write or fsync in Append truncates the segment back to its
// acknowledged length, so the page cache holds nothing that may not be on
// the disk; when even that fails, a marker file (SyncFailedFile) is
// written and Open refuses the log until an operator removes it.
//
// The log lives beside Badger, not in it: a synced Badger write waits for
// every write queued before it (block commits of hundreds of kilobytes) and
// for memtable switches, and the persist-before-send write sits on the
// critical path of every vote.
package wal

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/bafomet/bafomet/chain/internal/fsync"
)

// DefaultSegmentBytes is the size past which the log starts a new segment.
const DefaultSegmentBytes = 8 << 20

// FormatVersion is the version of the segment and frame format this
// package reads and writes.
const FormatVersion = 2

// SyncFailedFile is the marker Append leaves in the log's directory when a
// write or fsync failed and the segment could not be truncated back to what
// was acknowledged: the page cache may then show records the disk lacks.
const SyncFailedFile = "SYNC_FAILED"

const (
	// segment header: magic (8) ‖ version (4) ‖ salt (8) ‖ CRC-32C (4) of
	// the segment index (8) and the 20 bytes before it.
	segmentHeaderBytes = 24
	// frame header: payload length (4) ‖ header sum (4) ‖ payload sum (4).
	frameHeaderBytes  = 12
	recordHeaderBytes = 12 // height, data length
	segmentSuffix     = ".wal"
	stagingSuffix     = ".new"
	// retainBufferBytes bounds the encode buffer kept between appends.
	retainBufferBytes = 1 << 20
)

var (
	crcTable     = crc32.MakeTable(crc32.Castagnoli)
	segmentMagic = [8]byte{'b', 'a', 'f', 'o', 'w', 'a', 'l', 0}
)

// Errors.
var (
	// ErrCorrupt means a segment holds a frame that does not verify where
	// a torn write cannot explain it.
	ErrCorrupt = errors.New("consensus log corrupt")
	// ErrFormat means a segment is not in FormatVersion.
	ErrFormat = errors.New("consensus log format not supported")
	// ErrSyncFailed means an earlier write or fsync failed and what the
	// disk holds may differ from what a read shows (SyncFailedFile).
	ErrSyncFailed = errors.New("consensus log saw a failed write or fsync")
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
	size   int64  // acknowledged bytes in the active segment
	buf    []byte // encode buffer
	err    error  // sticky: after a failed write or sync the log takes no more appends

	// sync makes the active segment durable (os.File.Sync; tests replace it).
	sync func(*os.File) error
	// scan counts the work of telling a torn tail from corruption at Open.
	scan scanStats
}

// scanStats counts what Open's search for a valid frame after a bad one
// checked: frame headers, and payload bytes checksummed.
type scanStats struct {
	headers, payloadBytes int
}

// segment is one file of the log.
type segment struct {
	index     uint64
	salt      uint64
	maxHeight uint64 // highest record height in it (0 when empty)
}

func (s segment) name() string { return fsync.SegmentName(s.index, segmentSuffix) }

// framePos is where a frame is written: its checksums bind it there.
type framePos struct {
	salt, index uint64
	offset      int64
}

// Open opens the log in dir, creating the directory and a first segment
// when there are none, and returns every record in it, oldest first. A torn
// tail left by a crash during an append is cut off; any other bad frame is
// ErrCorrupt. A log with SyncFailedFile in it is ErrSyncFailed; one in an
// older format is ErrFormat.
func Open(dir string, opt Options) (*Log, []Record, error) {
	if opt.SegmentBytes <= 0 {
		opt.SegmentBytes = DefaultSegmentBytes
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	l := &Log{dir: dir, opt: opt, log: opt.Logger, sync: (*os.File).Sync}
	if err := fsync.MkdirSynced(dir); err != nil {
		return nil, nil, fmt.Errorf("open consensus log: %w", err)
	}
	if err := checkSyncFailed(dir); err != nil {
		return nil, nil, err
	}
	idx, err := fsync.ListSegments(dir, segmentSuffix)
	if err != nil {
		return nil, nil, fmt.Errorf("list consensus log: %w", err)
	}
	var recs []Record
	var lastSize int64
	for i, index := range idx {
		seg := segment{index: index}
		last := i == len(idx)-1
		segRecs, size, err := l.readSegment(&seg, last)
		if err != nil {
			return nil, nil, err
		}
		recs = append(recs, segRecs...)
		l.segs = append(l.segs, seg)
		lastSize = size
	}
	if len(l.segs) == 0 {
		if err := l.createSegment(1); err != nil {
			return nil, nil, err
		}
		return l, recs, nil
	}
	last := l.segs[len(l.segs)-1]
	f, err := os.OpenFile(filepath.Join(dir, last.name()), os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open consensus log segment: %w", err)
	}
	l.active, l.size = f, lastSize
	return l, recs, nil
}

// checkSyncFailed returns ErrSyncFailed, with what the operator must do,
// when dir holds SyncFailedFile.
func checkSyncFailed(dir string) error {
	path := filepath.Join(dir, SyncFailedFile)
	note, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open consensus log: %w", err)
	}
	return fmt.Errorf("%w (%s: %q): the page cache may show records that never reached the disk. "+
		"Check the disk, reboot the machine (which drops the page cache), then delete %s and start the node; "+
		"see docs/operations.md", ErrSyncFailed, path, note, path)
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
	if _, _, err := createSegmentFile(dir, 1, recs); err != nil {
		return fmt.Errorf("import consensus log into %s: %w", dir, err)
	}
	return nil
}

// createSegmentFile creates segment index in dir holding its header and,
// when there are recs, one frame with them: written and synced under a
// staging name, renamed into place, and the directory synced. It returns
// the segment and its size.
func createSegmentFile(dir string, index uint64, recs []Record) (segment, int64, error) {
	var saltb [8]byte
	if _, err := rand.Read(saltb[:]); err != nil {
		return segment{}, 0, fmt.Errorf("segment salt: %w", err)
	}
	seg := segment{index: index, salt: binary.BigEndian.Uint64(saltb[:])}
	data := appendSegmentHeader(nil, seg)
	if len(recs) > 0 {
		data = appendFrame(data, framePos{seg.salt, index, int64(len(data))}, recs)
		for _, r := range recs {
			seg.maxHeight = max(seg.maxHeight, r.Height)
		}
	}
	final := filepath.Join(dir, seg.name())
	staged := final + stagingSuffix
	err := os.Remove(staged) // left by a crash during an earlier creation
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if err == nil {
		err = writeFileSynced(staged, data, os.O_EXCL)
	}
	if err == nil {
		err = renameNoReplace(staged, final)
	}
	if err == nil {
		err = fsync.SyncDir(dir)
	}
	if err != nil {
		os.Remove(staged)
		return segment{}, 0, fmt.Errorf("create consensus log segment %s: %w", final, err)
	}
	return seg, int64(len(data)), nil
}

// renameNoReplace renames from to to, failing if to exists.
func renameNoReplace(from, to string) error {
	if _, err := os.Lstat(to); err == nil {
		return fmt.Errorf("%s exists", to)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Rename(from, to)
}

// Append durably appends recs as one frame: when it returns nil they are
// on disk. After a failed write or sync every later call fails too, since
// the disk misbehaves; the segment is first truncated back to its
// acknowledged length (and synced), so that what a restarted node reads
// is what the disk holds. If that fails as well, SyncFailedFile is written
// and the next Open refuses the log.
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
	seg := &l.segs[len(l.segs)-1]
	l.buf = appendFrame(l.buf[:0], framePos{seg.salt, seg.index, l.size}, recs)
	if _, err := l.active.WriteAt(l.buf, l.size); err != nil {
		l.err = l.failed(fmt.Errorf("consensus log: write: %w", err))
		return l.err
	}
	if err := l.sync(l.active); err != nil {
		l.err = l.failed(fmt.Errorf("consensus log: sync: %w", err))
		return l.err
	}
	l.size += int64(len(l.buf))
	for _, r := range recs {
		seg.maxHeight = max(seg.maxHeight, r.Height)
	}
	if cap(l.buf) > retainBufferBytes {
		l.buf = nil
	}
	return nil
}

// failed handles a failed write or sync of the active segment: the bytes
// past l.size are in an unknown state on disk and may still be in the page
// cache, so the segment is truncated back to l.size and synced. Bytes
// below l.size were synced by earlier appends and a failed write-back
// leaves them as they were on disk. When the truncation cannot be made
// durable, SyncFailedFile records that the page cache cannot be trusted.
func (l *Log) failed(cause error) error {
	err := l.active.Truncate(l.size)
	if err == nil {
		err = l.sync(l.active)
	}
	if err == nil {
		l.log.Error("consensus log: append failed; cut the segment back to its acknowledged records",
			"segment", l.active.Name(), "size", l.size, "err", cause)
		return cause
	}
	note := fmt.Sprintf("%s: %v; cutting back to %d bytes: %v\n", time.Now().UTC().Format(time.RFC3339), cause, l.size, err)
	path := filepath.Join(l.dir, SyncFailedFile)
	if merr := writeMarker(path, []byte(note)); merr != nil {
		return fmt.Errorf("%w; cutting back failed: %v; and recording that in %s failed: %v: "+
			"reboot the machine before restarting the node, since the page cache may show records the disk lacks",
			cause, err, path, merr)
	}
	return fmt.Errorf("%w; cutting back failed: %v; recorded in %s", cause, err, path)
}

// writeMarker writes data to path durably, replacing what is there.
func writeMarker(path string, data []byte) error {
	err := writeFileSynced(path, data, os.O_TRUNC)
	if err == nil {
		err = fsync.SyncDir(filepath.Dir(path))
	}
	return err
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

// createSegment creates segment index (see createSegmentFile) and makes
// it the active one.
func (l *Log) createSegment(index uint64) error {
	seg, size, err := createSegmentFile(l.dir, index, nil)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(l.dir, seg.name()), os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("open consensus log segment: %w", err)
	}
	l.segs = append(l.segs, seg)
	l.active, l.size = f, size
	return nil
}

// readSegment reads the header and decodes the frames of one segment, and
// returns its records and its size. In the last segment a bad frame that a
// torn append explains is cut off: one whose verified header announces
// more bytes than the file holds, or one that fails to verify with no
// valid frame anywhere after it. Anything else is ErrCorrupt.
func (l *Log) readSegment(seg *segment, last bool) ([]Record, int64, error) {
	path := filepath.Join(l.dir, seg.name())
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("read consensus log: %w", err)
	}
	if err := readSegmentHeader(data, seg); err != nil {
		return nil, 0, fmt.Errorf("consensus log segment %s: %w", path, err)
	}
	var recs []Record
	off := int64(segmentHeaderBytes)
	for off < int64(len(data)) {
		frame, n, err := decodeFrame(data[off:], framePos{seg.salt, seg.index, off})
		if err == nil {
			for _, r := range frame {
				seg.maxHeight = max(seg.maxHeight, r.Height)
			}
			recs = append(recs, frame...)
			off += int64(n)
			continue
		}
		if !last || errors.Is(err, errMalformed) {
			return nil, 0, fmt.Errorf("%w: %s at offset %d: %v", ErrCorrupt, path, off, err)
		}
		if !errors.Is(err, errTorn) {
			if cerr := l.tornOrCorrupt(data, *seg, off); cerr != nil {
				return nil, 0, fmt.Errorf("%w: %s at offset %d: %v; %v", ErrCorrupt, path, off, err, cerr)
			}
		}
		l.log.Warn("consensus log: cutting off a torn tail (an append the crash interrupted; its records were never sent)",
			"segment", path, "offset", off, "bytes", int64(len(data))-off, "reason", err)
		if err := truncateSynced(path, off); err != nil {
			return nil, 0, err
		}
		break
	}
	return recs, off, nil
}

// tornOrCorrupt decides about a frame at off that does not verify and is
// not plainly torn: it is a torn tail only if no valid frame starts
// anywhere after it (its length field may be what is damaged, so every
// offset is tried). Each offset costs a check of the frame header's sum
// over a fixed number of bytes; a payload is checksummed only behind a
// header that verifies at its offset, which bytes that were not written
// there by this log match by chance only (the sums cover the segment's
// random salt). Payload checks are capped at the tail's length, so the
// scan is linear in it; past the cap the frame is reported as corruption,
// since the scan cannot tell.
func (l *Log) tornOrCorrupt(data []byte, seg segment, off int64) error {
	budget := int64(len(data)) - off
	for at := off + 1; at+frameHeaderBytes <= int64(len(data)); at++ {
		l.scan.headers++
		pos := framePos{seg.salt, seg.index, at}
		n, ok := checkFrameHeader(data[at:], pos)
		if !ok || int64(n) > int64(len(data))-at-frameHeaderBytes {
			continue
		}
		if int64(n) > budget {
			return errors.New("too many frame headers verify after it to tell a torn tail from damage")
		}
		budget -= int64(n)
		l.scan.payloadBytes += int(n)
		if _, _, err := decodeFrame(data[at:], pos); err == nil {
			return fmt.Errorf("a valid frame follows at offset %d", at)
		}
	}
	return nil
}

// appendSegmentHeader appends the header of seg to b:
//
//	magic (8) ‖ format version (4) ‖ salt (8) ‖ CRC-32C (4)
//
// The CRC covers the 20 bytes before it and the segment's index, so a
// segment renamed to another index does not verify.
func appendSegmentHeader(b []byte, seg segment) []byte {
	start := len(b)
	b = append(b, segmentMagic[:]...)
	b = binary.BigEndian.AppendUint32(b, FormatVersion)
	b = binary.BigEndian.AppendUint64(b, seg.salt)
	sum := crc32.Update(crc32.Checksum(b[start:], crcTable), crcTable, binary.BigEndian.AppendUint64(nil, seg.index))
	return binary.BigEndian.AppendUint32(b, sum)
}

// readSegmentHeader checks the header at the start of data and sets
// seg.salt. A segment without the magic, or of another version, is
// ErrFormat, with what the operator can do.
func readSegmentHeader(data []byte, seg *segment) error {
	if len(data) < len(segmentMagic) || [8]byte(data[:8]) != segmentMagic {
		return fmt.Errorf("%w: it has no format-%d header, so an older bafomet (format 1) or something else wrote it. "+
			"Its records cannot be read: stop the node, move the whole consensus log directory aside and start the node; "+
			"it then treats its records as lost and signs nothing until its peers vouch for the network's height "+
			"(docs/operations.md, \"Losing the data directory or the consensus log\")", ErrFormat, FormatVersion)
	}
	if len(data) < segmentHeaderBytes {
		return fmt.Errorf("%w: segment header cut short (%d bytes)", ErrCorrupt, len(data))
	}
	if v := binary.BigEndian.Uint32(data[8:]); v != FormatVersion {
		return fmt.Errorf("%w: format %d, this bafomet reads format %d: run the bafomet that wrote it, "+
			"or move the consensus log directory aside and start the node, which then treats its records as lost "+
			"(docs/operations.md, \"Losing the data directory or the consensus log\")", ErrFormat, v, FormatVersion)
	}
	salt := binary.BigEndian.Uint64(data[12:])
	want := appendSegmentHeader(nil, segment{index: seg.index, salt: salt})
	if got := data[:segmentHeaderBytes]; string(got) != string(want) {
		return fmt.Errorf("%w: segment header checksum %x, want %x", ErrCorrupt, got[20:], want[20:])
	}
	seg.salt = salt
	return nil
}

var (
	// errTorn marks a frame that runs past the end of the data: cut short
	// by a crash during its append.
	errTorn = errors.New("torn")
	// errMalformed marks a frame whose sums verify but whose records do
	// not parse: no torn write produces one.
	errMalformed = errors.New("malformed")
)

// appendFrame appends the frame holding recs, to be written at pos, to b:
//
//	frame:   payload length (4) ‖ header sum (4) ‖ payload sum (4) ‖ payload
//	payload: one or more of height (8) ‖ data length (4) ‖ data
//
// The header sum is the CRC-32C of salt (8) ‖ segment index (8) ‖ offset
// (8) ‖ payload length (4); the payload sum continues the header sum over
// the payload. All integers are big-endian.
func appendFrame(b []byte, pos framePos, recs []Record) []byte {
	start := len(b)
	b = append(b, make([]byte, frameHeaderBytes)...)
	for _, r := range recs {
		b = binary.BigEndian.AppendUint64(b, r.Height)
		b = binary.BigEndian.AppendUint32(b, uint32(len(r.Data)))
		b = append(b, r.Data...)
	}
	payload := b[start+frameHeaderBytes:]
	hs := headerSum(pos, uint32(len(payload)))
	binary.BigEndian.PutUint32(b[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(b[start+4:], hs)
	binary.BigEndian.PutUint32(b[start+8:], crc32.Update(hs, crcTable, payload))
	return b
}

// headerSum is the checksum binding a frame's length to where it is.
func headerSum(pos framePos, n uint32) uint32 {
	var b [28]byte
	binary.BigEndian.PutUint64(b[0:], pos.salt)
	binary.BigEndian.PutUint64(b[8:], pos.index)
	binary.BigEndian.PutUint64(b[16:], uint64(pos.offset))
	binary.BigEndian.PutUint32(b[24:], n)
	return crc32.Checksum(b[:], crcTable)
}

// checkFrameHeader returns the payload length of the frame header at the
// start of b and whether its sum verifies at pos. b must hold a header.
func checkFrameHeader(b []byte, pos framePos) (uint32, bool) {
	n := binary.BigEndian.Uint32(b)
	return n, headerSum(pos, n) == binary.BigEndian.Uint32(b[4:])
}

// decodeFrame decodes the frame written at pos whose bytes start b, and
// returns its records (their Data aliases b) and the frame's length. An
// error wrapping errTorn means the frame is cut short: b ends inside its
// header, or its verified header announces more bytes than b holds.
func decodeFrame(b []byte, pos framePos) ([]Record, int, error) {
	if len(b) < frameHeaderBytes {
		return nil, 0, fmt.Errorf("%w: frame header cut short (%d bytes)", errTorn, len(b))
	}
	n, ok := checkFrameHeader(b, pos)
	if !ok {
		return nil, 0, fmt.Errorf("frame header sum %08x does not verify here", binary.BigEndian.Uint32(b[4:]))
	}
	if uint64(n) > uint64(len(b)-frameHeaderBytes) {
		return nil, 0, fmt.Errorf("%w: frame payload of %d bytes runs past the end (%d left)", errTorn, n, len(b)-frameHeaderBytes)
	}
	payload := b[frameHeaderBytes : frameHeaderBytes+int(n)]
	want := binary.BigEndian.Uint32(b[8:])
	if sum := crc32.Update(binary.BigEndian.Uint32(b[4:]), crcTable, payload); sum != want {
		return nil, 0, fmt.Errorf("frame payload sum %08x, want %08x", sum, want)
	}
	if len(payload) == 0 {
		return nil, 0, fmt.Errorf("%w: frame holds no record", errMalformed)
	}
	var recs []Record
	for len(payload) > 0 {
		if len(payload) < recordHeaderBytes {
			return nil, 0, fmt.Errorf("%w: record header cut short (%d bytes)", errMalformed, len(payload))
		}
		h := binary.BigEndian.Uint64(payload)
		size := uint64(binary.BigEndian.Uint32(payload[8:]))
		payload = payload[recordHeaderBytes:]
		if size > uint64(len(payload)) {
			return nil, 0, fmt.Errorf("%w: record of %d bytes runs past its frame (%d left)", errMalformed, size, len(payload))
		}
		recs = append(recs, Record{Height: h, Data: payload[:size:size]})
		payload = payload[size:]
	}
	return recs, frameHeaderBytes + int(n), nil
}

// writeFileSynced writes data to a file it creates at path (flag adds
// os.O_EXCL or os.O_TRUNC) and syncs it.
func writeFileSynced(path string, data []byte, flag int) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|flag, 0o600)
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
