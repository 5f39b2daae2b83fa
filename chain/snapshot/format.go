// Package snapshot is the format of bafomet's state snapshots: the whole
// state at one stable-checkpoint height cut into deterministic chunks and
// described by a manifest, and the directory a node keeps its snapshots in.
//
// A snapshot of height h holds every state entry (chain.StateEntry: the
// nonce table under "n/" and the application's keys under "s/") in key
// order, cut into chunks of at most ChunkBytes of encoded entries. The cut
// depends on the state only, so two nodes with the same state at h write
// byte-identical chunks and manifests: a manifest reported identically by
// several validators is one manifest. The manifest names the height, the
// block hash and appHash there, and each chunk's hash; the appHash is
// what the stable checkpoint at h certifies, and the accumulator of all the
// chunks' entries must hash to it (chain.LtHash).
package snapshot

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain"
)

// Version is the snapshot format version, in every manifest.
const Version uint64 = 1

// Format limits. They are part of the format: every node cuts at
// ChunkBytes, and a decoder refuses anything beyond the maxima before it
// allocates for it.
const (
	// ChunkBytes is the most encoded entry bytes a chunk holds, unless
	// its one entry is larger by itself.
	ChunkBytes = 4 << 20
	// MaxEntryBytes bounds one encoded entry; a state with a larger
	// value cannot be snapshotted.
	MaxEntryBytes = 8 << 20
	// MaxChunkBytes bounds one encoded chunk.
	MaxChunkBytes = ChunkBytes + MaxEntryBytes
	// MaxChunks bounds the chunks of one snapshot (512 GiB of state).
	MaxChunks = 1 << 17
	// MaxChainIDBytes bounds the chain id a manifest names.
	MaxChainIDBytes = 256
	// MaxManifestBytes bounds an encoded manifest.
	MaxManifestBytes = MaxChunks*33 + MaxChainIDBytes + 1024
)

// Domain tags of the snapshot hashes.
const (
	domainManifest = "bafomet/snapshot-manifest/v1"
	domainChunk    = "bafomet/snapshot-chunk/v1"
)

// Decoding errors. Every decoding failure wraps ErrMalformed or
// ErrTooLarge.
var (
	ErrMalformed = errors.New("snapshot: malformed")
	ErrTooLarge  = errors.New("snapshot: too large")
)

// Manifest describes a snapshot. Its encoding is the RLP list of its
// fields.
type Manifest struct {
	Version   uint64
	ChainID   string
	Height    uint64     // the state is the one after this block
	BlockHash chain.Hash // the block at Height
	AppHash   chain.Hash // the appHash after Height
	Entries   uint64     // state entries in all chunks
	Bytes     uint64     // encoded bytes of all chunks
	Chunks    []chain.Hash
}

// Encode returns the canonical encoding of m.
func (m *Manifest) Encode() []byte {
	enc, err := rlp.EncodeToBytes(m)
	if err != nil {
		panic(fmt.Sprintf("snapshot: encoding manifest: %v", err))
	}
	return enc
}

// Hash returns the manifest's hash: Keccak256 of a domain tag and its
// encoding.
func (m *Manifest) Hash() chain.Hash {
	return crypto.Keccak256Hash([]byte(domainManifest), m.Encode())
}

// DecodeManifest decodes a manifest strictly: at most MaxManifestBytes of
// canonical RLP with nothing after it, the current version, a non-zero
// height, at most MaxChunks chunks (counted before they are decoded), and
// counts that agree (no chunks exactly when no entries, at least one entry
// per chunk, at most MaxChunkBytes per chunk).
func DecodeManifest(b []byte) (*Manifest, error) {
	if len(b) > MaxManifestBytes {
		return nil, fmt.Errorf("%w: manifest of %d bytes, limit %d", ErrTooLarge, len(b), MaxManifestBytes)
	}
	if err := checkManifestCount(b); err != nil {
		return nil, err
	}
	var m Manifest
	if err := rlp.DecodeBytes(b, &m); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrMalformed, err)
	}
	if !bytes.Equal(m.Encode(), b) {
		return nil, fmt.Errorf("%w: manifest is not canonical RLP", ErrMalformed)
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return &m, nil
}

func (m *Manifest) check() error {
	switch {
	case m.Version != Version:
		return fmt.Errorf("%w: manifest version %d, want %d", ErrMalformed, m.Version, Version)
	case m.Height == 0:
		return fmt.Errorf("%w: manifest at height 0", ErrMalformed)
	case len(m.ChainID) == 0 || len(m.ChainID) > MaxChainIDBytes:
		return fmt.Errorf("%w: manifest chain id of %d bytes", ErrMalformed, len(m.ChainID))
	case (len(m.Chunks) == 0) != (m.Entries == 0):
		return fmt.Errorf("%w: manifest with %d chunks and %d entries", ErrMalformed, len(m.Chunks), m.Entries)
	case uint64(len(m.Chunks)) > m.Entries:
		return fmt.Errorf("%w: manifest with %d chunks for %d entries", ErrMalformed, len(m.Chunks), m.Entries)
	case m.Bytes > uint64(len(m.Chunks))*MaxChunkBytes:
		return fmt.Errorf("%w: manifest with %d bytes in %d chunks", ErrMalformed, m.Bytes, len(m.Chunks))
	}
	return nil
}

