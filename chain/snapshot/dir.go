package snapshot

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/internal/fsync"
)

// Files of one snapshot, in its own directory named by its height (20
// decimal digits) inside a Dir.
const (
	manifestFile = "manifest"
	proofFile    = "checkpoint"
	chunkSuffix  = ".chunk"
	tmpSuffix    = ".tmp"
)

// ErrNotFound means the Dir has no such snapshot, chunk or proof.
var ErrNotFound = errors.New("snapshot: not found")

// Dir is a directory of snapshots. A snapshot appears in it only whole: it
// is written under a temporary name and renamed once every file is synced.
// Its methods are safe to call from several goroutines and processes; a
// reader of a snapshot that Prune removes meanwhile gets ErrNotFound.
type Dir struct{ path string }

// OpenDir opens (creating) a snapshot directory and removes what an
// interrupted Write left.
func OpenDir(path string) (*Dir, error) {
	if err := fsync.MkdirSynced(path); err != nil {
		return nil, fmt.Errorf("snapshot dir %s: %w", path, err)
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("snapshot dir %s: %w", path, err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), tmpSuffix) {
			if err := os.RemoveAll(filepath.Join(path, e.Name())); err != nil {
				return nil, fmt.Errorf("snapshot dir %s: %w", path, err)
			}
		}
	}
	return &Dir{path: path}, nil
}

// Path returns the directory's path.
func (d *Dir) Path() string { return d.path }

func heightName(h uint64) string { return fmt.Sprintf("%020d", h) }

func (d *Dir) snapPath(h uint64) string { return filepath.Join(d.path, heightName(h)) }

func chunkName(i int) string { return fmt.Sprintf("%06d%s", i, chunkSuffix) }

// Heights returns the heights of the whole snapshots in the directory,
// lowest first.
func (d *Dir) Heights() ([]uint64, error) {
	ents, err := os.ReadDir(d.path)
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	var hs []uint64
	for _, e := range ents {
		if !e.IsDir() || len(e.Name()) != 20 {
			continue
		}
		h, err := strconv.ParseUint(e.Name(), 10, 64)
		if err != nil {
			continue
		}
		hs = append(hs, h)
	}
	slices.Sort(hs)
	return hs, nil
}

func readFile(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, path)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > int64(limit) {
		return nil, fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, path, st.Size(), limit)
	}
	b := make([]byte, st.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// ManifestBytes returns the encoded manifest of the snapshot at h.
func (d *Dir) ManifestBytes(h uint64) ([]byte, error) {
	return readFile(filepath.Join(d.snapPath(h), manifestFile), MaxManifestBytes)
}

// Manifest returns the decoded manifest of the snapshot at h.
func (d *Dir) Manifest(h uint64) (*Manifest, error) {
	b, err := d.ManifestBytes(h)
	if err != nil {
		return nil, err
	}
	return DecodeManifest(b)
}

// Chunk returns chunk i of the snapshot at h, as written: the caller that
// needs it checked compares its ChunkHash with the manifest.
func (d *Dir) Chunk(h uint64, i int) ([]byte, error) {
	if i < 0 || i >= MaxChunks {
		return nil, fmt.Errorf("%w: chunk %d", ErrNotFound, i)
	}
	return readFile(filepath.Join(d.snapPath(h), chunkName(i)), MaxChunkBytes)
}

// MaxProofBytes bounds a stored checkpoint proof.
const MaxProofBytes = 1 << 20

// Proof returns the stable checkpoint proof stored with the snapshot at
// h, or ErrNotFound while the checkpoint is not yet stable.
func (d *Dir) Proof(h uint64) ([]byte, error) {
	return readFile(filepath.Join(d.snapPath(h), proofFile), MaxProofBytes)
}

// SetProof stores the stable checkpoint proof of the snapshot at h. It
// does nothing when there is no such snapshot.
func (d *Dir) SetProof(h uint64, proof []byte) error {
	dir := d.snapPath(h)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if len(proof) > MaxProofBytes {
		return fmt.Errorf("%w: proof of %d bytes, limit %d", ErrTooLarge, len(proof), MaxProofBytes)
	}
	if err := writeSynced(filepath.Join(dir, proofFile+tmpSuffix), proof); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(dir, proofFile+tmpSuffix), filepath.Join(dir, proofFile)); err != nil {
		return fmt.Errorf("store snapshot proof %d: %w", h, err)
	}
	return fsync.SyncDir(dir)
}

// Prune removes all but the keep newest snapshots (keep ≥ 1).
func (d *Dir) Prune(keep int) error {
	hs, err := d.Heights()
	if err != nil {
		return err
	}
	for len(hs) > max(keep, 1) {
		if err := os.RemoveAll(d.snapPath(hs[0])); err != nil {
			return fmt.Errorf("prune snapshot %d: %w", hs[0], err)
		}
		hs = hs[1:]
	}
	return fsync.SyncDir(d.path)
}

// Remove deletes the snapshot at h.
func (d *Dir) Remove(h uint64) error {
	if err := os.RemoveAll(d.snapPath(h)); err != nil {
		return fmt.Errorf("remove snapshot %d: %w", h, err)
	}
	return fsync.SyncDir(d.path)
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return f.Close()
}

// Write writes the state r reads as the snapshot at r's height, and
// returns its manifest. blockHash is the hash of the block at that height.
// Nothing is visible in the Dir until the whole snapshot is on disk; a
// snapshot already there at that height is kept and returned.
func (d *Dir) Write(r *chain.StateRead, chainID string, blockHash chain.Hash) (*Manifest, error) {
	h := r.Height()
	if m, err := d.Manifest(h); err == nil {
		return m, nil
	}
	tmp := d.snapPath(h) + tmpSuffix
	if err := os.RemoveAll(tmp); err != nil {
		return nil, err
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("write snapshot %d: %w", h, err)
	}
	m := &Manifest{Version: Version, ChainID: chainID, Height: h, BlockHash: blockHash, AppHash: r.AppHash()}
	ck := NewChunker(func(chunk []byte, entries int) error {
		if len(m.Chunks) >= MaxChunks {
			return fmt.Errorf("%w: more than %d chunks", ErrTooLarge, MaxChunks)
		}
		if err := writeSynced(filepath.Join(tmp, chunkName(len(m.Chunks))), chunk); err != nil {
			return err
		}
		m.Chunks = append(m.Chunks, ChunkHash(chunk))
		m.Entries += uint64(entries)
		m.Bytes += uint64(len(chunk))
		return nil
	})
	err := r.Each(ck.Add)
	if err == nil {
		err = ck.Flush()
	}
	if err == nil {
		err = writeSynced(filepath.Join(tmp, manifestFile), m.Encode())
	}
	if err == nil {
		err = fsync.SyncDir(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, d.snapPath(h))
	}
	if err == nil {
		err = fsync.SyncDir(d.path)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("write snapshot %d: %w", h, err)
	}
	return m, nil
}
