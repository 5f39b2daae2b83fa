package node

import (
	"errors"
	"fmt"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/wal"
)

// openConsensusLog opens the consensus log in node.wal_dir and reads its
// records for the core.
//
// The store and the log are one unit: a store that has had a log carries
// chain.MetaConsensusLog. So at open:
//   - no log, no marker: a first start, or a data directory written before
//     the log left Badger — its records (maybe none) move into a new log;
//   - no log, marker: the log was lost, and with it what this validator
//     signed since its last checkpoint;
//   - a log, no marker, a store just initialised: the data directory was
//     wiped or replaced, and the log outlived it; its records are kept,
//     but records pruned below the old checkpoint are not there.
//
// In the last two cases recordsLost makes the node hold its votes until
// peers tell it how far the network got (guardWipedStart), as for a
// wiped data directory; the loss is stored until that guard has bounded
// it, so a restart in between does not forget it.
func (n *Node) openConsensusLog(freshStore bool) error {
	dir := n.cfg.WALPath()
	exists, err := wal.Exists(dir)
	if err != nil {
		return err
	}
	_, err = n.store.Meta(chain.MetaConsensusLog)
	marked := err == nil
	if err != nil && !errors.Is(err, chain.ErrNotFound) {
		return err
	}
	legacy, err := n.store.LegacyRecords()
	if err != nil {
		return err
	}
	_, err = n.store.Meta(metaRecordsLost) // a loss found at an earlier start, not yet bounded
	n.recordsLost = err == nil
	if err != nil && !errors.Is(err, chain.ErrNotFound) {
		return err
	}
	switch {
	case !exists && marked:
		n.recordsLost = true
		n.log.Warn("consensus log missing: its data directory has one; the node will sign nothing until peers show how far the network got",
			"wal_dir", dir, "data_dir", n.cfg.DataPath())
	case !exists:
		// A crash between Import and the marker below leaves both the
		// log and the legacy records; the next start takes this branch
		// no more (the log exists) and only deletes them.
		if err := wal.Import(dir, legacy); err != nil {
			return err
		}
		if len(legacy) > 0 {
			n.log.Info("moved consensus records from the data directory into the consensus log", "records", len(legacy), "wal_dir", dir)
		}
	case !marked && freshStore:
		n.recordsLost = true
		n.log.Warn("consensus log outlived its data directory: keeping its records, and signing nothing until peers show how far the network got",
			"wal_dir", dir, "data_dir", n.cfg.DataPath())
	}
	l, recs, err := wal.Open(dir, wal.Options{Logger: n.log.With("component", "wal")})
	if err != nil {
		return fmt.Errorf("consensus log %s: %w", dir, err)
	}
	if n.recordsLost {
		// Stored before the log is marked, so a crash in between cannot
		// forget the loss.
		err = n.store.PutMeta(metaRecordsLost, []byte{1})
	}
	if err == nil && !marked {
		err = n.store.PutMeta(chain.MetaConsensusLog, []byte(DefaultWALDir))
	}
	if err == nil && len(legacy) > 0 {
		err = n.store.DeleteLegacyRecords()
	}
	if err != nil {
		l.Close()
		return err
	}
	n.wal, n.walRecords = l, recs
	return nil
}
