package snapshot

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/bafomet/bafomet/chain"
)

// The export file holds one snapshot — its manifest, its stable
// checkpoint proof and every chunk — as one stream, for backups and for
// carrying a snapshot between machines (bafomet snapshot export, import,
// verify; docs/operations.md, "Snapshot files"). It is written and read
// front to back, holding at most one chunk in memory:
//
//	header   "bafomet-snapshot\n" (17 bytes), format version (4 bytes, big-endian)
//	section  tag (1 byte), payload length (4 bytes, big-endian), payload
//	         'M' the encoded manifest      1 … MaxManifestBytes
//	         'P' the checkpoint proof      1 … MaxProofBytes
//	         'C' chunk i, once per chunk   1 … MaxChunkBytes, in manifest order
//	trailer  'E', length 32, SHA-256 of every byte before the trailer's tag
//
// and nothing after the trailer. A reader checks each length against its
// limit before it reads the payload, each chunk against the manifest's
// hash, and the whole state against the manifest's appHash; the checksum
// catches damage that decoding alone would let through.

// ExportMagic starts every export file.
const ExportMagic = "bafomet-snapshot\n"

// ExportVersion is the export file format version.
const ExportVersion uint32 = 1

// Section tags of the export file.
const (
	tagManifest = 'M'
	tagProof    = 'P'
	tagChunk    = 'C'
	tagTrailer  = 'E'
)

const (
	exportHeaderBytes = len(ExportMagic) + 4
	sectionHeadBytes  = 1 + 4
	trailerBytes      = sha256.Size
)

// Export errors. ErrTruncated wraps ErrMalformed.
var (
	ErrTruncated = fmt.Errorf("%w: export file truncated", ErrMalformed)
	// ErrNotStable means a snapshot has no checkpoint proof yet: the
	// checkpoint at its height is not stable, and it cannot be exported.
	ErrNotStable = errors.New("snapshot: checkpoint not yet stable")
)

// sectionName names a section by its tag, with an article.
func sectionName(tag byte) string {
	switch tag {
	case tagManifest:
		return "a manifest"
	case tagProof:
		return "a checkpoint proof"
	case tagChunk:
		return "a chunk"
	case tagTrailer:
		return "the trailer"
	}
	return fmt.Sprintf("an unknown section %q", tag)
}

// ExportWriter writes an export file. Create it with NewExportWriter,
// call WriteChunk for every chunk in order, then Close.
type ExportWriter struct {
	w    *bufio.Writer
	sum  hash.Hash
	m    *Manifest
	next int // the next chunk's index
	err  error
}

// NewExportWriter writes the header, the manifest and the checkpoint
// proof of a snapshot to w. manifest must decode (DecodeManifest) and
// proof must not be empty.
func NewExportWriter(w io.Writer, manifest, proof []byte) (*ExportWriter, error) {
	m, err := DecodeManifest(manifest)
	if err != nil {
		return nil, err
	}
	if len(proof) == 0 {
		return nil, fmt.Errorf("%w: at height %d", ErrNotStable, m.Height)
	}
	if len(proof) > MaxProofBytes {
		return nil, fmt.Errorf("%w: proof of %d bytes, limit %d", ErrTooLarge, len(proof), MaxProofBytes)
	}
	sum := sha256.New()
	x := &ExportWriter{w: bufio.NewWriterSize(io.MultiWriter(w, sum), 1<<16), sum: sum, m: m}
	var head [exportHeaderBytes]byte
	copy(head[:], ExportMagic)
	binary.BigEndian.PutUint32(head[len(ExportMagic):], ExportVersion)
	x.write(head[:])
	x.section(tagManifest, manifest)
	x.section(tagProof, proof)
	return x, x.err
}

func (x *ExportWriter) write(b []byte) {
	if x.err == nil {
		_, x.err = x.w.Write(b)
	}
}

func (x *ExportWriter) section(tag byte, payload []byte) {
	var head [sectionHeadBytes]byte
	head[0] = tag
	binary.BigEndian.PutUint32(head[1:], uint32(len(payload)))
	x.write(head[:])
	x.write(payload)
}

