package chain

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	"github.com/dgraph-io/badger/v4"
)

// Metadata names the node uses.
const (
	MetaChainID     = "chain_id"
	MetaGenesisHash = "genesis_hash"
)

// PutMeta stores a metadata value under name.
func (s *Store) PutMeta(name string, value []byte) error {
	err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(prefixed(prefixMeta, []byte(name)), value)
	})
	if err != nil {
		return fmt.Errorf("put meta %q: %w", name, err)
	}
	return nil
}

// Meta returns the metadata value stored under name, or ErrNotFound.
func (s *Store) Meta(name string) ([]byte, error) {
	v, err := s.get(prefixed(prefixMeta, []byte(name)))
	if err != nil {
		return nil, fmt.Errorf("meta %q: %w", name, err)
	}
	return v, nil
}

// CheckIdentity binds the data directory to one chain: the first call
// records chainID and genesisHash; later calls return ErrOtherChain when
// either differs, so a node refuses a data directory from another chain.
func (s *Store) CheckIdentity(chainID string, genesisHash Hash) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.db.Update(func(txn *badger.Txn) error {
		idKey, ghKey := prefixed(prefixMeta, []byte(MetaChainID)), prefixed(prefixMeta, []byte(MetaGenesisHash))
		id, err := getValue(txn, idKey)
		if errors.Is(err, ErrNotFound) {
			if err := txn.Set(idKey, []byte(chainID)); err != nil {
				return fmt.Errorf("record chain id: %w", err)
			}
			return txn.Set(ghKey, genesisHash[:])
		}
		if err != nil {
			return err
		}
		gh, err := getValue(txn, ghKey)
		if err != nil {
			return fmt.Errorf("read genesis hash: %w", err)
		}
		if string(id) != chainID || !bytes.Equal(gh, genesisHash[:]) {
			return fmt.Errorf("%w: it holds chain %q with genesis %x, not %q with genesis %s",
				ErrOtherChain, id, gh, chainID, genesisHash)
		}
		return nil
	})
}

// loadRecordSeq sets recSeq past the newest consensus record.
func (s *Store) loadRecordSeq() error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: []byte(prefixRecord)})
		defer it.Close()
		it.Seek(seekLast(prefixRecord))
		if it.Valid() {
			s.recSeq = binary.BigEndian.Uint64(it.Item().Key()[len(prefixRecord):]) + 1
		}
		return nil
	})
}

// Record is one consensus record and the height it belongs to (records
// of heights below a stable checkpoint are pruned).
type Record struct {
	Height uint64
	Data   []byte
}

// AppendRecords durably appends consensus records (signed messages the
// driver must persist before sending them) for height, in one synced
// write. Records returns them in append order.
func (s *Store) AppendRecords(height uint64, recs ...[]byte) error {
	batch := make([]Record, len(recs))
	for i, r := range recs {
		batch[i] = Record{Height: height, Data: r}
	}
	return s.AppendRecordBatch(batch)
}

// AppendRecordBatch durably appends records of any heights, in order, in
// one synced write: the driver persists everything one Ready asks for with
// a single fsync.
func (s *Store) AppendRecordBatch(recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	s.recMu.Lock()
	defer s.recMu.Unlock()
	seq := s.recSeq
	err := s.db.Update(func(txn *badger.Txn) error {
		for _, r := range recs {
			v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(r.Data)), r.Height)
			if err := txn.Set(heightKey(prefixRecord, seq), append(v, r.Data...)); err != nil {
				return err
			}
			seq++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("append %d records from height %d: %w", len(recs), recs[0].Height, err)
	}
	s.recSeq = seq
	return nil
}

// Records returns every stored consensus record, oldest first.
func (s *Store) Records() ([][]byte, error) {
	var out [][]byte
	err := s.scanRecords(func(_ []byte, _ uint64, rec []byte) error {
		out = append(out, rec)
		return nil
	})
	return out, err
}

func (s *Store) scanRecords(fn func(key []byte, height uint64, rec []byte) error) error {
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: []byte(prefixRecord)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if len(v) < 8 {
				return fmt.Errorf("record %x is %d bytes", it.Item().Key(), len(v))
			}
			if err := fn(it.Item().KeyCopy(nil), binary.BigEndian.Uint64(v), v[8:]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read records: %w", err)
	}
	return nil
}

// PruneRecords deletes the consensus records of heights below below.
func (s *Store) PruneRecords(below uint64) error {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	var dead [][]byte
	err := s.scanRecords(func(key []byte, h uint64, _ []byte) error {
		if h < below {
			dead = append(dead, key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.deleteKeys(dead)
}

// deleteKeys deletes keys, in as many transactions as Badger needs (the
// deletions need not be atomic: each is idempotent).
func (s *Store) deleteKeys(keys [][]byte) error {
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range keys {
		if err := wb.Delete(k); err != nil {
			return fmt.Errorf("delete: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	return nil
}

// PutCheckpoint stores the proof of the stable checkpoint at height.
func (s *Store) PutCheckpoint(height uint64, proof []byte) error {
	err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(heightKey(prefixCheckpoint, height), proof)
	})
	if err != nil {
		return fmt.Errorf("put checkpoint %d: %w", height, err)
	}
	return nil
}

// Checkpoint returns the checkpoint proof stored for height, or ErrNotFound.
func (s *Store) Checkpoint(height uint64) ([]byte, error) {
	v, err := s.get(heightKey(prefixCheckpoint, height))
	if err != nil {
		return nil, fmt.Errorf("checkpoint %d: %w", height, err)
	}
	return v, nil
}

// LatestCheckpoint returns the highest stored checkpoint, or ErrNotFound.
func (s *Store) LatestCheckpoint() (uint64, []byte, error) {
	var (
		h     uint64
		proof []byte
	)
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: []byte(prefixCheckpoint)})
		defer it.Close()
		it.Seek(seekLast(prefixCheckpoint))
		if !it.Valid() {
			return ErrNotFound
		}
		h = binary.BigEndian.Uint64(it.Item().Key()[len(prefixCheckpoint):])
		var err error
		proof, err = it.Item().ValueCopy(nil)
		return err
	})
	if err != nil {
		return 0, nil, fmt.Errorf("latest checkpoint: %w", err)
	}
	return h, proof, nil
}

// badgerLogger sends Badger's logs to slog; its chatty info and debug
// lines go to debug.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) { b.l.Error("badger: " + fmt.Sprintf(f, a...)) }
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn("badger: " + fmt.Sprintf(f, a...))
}
func (b badgerLogger) Infof(f string, a ...any)  { b.l.Debug("badger: " + fmt.Sprintf(f, a...)) }
func (b badgerLogger) Debugf(f string, a ...any) { b.l.Debug("badger: " + fmt.Sprintf(f, a...)) }

// seekLast returns a key above every 8-byte-suffixed key under prefix, for
// reverse iteration.
func seekLast(prefix string) []byte {
	return append([]byte(prefix), bytes.Repeat([]byte{0xff}, 9)...)
}
