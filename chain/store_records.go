package chain

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	"github.com/dgraph-io/badger/v4"

	"github.com/bafomet/bafomet/chain/wal"
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
	if err == nil {
		err = s.badger.sync()
	}
	if err != nil {
		return fmt.Errorf("put meta %q: %w", name, err)
	}
	return nil
}

// DeleteMeta deletes the metadata value stored under name, if any.
func (s *Store) DeleteMeta(name string) error {
	err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Delete(prefixed(prefixMeta, []byte(name)))
	})
	if err == nil {
		err = s.badger.sync()
	}
	if err != nil {
		return fmt.Errorf("delete meta %q: %w", name, err)
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

// MetaConsensusLog is set once the node keeps its consensus records in the
// consensus log (package wal) beside the store: a store that has it and no
// log means the log was lost.
const MetaConsensusLog = "consensus_log"

// LegacyRecords returns the consensus records a node stored in Badger
// (under p/) before they moved to the consensus log, oldest first.
func (s *Store) LegacyRecords() ([]wal.Record, error) {
	var out []wal.Record
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
			out = append(out, wal.Record{Height: binary.BigEndian.Uint64(v), Data: v[8:]})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read legacy consensus records: %w", err)
	}
	return out, nil
}

// DeleteLegacyRecords deletes the consensus records stored in Badger, once
// the consensus log holds them.
func (s *Store) DeleteLegacyRecords() error {
	err := s.db.DropPrefix([]byte(prefixRecord))
	if err == nil {
		err = s.badger.sync()
	}
	if err != nil {
		return fmt.Errorf("delete legacy consensus records: %w", err)
	}
	return nil
}

// PutCheckpoint stores the proof of the stable checkpoint at height.
func (s *Store) PutCheckpoint(height uint64, proof []byte) error {
	err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(heightKey(prefixCheckpoint, height), proof)
	})
	if err == nil {
		err = s.badger.sync()
	}
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
