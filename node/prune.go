package node

import (
	"context"
	"errors"
	"time"

	"github.com/bafomet/bafomet/chain"
)

// DefaultPruneInterval is how often the pruner looks for heights to prune
// when node.retain_blocks is set.
const DefaultPruneInterval = 10 * time.Second

// pruneFloor is the height the node must keep blocks from so that it can
// always serve a peer either blocks or a snapshot: its oldest kept state
// snapshot. 0 means it has no snapshot yet, and nothing is pruned. It
// returns snapshotFloor's answer; state sync sets snapshotFloor.
func (n *Node) pruneFloor() uint64 {
	if n.snapshotFloor == nil {
		return 0
	}
	return n.snapshotFloor()
}

// pruneTarget returns the height below which the node may delete blocks
// now (0: none). With node.retain_blocks = r it keeps the latest r blocks
// and the one before them — heights from latest − r up, so r equal to the
// distance keeps the height at the edge — and never prunes
//
//   - above floor, the oldest snapshot (pruneFloor; 0 prunes nothing), nor
//   - what the ordering core reads when the node restarts (restore.go):
//     the latest block, the appHashes of the last pipeline_window heights,
//     the certificates above the latest stable checkpoint and that
//     checkpoint's proof. The rule keeps every height from the latest
//     stable checkpoint − pipeline_window up (the store keeps the latest
//     proof itself), which covers all of them; without a stable checkpoint
//     the core restores up to a log window of certificates, and nothing is
//     pruned.
func pruneTarget(retain, latest, floor, stable, window uint64) uint64 {
	if retain == 0 || floor == 0 || stable <= window || latest <= retain {
		return 0
	}
	return min(latest-retain, floor, stable-window)
}

// prune runs while node.retain_blocks is set: every pruneEvery it deletes
// the heights pruneTarget allows, in the store's small batches, between
// commits. It is the only goroutine that prunes.
func (n *Node) prune(ctx context.Context) {
	t := time.NewTicker(n.pruneEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.pruneOnce(ctx)
	}
}

// pruneOnce prunes up to the current target and logs what it did.
func (n *Node) pruneOnce(ctx context.Context) {
	stable, _, err := n.store().LatestCheckpoint()
	if errors.Is(err, chain.ErrNotFound) {
		return
	}
	if err != nil {
		n.log.Warn("prune: read latest checkpoint", "err", err)
		return
	}
	latest := n.height.Load()
	to := pruneTarget(n.cfg.Node.RetainBlocks, latest, n.pruneFloor(), stable, n.gen.Consensus.PipelineWindow)
	before, _ := n.store().EarliestHeight()
	if to <= before {
		return
	}
	start := time.Now()
	earliest, err := n.store().Prune(ctx, to)
	if err != nil && ctx.Err() == nil {
		n.log.Warn("prune", "target", to, "earliest", earliest, "err", err)
		return
	}
	n.log.Info("blocks pruned", "from", before, "earliest", earliest, "latest", latest,
		"stable_checkpoint", stable, "floor", n.pruneFloor(), "took", time.Since(start).Round(time.Millisecond))
}