// Manifest returns the manifest being written.
func (x *ExportWriter) Manifest() *Manifest { return x.m }

// WriteChunk writes the next chunk, which must have the hash the manifest
// names for it.
func (x *ExportWriter) WriteChunk(chunk []byte) error {
	if x.err != nil {
		return x.err
	}
	if x.next >= len(x.m.Chunks) {
		return fmt.Errorf("snapshot export: chunk %d beyond the manifest's %d", x.next, len(x.m.Chunks))
	}
	if len(chunk) == 0 || len(chunk) > MaxChunkBytes {
		return fmt.Errorf("%w: chunk %d of %d bytes, limit %d", ErrTooLarge, x.next, len(chunk), MaxChunkBytes)
	}
	if ChunkHash(chunk) != x.m.Chunks[x.next] {
		return fmt.Errorf("%w: chunk %d of the snapshot at %d does not match its manifest", ErrMalformed, x.next, x.m.Height)
	}
	x.section(tagChunk, chunk)
	x.next++
	return x.err
}

// Close writes the trailer once every chunk is written, and flushes. It
// does not close the underlying writer.
func (x *ExportWriter) Close() error {
	if x.err != nil {
		return x.err
	}
	if x.next != len(x.m.Chunks) {
		return fmt.Errorf("snapshot export: %d of %d chunks written", x.next, len(x.m.Chunks))
	}
	if x.err = x.w.Flush(); x.err != nil {
		return x.err
	}
	x.section(tagTrailer, x.sum.Sum(nil))
	if x.err == nil {
		x.err = x.w.Flush()
	}
	return x.err
}

// ExportReader reads an export file strictly. NewExportReader reads the
// header, the manifest and the proof; Next returns the chunks in order
// and io.EOF once the last chunk, the whole state and the trailer have
// been checked. Every failure to decode wraps ErrMalformed (ErrTruncated
// for a file that ends early) or ErrTooLarge; a failure of the underlying
// reader is returned wrapped as it is.
type ExportReader struct {
	raw      *bufio.Reader
	r        io.Reader // raw, hashing every byte read through it into sum
	sum      hash.Hash
	m        *Manifest
	manifest []byte
	proof    []byte
	buf      bytes.Buffer
	next     int
	lastKey  []byte
	entries  uint64
	bytes    uint64
	lt       chain.LtHash
	done     bool
}

// NewExportReader reads the start of an export file from r: the header,
// the manifest (DecodeManifest) and the checkpoint proof (not decoded:
// its format is the ordering package's).
func NewExportReader(r io.Reader) (*ExportReader, error) {
	raw, sum := bufio.NewReaderSize(r, 1<<16), sha256.New()
	x := &ExportReader{raw: raw, r: io.TeeReader(raw, sum), sum: sum}
	var head [exportHeaderBytes]byte
	if n, err := io.ReadFull(x.r, head[:]); err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: empty file", ErrTruncated)
		}
		if n > 0 && !bytes.HasPrefix([]byte(ExportMagic), head[:min(n, len(ExportMagic))]) {
			return nil, fmt.Errorf("%w: not a bafomet snapshot file (no %q header)", ErrMalformed, ExportMagic[:len(ExportMagic)-1])
		}
		return nil, x.readErr("the file header", len(head), n, err)
	}
	if string(head[:len(ExportMagic)]) != ExportMagic {
		return nil, fmt.Errorf("%w: not a bafomet snapshot file (no %q header)", ErrMalformed, ExportMagic[:len(ExportMagic)-1])
	}
	if v := binary.BigEndian.Uint32(head[len(ExportMagic):]); v != ExportVersion {
		return nil, fmt.Errorf("%w: snapshot file format version %d, this bafomet reads version %d", ErrMalformed, v, ExportVersion)
	}
	b, err := x.section(tagManifest, MaxManifestBytes)
	if err != nil {
		return nil, err
	}
	x.manifest = bytes.Clone(b)
	if x.m, err = DecodeManifest(x.manifest); err != nil {
		return nil, err
	}
	if b, err = x.section(tagProof, MaxProofBytes); err != nil {
		return nil, err
	}
	x.proof = bytes.Clone(b)
	return x, nil
}

