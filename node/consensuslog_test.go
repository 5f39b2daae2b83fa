package node

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/wal"
)

// TestLegacyRecordsMoveToConsensusLog: a data directory written before the
// consensus log left Badger keeps its records under p/. The node moves them
// into a new log, deletes them from Badger and goes on from them.
func TestLegacyRecordsMoveToConsensusLog(t *testing.T) {
	tn := newTestNet(t, 1)
	tn.start(0)
	tn.send(0, 0, "before=upgrade")
	waitNonce(t, tn, 1)
	tn.stop(0)

	// Turn the home into what an older version left: records in Badger,
	// no log, no marker.
	walDir := filepath.Join(tn.homes[0], DefaultWALDir)
	l, recs, err := wal.Open(walDir, wal.Options{})
	must(t, err)
	must(t, l.Close())
	if len(recs) == 0 {
		t.Fatal("the validator persisted no records")
	}
	putLegacyRecords(t, filepath.Join(tn.homes[0], DefaultDataDir), recs, true)
	must(t, os.RemoveAll(walDir))

	n := tn.start(0)
	if n.recordsLost {
		t.Fatal("an upgraded data directory was taken for a lost log")
	}
	tn.send(0, 1, "after=upgrade")
	waitNonce(t, tn, 2)
	tn.stop(0)

	l, moved, err := wal.Open(walDir, wal.Options{})
	must(t, err)
	must(t, l.Close())
	if len(moved) < len(recs) || !reflect.DeepEqual(moved[:len(recs)], recs) {
		t.Fatalf("the log starts with %d records, not the %d legacy ones", len(moved), len(recs))
	}
	st, err := chain.OpenStore(filepath.Join(tn.homes[0], DefaultDataDir), chain.StoreOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	must(t, err)
	left, err := st.LegacyRecords()
	must(t, err)
	_, markErr := st.Meta(chain.MetaConsensusLog)
	_, lostErr := st.Meta(metaRecordsLost)
	must(t, st.Close())
	if len(left) != 0 {
		t.Fatalf("Badger still holds %d legacy records", len(left))
	}
	if markErr != nil {
		t.Fatalf("store not marked as having a consensus log: %v", markErr)
	}
	if !errors.Is(lostErr, chain.ErrNotFound) {
		t.Fatalf("records-lost flag: %v, want not found", lostErr)
	}

	// An older version runs on the upgraded home again (a downgrade) and
	// persists a record in Badger; the next start appends it to the log.
	late := wal.Record{Height: 99, Data: moved[len(moved)-1].Data}
	putLegacyRecords(t, filepath.Join(tn.homes[0], DefaultDataDir), []wal.Record{late}, false)
	tn.start(0)
	tn.stop(0)
	l, again, err := wal.Open(walDir, wal.Options{})
	must(t, err)
	must(t, l.Close())
	if len(again) < len(moved)+1 || !reflect.DeepEqual(again[len(moved)], late) {
		t.Fatalf("a record left in Badger by a downgrade was not appended to the log (%d records, had %d)", len(again), len(moved))
	}
}

// putLegacyRecords writes recs as versions before the consensus log did:
// p/<seq> → height ‖ data in Badger; unmark drops the store's log marker.
func putLegacyRecords(t *testing.T, dataDir string, recs []wal.Record, unmark bool) {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dataDir).WithLogger(nil))
	must(t, err)
	defer db.Close()
	must(t, db.Update(func(txn *badger.Txn) error {
		for i, r := range recs {
			key := binary.BigEndian.AppendUint64([]byte("p/"), uint64(i))
			if err := txn.Set(key, append(binary.BigEndian.AppendUint64(nil, r.Height), r.Data...)); err != nil {
				return err
			}
		}
		if unmark {
			return txn.Delete([]byte("u/" + chain.MetaConsensusLog))
		}
		return nil
	}))
}
