package chain

// SetBeforeCommit installs a hook that runs at each stage of a commit
// ("executed", "state", "block", "index", "commit"); an error from it
// aborts the Badger transaction as a crash before commit would.
func (e *Executor) SetBeforeCommit(fn func(stage string) error) { e.beforeCommit = fn }

// CommitStages lists the stages SetBeforeCommit's hook sees for a block.
var CommitStages = []string{"executed", "state", "block", "index", "commit"}
