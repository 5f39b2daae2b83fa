package chain

import (
	"encoding/binary"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/ethereum/go-ethereum/rlp"
)

// PutLegacyRecord writes a consensus record as versions before the
// consensus log stored them: p/<seq> → height ‖ data.
func PutLegacyRecord(s *Store, seq, height uint64, data []byte) error {
	return s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(heightKey(prefixRecord, seq), append(binary.BigEndian.AppendUint64(nil, height), data...))
	})
}

// SetBeforeCommit installs a hook that runs at each stage of a commit
// ("executed", "state", "block", "index", "blockfile", "commit"); an error from it
// aborts the Badger transaction as a crash before commit would.
func (e *Executor) SetBeforeCommit(fn func(stage string) error) { e.beforeCommit = fn }

// CommitStages lists the stages SetBeforeCommit's hook sees for a block.
var CommitStages = []string{"executed", "state", "block", "index", "blockfile", "commit"}

// PutInlineBlock stores block and receipts RLP under b/<height> and
// r/<height> themselves, as versions before the block file did.
func PutInlineBlock(s *Store, height uint64, block, receipts []byte) error {
	return s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(heightKey(prefixBlock, height), block); err != nil {
			return err
		}
		return txn.Set(heightKey(prefixReceipts, height), receipts)
	})
}

// TxRecordBytes returns the t/ value stored for the transaction h.
func TxRecordBytes(s *Store, h Hash) ([]byte, error) {
	return s.get(prefixed(prefixTx, h[:]))
}

// PutLegacyTxRecord stores rec for h as versions before the slim
// transaction index did: [height, index, receipt].
func PutLegacyTxRecord(s *Store, h Hash, rec TxRecord) error {
	enc, err := rlp.EncodeToBytes(&rec)
	if err != nil {
		return err
	}
	return s.db.Update(func(txn *badger.Txn) error { return txn.Set(prefixed(prefixTx, h[:]), enc) })
}

// SetSyncStoreDir replaces how the store syncs its Badger directory, for
// the test's duration.
func SetSyncStoreDir(t interface{ Cleanup(func()) }, f func(dir string) error) {
	old := syncStoreDir
	syncStoreDir = f
	t.Cleanup(func() { syncStoreDir = old })
}

// StateHashes recomputes the LtHash of the whole state (every s/ and n/
// pair) from scratch and returns its appHash, with the appHash of the
// stored accumulator.
func StateHashes(s *Store) (recomputed, stored Hash, err error) {
	var sum LtHash
	err = s.db.View(func(txn *badger.Txn) error {
		for _, prefix := range []string{prefixState, prefixNonce} {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix), PrefetchValues: false})
			for it.Rewind(); it.Valid(); it.Next() {
				v, err := it.Item().ValueCopy(nil)
				if err != nil {
					it.Close()
					return err
				}
				sum.Add(it.Item().KeyCopy(nil), v)
			}
			it.Close()
		}
		item, err := txn.Get(keyLtHash)
		if err != nil {
			return fmt.Errorf("stored accumulator: %w", err)
		}
		b, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		var acc LtHash
		if err := acc.SetBytes(b); err != nil {
			return err
		}
		stored = acc.AppHash()
		return nil
	})
	return sum.AppHash(), stored, err
}

// SetPruneHook installs a hook that runs at each stage of a prune batch
// ("planned": before the Badger transaction; "committed": after it, before
// block-file segments are deleted); an error stops the prune there as a
// crash would.
func (s *Store) SetPruneHook(fn func(stage string) error) { s.pruneHook = fn }

// PrunedKeys returns the keys under prefix (one of "b/", "r/", "c/", "a/",
// "k/", "h/", "t/") the store holds.
func PrunedKeys(s *Store, prefix string) ([][]byte, error) {
	var out [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			out = append(out, it.Item().KeyCopy(nil))
		}
		return nil
	})
	return out, err
}

// BlockSegments returns the block file's oldest and newest segment.
func BlockSegments(s *Store) (first, active uint32) { return s.blocks.Segments() }

// SetPruneBatch bounds one prune transaction to heights heights and keys
// keys.
func (s *Store) SetPruneBatch(heights, keys int) { s.pruneHeights, s.pruneKeys = heights, keys }