// checkManifestCount counts the chunk hashes of an encoded manifest
// without decoding them.
func checkManifestCount(b []byte) error {
	content, rest, err := rlp.SplitList(b)
	if err != nil {
		return fmt.Errorf("%w: manifest: %v", ErrMalformed, err)
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d bytes after the manifest", ErrMalformed, len(rest))
	}
	for range 7 { // Version … Bytes
		if _, _, content, err = rlp.Split(content); err != nil {
			return fmt.Errorf("%w: manifest header: %v", ErrMalformed, err)
		}
	}
	list, _, err := rlp.SplitList(content)
	if err != nil {
		return fmt.Errorf("%w: manifest chunks: %v", ErrMalformed, err)
	}
	n, err := rlp.CountValues(list)
	if err != nil {
		return fmt.Errorf("%w: manifest chunks: %v", ErrMalformed, err)
	}
	if n > MaxChunks {
		return fmt.Errorf("%w: manifest with %d chunks, limit %d", ErrTooLarge, n, MaxChunks)
	}
	return nil
}

// ChunkHash returns the hash a manifest names for an encoded chunk.
func ChunkHash(chunk []byte) chain.Hash {
	return crypto.Keccak256Hash([]byte(domainChunk), chunk)
}

// entry is a state entry's encoding: the RLP list [key, value].
type entry struct {
	Key   []byte
	Value []byte
}

// entrySize returns the encoded size of one entry.
func entrySize(e chain.StateEntry) int {
	return rlpListSize(rlpStringSize(e.Key) + rlpStringSize(e.Value))
}

func rlpStringSize(b []byte) int {
	if len(b) == 1 && b[0] < 0x80 {
		return 1
	}
	return rlpHeaderSize(len(b)) + len(b)
}

func rlpListSize(content int) int { return rlpHeaderSize(content) + content }

func rlpHeaderSize(n int) int {
	if n < 56 {
		return 1
	}
	size := 1
	for ; n > 0; n >>= 8 {
		size++
	}
	return size
}

// EncodeChunk returns the encoding of entries: the RLP list of [key,
// value] lists.
func EncodeChunk(entries []chain.StateEntry) []byte {
	list := make([]entry, len(entries))
	for i, e := range entries {
		list[i] = entry{Key: e.Key, Value: e.Value}
	}
	enc, err := rlp.EncodeToBytes(list)
	if err != nil {
		panic(fmt.Sprintf("snapshot: encoding chunk: %v", err))
	}
	return enc
}

// DecodeChunk decodes a chunk strictly: at most MaxChunkBytes of canonical
// RLP with nothing after it, at least one entry, keys in strictly
// increasing order, and every entry a valid state entry
// (chain.CheckStateEntry).
func DecodeChunk(b []byte) ([]chain.StateEntry, error) {
	if len(b) > MaxChunkBytes {
		return nil, fmt.Errorf("%w: chunk of %d bytes, limit %d", ErrTooLarge, len(b), MaxChunkBytes)
	}
	var list []entry
	if err := rlp.DecodeBytes(b, &list); err != nil {
		return nil, fmt.Errorf("%w: chunk: %v", ErrMalformed, err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%w: empty chunk", ErrMalformed)
	}
	out := make([]chain.StateEntry, len(list))
	for i, e := range list {
		out[i] = chain.StateEntry{Key: e.Key, Value: e.Value}
		if i > 0 && bytes.Compare(list[i-1].Key, e.Key) >= 0 {
			return nil, fmt.Errorf("%w: chunk entry %d is not after entry %d", ErrMalformed, i, i-1)
		}
		if err := chain.CheckStateEntry(out[i]); err != nil {
			return nil, fmt.Errorf("%w: chunk entry %d: %v", ErrMalformed, i, err)
		}
	}
	if !bytes.Equal(EncodeChunk(out), b) {
		return nil, fmt.Errorf("%w: chunk is not canonical RLP", ErrMalformed)
	}
	return out, nil
}

// Chunker cuts a key-ordered stream of state entries into chunks: the
// same entries always give the same chunks.
type Chunker struct {
	emit    func(chunk []byte, entries int) error
	pending []chain.StateEntry
	size    int
}

// NewChunker returns a chunker that passes each finished chunk, encoded,
// to emit.
func NewChunker(emit func(chunk []byte, entries int) error) *Chunker {
	return &Chunker{emit: emit}
}

// Add adds the next entry (copied), emitting the chunk before it when the
// entry would take that chunk past ChunkBytes.
func (c *Chunker) Add(e chain.StateEntry) error {
	n := entrySize(e)
	if n > MaxEntryBytes {
		return fmt.Errorf("%w: state entry %q of %d bytes, limit %d", ErrTooLarge, truncate(e.Key), n, MaxEntryBytes)
	}
	if len(c.pending) > 0 && c.size+n > ChunkBytes {
		if err := c.Flush(); err != nil {
			return err
		}
	}
	c.pending = append(c.pending, chain.StateEntry{Key: bytes.Clone(e.Key), Value: bytes.Clone(e.Value)})
	c.size += n
	return nil
}

// Flush emits the pending entries as a chunk, if there are any.
func (c *Chunker) Flush() error {
	if len(c.pending) == 0 {
		return nil
	}
	chunk, n := EncodeChunk(c.pending), len(c.pending)
	c.pending, c.size = c.pending[:0], 0
	return c.emit(chunk, n)
}

func truncate(k []byte) []byte {
	if len(k) > 32 {
		return k[:32]
	}
	return k
}

// LtHashOf returns the accumulator of a chunk's entries.
func LtHashOf(entries []chain.StateEntry) *chain.LtHash {
	var lt chain.LtHash
	for _, e := range entries {
		lt.Add(e.Key, e.Value)
	}
	return &lt
}