// readErr describes a failed read of what, want bytes of which got were read.
func (x *ExportReader) readErr(what string, want, got int, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: the file ends inside %s (%d of %d bytes)", ErrTruncated, what, got, want)
	}
	return fmt.Errorf("read snapshot file: %s: %w", what, err)
}

// section reads the next section, which must be tagged want, into x.buf,
// and returns its payload (valid until the next call). It checks the
// length against limit before it reads the payload, and reads it as it
// arrives, so a length that promises more than the file holds allocates
// no more than the file holds.
func (x *ExportReader) section(want byte, limit int) ([]byte, error) {
	var head [sectionHeadBytes]byte
	if n, err := io.ReadFull(x.r, head[:]); err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the file ends where %s should start", ErrTruncated, x.expect(want))
		}
		return nil, x.readErr("the section header of "+x.expect(want), len(head), n, err)
	}
	if head[0] != want {
		return nil, fmt.Errorf("%w: found %s where %s should be", ErrMalformed, sectionName(head[0]), x.expect(want))
	}
	n := binary.BigEndian.Uint32(head[1:])
	switch {
	case n > uint32(limit):
		return nil, fmt.Errorf("%w: %s of %d bytes, limit %d", ErrTooLarge, x.expect(want), n, limit)
	case n == 0:
		return nil, fmt.Errorf("%w: %s is empty", ErrMalformed, x.expect(want))
	}
	x.buf.Reset()
	got, err := io.CopyN(&x.buf, x.r, int64(n))
	if err != nil {
		return nil, x.readErr(x.expect(want), int(n), int(got), err)
	}
	return x.buf.Bytes(), nil
}

// expect names the section a tag stands for at this point of the file.
func (x *ExportReader) expect(tag byte) string {
	switch tag {
	case tagChunk:
		return fmt.Sprintf("chunk %d (of %d, numbered from 0)", x.next, len(x.m.Chunks))
	case tagManifest:
		return "the manifest"
	case tagProof:
		return "the checkpoint proof"
	}
	return "the trailer"
}

// Manifest returns the file's manifest.
func (x *ExportReader) Manifest() *Manifest { return x.m }

// ManifestBytes returns the file's encoded manifest.
func (x *ExportReader) ManifestBytes() []byte { return x.manifest }

// Proof returns the file's checkpoint proof, as written.
func (x *ExportReader) Proof() []byte { return x.proof }

// LtHash returns the accumulator of the entries of the chunks read so
// far; after Next returned io.EOF it hashes to the manifest's appHash.
func (x *ExportReader) LtHash() *chain.LtHash {
	lt := x.lt
	return &lt
}

// Next returns the next chunk, encoded and decoded: its hash is the one
// the manifest names, it decodes (DecodeChunk), and its first key is after
// the previous chunk's last key. The encoded chunk is valid until the next
// call. After the last chunk Next checks the entry and byte counts, that
// the entries of all chunks hash to the manifest's appHash, the trailer's
// checksum and that nothing follows it, and returns io.EOF.
func (x *ExportReader) Next() ([]byte, []chain.StateEntry, error) {
	if x.done {
		return nil, nil, io.EOF
	}
	if x.next == len(x.m.Chunks) {
		if err := x.finish(); err != nil {
			return nil, nil, err
		}
		x.done = true
		return nil, nil, io.EOF
	}
	b, err := x.section(tagChunk, MaxChunkBytes)
	if err != nil {
		return nil, nil, err
	}
	i := x.next
	if ChunkHash(b) != x.m.Chunks[i] {
		return nil, nil, fmt.Errorf("%w: chunk %d does not match its hash in the manifest (damaged file)", ErrMalformed, i)
	}
	es, err := DecodeChunk(b)
	if err != nil {
		return nil, nil, fmt.Errorf("chunk %d: %w", i, err)
	}
	if x.lastKey != nil && bytes.Compare(x.lastKey, es[0].Key) >= 0 {
		return nil, nil, fmt.Errorf("%w: chunk %d does not start after the end of chunk %d", ErrMalformed, i, i-1)
	}
	x.lastKey = bytes.Clone(es[len(es)-1].Key)
	x.entries += uint64(len(es))
	x.bytes += uint64(len(b))
	if x.entries > x.m.Entries || x.bytes > x.m.Bytes {
		return nil, nil, fmt.Errorf("%w: chunks 0 to %d hold %d entries in %d bytes, the manifest %d in %d",
			ErrMalformed, i, x.entries, x.bytes, x.m.Entries, x.m.Bytes)
	}
	x.lt.Combine(LtHashOf(es))
	x.next++
	return b, es, nil
}

