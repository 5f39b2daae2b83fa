package chain

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/ethereum/go-ethereum/common"
)

// The state is exactly the entries under these two namespaces; a state
// entry's key is its Badger key, namespace included (StateEntry).
var stateNamespaces = []string{prefixNonce, prefixState} // in key order: "n/" < "s/"

// StateEntry is one entry of the state as snapshots carry it: Key is the
// namespaced key ("s/" + application key, or "n/" + 20-byte address) and
// Value its value (an 8-byte big-endian next nonce under "n/").
type StateEntry struct {
	Key   []byte
	Value []byte
}

// CheckStateEntry reports whether e can be part of a state: a key under
// "s/" of 1 to MaxStateKeyBytes application bytes, or under "n/" naming a
// 20-byte address with an 8-byte nonce.
func CheckStateEntry(e StateEntry) error {
	switch {
	case bytes.HasPrefix(e.Key, []byte(prefixState)):
		return checkStateKey(e.Key[len(prefixState):])
	case bytes.HasPrefix(e.Key, []byte(prefixNonce)):
		if len(e.Key) != len(prefixNonce)+len(Address{}) || len(e.Value) != 8 {
			return fmt.Errorf("nonce entry with a %d-byte key and a %d-byte value, want %d and 8",
				len(e.Key), len(e.Value), len(prefixNonce)+len(Address{}))
		}
		return nil
	default:
		return fmt.Errorf("state entry key %q is under neither %q nor %q", truncKey(e.Key), prefixState, prefixNonce)
	}
}

func truncKey(k []byte) []byte {
	if len(k) > 16 {
		return k[:16]
	}
	return k
}

// StateRead is a consistent read of the whole state at one committed
// height: a Badger read transaction, so commits carry on while it is
// read. Close it when done; it is for one goroutine.
type StateRead struct {
	txn     *badger.Txn
	height  uint64
	appHash Hash
}

// OpenStateRead returns a read of the state at the latest committed
// height. A caller that must read the state at an exact height opens it
// right after that height's commit, before the next one can start.
func (s *Store) OpenStateRead() (*StateRead, error) {
	txn := s.db.NewTransaction(false)
	h, err := readHeight(txn)
	if err != nil {
		txn.Discard()
		return nil, fmt.Errorf("open state read: %w", err)
	}
	ah, err := getValue(txn, heightKey(prefixAppHash, h))
	if err != nil {
		txn.Discard()
		return nil, fmt.Errorf("open state read: appHash at %d: %w", h, err)
	}
	return &StateRead{txn: txn, height: h, appHash: common.BytesToHash(ah)}, nil
}

// Height is the committed height the read sees.
func (r *StateRead) Height() uint64 { return r.height }

// AppHash is the appHash of the state the read sees.
func (r *StateRead) AppHash() Hash { return r.appHash }

// Each calls fn for every state entry in key order (nonces, then
// application keys). fn must not keep the slices it is given.
func (r *StateRead) Each(fn func(e StateEntry) error) error {
	for _, ns := range stateNamespaces {
		it := r.txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 256, Prefix: []byte(ns)})
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			err := item.Value(func(v []byte) error {
				return fn(StateEntry{Key: item.Key(), Value: v})
			})
			if err != nil {
				it.Close()
				return err
			}
		}
		it.Close()
	}
	return nil
}

// Close releases the read.
func (r *StateRead) Close() { r.txn.Discard() }

// Errors of a state import.
var (
	// ErrImportNotEmpty means the store already holds a chain: a state
	// import only fills an empty store.
	ErrImportNotEmpty = errors.New("state import needs an empty store")
	// ErrImportAppHash means the imported entries do not hash to the
	// appHash they were imported for.
	ErrImportAppHash = errors.New("imported state does not match the appHash")
)

