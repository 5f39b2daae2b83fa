package node

import (
	"errors"
	"fmt"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/wal"
)

// openConsensusLog opens the consensus log in node.wal_dir and reads its
// records for the core. It runs before the genesis state is written, so
// freshStore (the store holds no chain yet) is still true after a crash
// anywhere in here.
//
// The store and the log are one unit: a store that has had a log carries
// chain.MetaConsensusLog. So at open:
//   - no log, no marker: a first start, or a data directory written before
//     the log left Badger — its records (maybe none) move into a new log;
//   - no log, marker: the log was lost, and with it what this validator
//     signed since its last checkpoint;
//   - a log, no marker, no chain in the store: the data directory was
//     wiped or replaced, and the log outlived it; its records are kept,
//     but records pruned below the old checkpoint are not there;
//   - a log and records still in Badger: a crash between the import and
//     their deletion, or an older version ran on this data directory since
//     (a downgrade); they are appended to the log, so none is lost.
//
// A log created here (the first case) holds no record, so by itself it
// cannot tell a first start from a home whose data and log were both
// deleted; walCreated lets guardWipedStart ask validator.ran.
//
// In the two lost cases recordsLost makes the node hold its votes until
// peers tell it how far the network got (guardWipedStart), as for a wiped
// data directory. The loss is stored before anything else changes on disk
// and cleared only once that guard has bounded it, so no crash or restart
// in between forgets it.
func (n *Node) openConsensusLog(freshStore bool) error {
	dir := n.cfg.WALPath()
	exists, err := wal.Exists(dir)
	if err != nil {
		return err
	}
	marked, err := n.hasMeta(chain.MetaConsensusLog)
	if err != nil {
		return err
	}
	if n.recordsLost, err = n.hasMeta(metaRecordsLost); err != nil { // found at an earlier start, not yet bounded
		return err
	}
	legacy, err := n.store().LegacyRecords()
	if err != nil {
		return err
	}
	inBadger := len(legacy) > 0 // to delete once the log holds them
	switch {
	case !exists && marked:
		n.log.Warn("consensus log missing, though its data directory had one; the node will sign nothing until peers show how far the network got",
			"wal_dir", dir, "data_dir", n.cfg.DataPath())
		err = n.noteRecordsLost()
	case exists && !marked && freshStore:
		n.log.Warn("consensus log outlived its data directory: keeping its records, and signing nothing until peers show how far the network got",
			"wal_dir", dir, "data_dir", n.cfg.DataPath())
		err = n.noteRecordsLost()
	case !exists:
		n.walCreated = true
		err = wal.Import(dir, legacy)
		if err == nil && len(legacy) > 0 {
			n.log.Info("moved consensus records from the data directory into the consensus log", "records", len(legacy), "wal_dir", dir)
		}
		legacy = nil // in the log now
	}
	if err != nil {
		return err
	}
	l, recs, err := wal.Open(dir, wal.Options{Logger: n.log.With("component", "wal")})
	if err != nil {
		return fmt.Errorf("consensus log %s: %w", dir, err)
	}
	if len(legacy) > 0 {
		n.log.Warn("appending consensus records found in the data directory to the consensus log (an interrupted upgrade, or an older version ran here)",
			"records", len(legacy), "wal_dir", dir)
		if err = l.Append(legacy); err == nil {
			recs = append(recs, legacy...)
		}
	}
	if err == nil && !marked {
		err = n.store().PutMeta(chain.MetaConsensusLog, []byte(n.cfg.Node.WALDir))
	}
	if err == nil && inBadger {
		err = n.store().DeleteLegacyRecords()
	}
	if err != nil {
		l.Close()
		return err
	}
	n.wal, n.walRecords = l, recs
	return nil
}

// noteRecordsLost stores that this validator lost consensus records.
func (n *Node) noteRecordsLost() error {
	n.recordsLost = true
	return n.store().PutMeta(metaRecordsLost, []byte{1})
}

// hasMeta reports whether the store holds metadata name.
func (n *Node) hasMeta(name string) (bool, error) {
	_, err := n.store().Meta(name)
	if errors.Is(err, chain.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