// finish checks the state against the manifest and reads the trailer.
func (x *ExportReader) finish() error {
	if x.entries != x.m.Entries || x.bytes != x.m.Bytes {
		return fmt.Errorf("%w: the chunks hold %d entries in %d bytes, the manifest names %d in %d",
			ErrMalformed, x.entries, x.bytes, x.m.Entries, x.m.Bytes)
	}
	if got := x.lt.AppHash(); got != x.m.AppHash {
		return fmt.Errorf("%w: the entries hash to appHash %s, the manifest names %s", ErrMalformed, got, x.m.AppHash)
	}
	want := x.sum.Sum(nil) // of every byte before the trailer
	b, err := x.section(tagTrailer, trailerBytes)
	if err != nil {
		return err
	}
	if len(b) != trailerBytes || !bytes.Equal(b, want) {
		return fmt.Errorf("%w: the checksum in the trailer does not match the file (damaged file)", ErrMalformed)
	}
	if _, err := x.raw.ReadByte(); err == nil {
		return fmt.Errorf("%w: bytes after the trailer", ErrMalformed)
	} else if !errors.Is(err, io.EOF) {
		return fmt.Errorf("read snapshot file: %w", err)
	}
	return nil
}

// OpenDirReadOnly opens an existing snapshot directory for reading by a
// process other than the node that writes it (bafomet snapshot export,
// list): unlike OpenDir it creates nothing and leaves the node's
// temporaries alone.
func OpenDirReadOnly(path string) (*Dir, error) {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: no snapshot directory %s", ErrNotFound, path)
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot dir %s: %w", path, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("snapshot dir %s: not a directory", path)
	}
	return &Dir{path: path}, nil
}

// Export writes the snapshot at h, with its checkpoint proof, to w as an
// export file, and returns its manifest. It fails with ErrNotStable when
// the snapshot has no proof yet, and with ErrNotFound when there is no
// snapshot at h or it is pruned while Export reads it. It checks every
// chunk against the manifest as it copies it.
func (d *Dir) Export(w io.Writer, h uint64) (*Manifest, error) {
	manifest, err := d.ManifestBytes(h)
	if err != nil {
		return nil, fmt.Errorf("snapshot at %d: %w", h, err)
	}
	proof, err := d.Proof(h)
	if errors.Is(err, ErrNotFound) {
		if _, merr := d.ManifestBytes(h); merr == nil { // still there: no proof yet
			err = ErrNotStable
		}
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot at %d: %w", h, err)
	}
	x, err := NewExportWriter(w, manifest, proof)
	if err != nil {
		return nil, fmt.Errorf("snapshot at %d: %w", h, err)
	}
	for i := range x.Manifest().Chunks {
		chunk, err := d.Chunk(h, i)
		if err == nil {
			err = x.WriteChunk(chunk)
		}
		if err != nil {
			return nil, fmt.Errorf("snapshot at %d: chunk %d: %w", h, i, err)
		}
	}
	if err := x.Close(); err != nil {
		return nil, fmt.Errorf("snapshot at %d: %w", h, err)
	}
	return x.Manifest(), nil
}