// ImportStateEntries writes state entries into an empty store (one that
// has no genesis state and no block). Entries may come in any order and in
// any number of calls; writing an entry again overwrites it. Nothing of the
// import is part of a chain until FinishStateImport. It checks every entry
// with CheckStateEntry first and writes nothing when one fails.
func (s *Store) ImportStateEntries(entries []StateEntry) error {
	if s.committed.initialized.Load() {
		return ErrImportNotEmpty
	}
	for _, e := range entries {
		if err := CheckStateEntry(e); err != nil {
			return err
		}
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, e := range entries {
		if err := wb.Set(bytes.Clone(e.Key), bytes.Clone(e.Value)); err != nil {
			return fmt.Errorf("import state entries: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("import state entries: %w", err)
	}
	return s.badger.sync()
}

// StateImportHead is what makes an imported state a chain: the height it
// is the state after, that height's block hash and appHash, the
// accumulator of the imported entries, and the stable checkpoint proof
// that certifies height, block hash and appHash (opaque here, stored as
// PutCheckpoint stores it).
type StateImportHead struct {
	Height     uint64
	BlockHash  Hash
	AppHash    Hash
	LtHash     *LtHash
	Checkpoint []byte
}

// FinishStateImport commits, in one synced Badger transaction, the head of
// an imported state: the height, the accumulator, the appHash at the
// height, the block hash's height (so the next block's parent check
// passes), the checkpoint proof, and the earliest height the store holds a
// block for (Height + 1: it holds no block at or below the snapshot). It
// fails with ErrImportAppHash, writing nothing, unless the accumulator
// hashes to AppHash. The caller must have imported every entry the
// accumulator covers. After it the store takes blocks from Height + 1.
func (s *Store) FinishStateImport(h StateImportHead) error {
	if h.Height == 0 || h.LtHash == nil {
		return fmt.Errorf("finish state import: height %d without an accumulator", h.Height)
	}
	if got := h.LtHash.AppHash(); got != h.AppHash {
		return fmt.Errorf("%w: entries hash to %s, want %s at height %d", ErrImportAppHash, got, h.AppHash, h.Height)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.committed.initialized.Load() {
		return ErrImportNotEmpty
	}
	err := s.db.Update(func(txn *badger.Txn) error {
		for _, kv := range []struct{ k, v []byte }{
			{keyLtHash, h.LtHash.Bytes()},
			{heightKey(prefixAppHash, h.Height), h.AppHash[:]},
			{prefixed(prefixBlockHash, h.BlockHash[:]), binary.BigEndian.AppendUint64(nil, h.Height)},
			{heightKey(prefixCheckpoint, h.Height), h.Checkpoint},
			{keyEarliest, binary.BigEndian.AppendUint64(nil, h.Height+1)},
			{keyHeight, binary.BigEndian.AppendUint64(nil, h.Height)},
		} {
			if err := txn.Set(kv.k, kv.v); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = s.badger.sync()
	}
	if err != nil {
		return fmt.Errorf("finish state import at %d: %w", h.Height, err)
	}
	s.committed.earliest.Store(h.Height + 1)
	s.committed.commit(h.Height, nil)
	return nil
}

// CopyMeta copies every metadata entry (u/ keys: chain identity, the
// consensus log's markers) of src into s, replacing those s has.
func (s *Store) CopyMeta(src *Store) error {
	var kvs []StateEntry
	err := src.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: []byte(prefixMeta)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			kvs = append(kvs, StateEntry{Key: it.Item().KeyCopy(nil), Value: v})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("copy metadata: %w", err)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	err = s.db.Update(func(txn *badger.Txn) error {
		for _, kv := range kvs {
			if err := txn.Set(kv.Key, kv.Value); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = s.badger.sync()
	}
	if err != nil {
		return fmt.Errorf("copy metadata: %w", err)
	}
	return nil
}

// keyEarliest holds the lowest height whose block the store holds, 8 bytes
// big-endian; absent means 1 (a store that grew from genesis). Prune
// raises it in the transaction that deletes the heights below it.
var keyEarliest = []byte("m/earliest")
