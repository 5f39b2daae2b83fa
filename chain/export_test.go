package chain

import (
	"encoding/binary"

	"github.com/dgraph-io/badger/v4"
)

// PutLegacyRecord writes a consensus record as versions before the
// consensus log stored them: p/<seq> → height ‖ data.
func PutLegacyRecord(s *Store, seq, height uint64, data []byte) error {
	return s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(heightKey(prefixRecord, seq), append(binary.BigEndian.AppendUint64(nil, height), data...))
	})
}

// SetBeforeCommit installs a hook that runs at each stage of a commit
// ("executed", "state", "block", "index", "commit"); an error from it
// aborts the Badger transaction as a crash before commit would.
func (e *Executor) SetBeforeCommit(fn func(stage string) error) { e.beforeCommit = fn }

// CommitStages lists the stages SetBeforeCommit's hook sees for a block.
var CommitStages = []string{"executed", "state", "block", "index", "commit"}
