package node

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/rpc"
)

// diskCheckInterval is how often the disk guard measures free space.
const diskCheckInterval = time.Second

// diskGuard pauses the validator while a filesystem it writes to (the data
// directory's or the consensus log's) has less than node.min_free_disk
// free. While paused the node refuses transactions (rpc.ErrDiskLow), skips
// gossiped ones, and its driver feeds the ordering core nothing, so it
// neither proposes, votes nor appends to its log; reads go on. It resumes
// by itself once every filesystem has min free again, and catches up as a
// node back from a partition does. The pause comes before the store's own
// reserve (chain.MinFreeBytesFor), below which the executor refuses to
// commit and the node stops.
type diskGuard struct {
	min   int64
	paths []string
	free  func(path string) (int64, bool, error)
	log   *slog.Logger

	low   atomic.Bool
	least atomic.Int64 // free bytes on the fullest filesystem at the last check; -1 before one
}

// newDiskGuard returns a guard for paths, or nil when min is 0 (turned
// off). It measures once before returning, so a node started on a full
// disk starts paused.
func newDiskGuard(min int64, paths []string, log *slog.Logger) *diskGuard {
	if min <= 0 {
		return nil
	}
	g := &diskGuard{min: min, paths: paths, free: chain.FreeDiskBytes, log: log}
	g.least.Store(-1)
	g.check()
	return g
}

// Low reports whether the node is paused for lack of disk space. A nil
// guard is never low.
func (g *diskGuard) Low() bool { return g != nil && g.low.Load() }

// refusal returns the error a transaction submitted while low gets.
func (g *diskGuard) refusal() error {
	return fmt.Errorf("%w: %d bytes free, node.min_free_disk is %d; submit to another validator",
		rpc.ErrDiskLow, g.least.Load(), g.min)
}

// run measures free space every diskCheckInterval until ctx ends.
func (g *diskGuard) run(ctx context.Context) {
	t := time.NewTicker(diskCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.check()
		}
	}
}

// check measures every path and pauses or resumes the node. A path it
// cannot measure is logged and left out; with none measured the state
// stays as it was.
func (g *diskGuard) check() {
	least, measured := int64(math.MaxInt64), false
	for _, p := range g.paths {
		free, ok, err := g.free(p)
		if err != nil {
			g.log.Warn("disk guard: cannot measure free space", "path", p, "err", err)
			continue
		}
		if ok {
			least, measured = min(least, free), true
		}
	}
	if !measured {
		return
	}
	g.least.Store(least)
	low := least < g.min
	if low == g.low.Load() {
		return
	}
	g.low.Store(low)
	if low {
		g.log.Error("free disk space below node.min_free_disk: not proposing, voting or accepting transactions until space is freed",
			"free_bytes", least, "min_free_disk", g.min, "paths", g.paths)
	} else {
		g.log.Warn("free disk space back above node.min_free_disk: resuming", "free_bytes", least, "min_free_disk", g.min)
	}
}

// minFreeDisk returns the pause threshold for node.min_free_disk = cfg
// with a store that keeps reserve bytes: cfg, raised to twice the reserve
// so the node pauses well before the executor refuses to commit; 0 stays
// 0 (off).
func minFreeDisk(cfg, reserve int64) int64 {
	if cfg == 0 {
		return 0
	}
	return max(cfg, 2*reserve)
}
