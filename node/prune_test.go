package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/genesis"
)

// TestPruneTarget: the prune target keeps latest − retain_blocks (the
// edge height itself stays), and never goes above the snapshot floor or
// the latest stable checkpoint − pipeline_window; no floor, no stable
// checkpoint or retain_blocks = 0 prune nothing.
func TestPruneTarget(t *testing.T) {
	for _, c := range []struct {
		name                                  string
		retain, latest, floor, stable, window uint64
		want                                  uint64
	}{
		{"keep everything", 0, 1000, 900, 900, 4, 0},
		{"no snapshot yet", 20, 1000, 0, 900, 4, 0},
		{"no stable checkpoint", 20, 1000, 900, 0, 4, 0},
		{"stable checkpoint inside the window", 20, 1000, 900, 4, 4, 0},
		{"fewer blocks than retained", 20, 20, 900, 10, 4, 0},
		{"one block more than retained", 20, 21, 900, 10, 4, 1},
		{"retain bounds", 20, 1000, 990, 990, 4, 980},
		{"floor bounds", 20, 1000, 500, 990, 4, 500},
		{"stable checkpoint bounds", 20, 1000, 990, 900, 4, 896},
	} {
		got := pruneTarget(c.retain, c.latest, c.floor, c.stable, c.window)
		if got != c.want {
			t.Errorf("%s: pruneTarget(retain %d, latest %d, floor %d, stable %d, window %d) = %d, want %d",
				c.name, c.retain, c.latest, c.floor, c.stable, c.window, got, c.want)
		}
		if got > 0 && c.latest-got < c.retain {
			t.Errorf("%s: target %d keeps fewer than %d blocks below %d", c.name, got, c.retain, c.latest)
		}
	}
}

// startPruning starts validator i of tn with node.retain_blocks = retain,
// the pruner every 50 ms and floor as its snapshot floor.
func startPruning(t *testing.T, tn *testNet, i int, retain uint64, floor *atomic.Uint64) *Node {
	t.Helper()
	cfg, err := LoadConfig(tn.homes[i])
	must(t, err)
	cfg.Node.RetainBlocks = retain
	cfg.Consensus.CreateEmptyBlocks = true
	cfg.Consensus.EmptyBlockInterval = 20 * time.Millisecond
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	n, err := New(cfg, Options{Logger: log})
	must(t, err)
	n.snapshotFloor = floor.Load
	n.pruneEvery = 50 * time.Millisecond
	must(t, n.Start(context.Background()))
	tn.nodes[i] = n
	return n
}

// waitEarliest waits until n's earliest height is at least want.
func waitEarliest(t *testing.T, n *Node, want uint64, timeout time.Duration) uint64 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		e, err := n.store().EarliestHeight()
		must(t, err)
		if e >= want {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("earliest height %d at height %d, want %d after %v", e, n.Height(), want, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNodePrunesOldBlocks runs a validator with retain_blocks = 20 and a
// fake snapshot floor: without a floor nothing goes; with one the node
// prunes up to it, then (floor raised) keeps the latest 20 blocks and the
// heights the core needs from the latest stable checkpoint −
// pipeline_window; the data of old heights is gone, the chain keeps
// committing, and a restart restores from the pruned store.
func TestNodePrunesOldBlocks(t *testing.T) {
	cons := genesis.DefaultConsensus()
	cons.CheckpointInterval = 10
	tn := newTestNetWith(t, 1, cons)
	var floor atomic.Uint64
	n := startPruning(t, tn, 0, 20, &floor)
	early := tn.send(0, 0, "early=1")
	tn.waitHeight(40, 60*time.Second)
	info, err := (&backend{n: n}).Transaction(early)
	must(t, err)
	if info == nil || info.Status != "committed" {
		t.Fatalf("early transaction: %+v", info)
	}
	earlyHeight := info.Height
	time.Sleep(200 * time.Millisecond) // a few pruner runs
	if e, _ := n.store().EarliestHeight(); e != 1 {
		t.Fatalf("earliest height %d without a snapshot floor, want 1", e)
	}

	floor.Store(30)
	if e := waitEarliest(t, n, 30, 30*time.Second); e != 30 {
		t.Fatalf("earliest height %d above the floor 30", e)
	}
	for h := uint64(1); h < 30; h++ {
		if _, err := n.store().Block(h); !errors.Is(err, chain.ErrPruned) {
			t.Fatalf("block %d after pruning to 30: %v", h, err)
		}
	}
	if earlyHeight < 30 {
		info, err := (&backend{n: n}).Transaction(early)
		if err != nil || info != nil {
			t.Fatalf("pruned transaction: %+v, %v; want unknown", info, err)
		}
	}

	floor.Store(1 << 40)
	h := n.Height()
	tn.waitHeight(h+40, 60*time.Second)
	stable, _, err := n.store().LatestCheckpoint()
	must(t, err)
	e := waitEarliest(t, n, min(n.Height()-20, stable-cons.PipelineWindow)-cons.CheckpointInterval, 30*time.Second)
	latest := n.Height()
	if latest-e < 20 {
		t.Fatalf("earliest %d at height %d: fewer than 20 blocks kept", e, latest)
	}
	for _, h := range []uint64{e, latest} {
		if _, err := n.store().Block(h); err != nil {
			t.Fatalf("block %d (earliest %d, latest %d): %v", h, e, latest, err)
		}
		if _, err := n.store().Certificate(h); err != nil {
			t.Fatalf("certificate %d: %v", h, err)
		}
	}
	if _, err := n.store().Block(e - 1); !errors.Is(err, chain.ErrPruned) {
		t.Fatalf("block %d below the earliest %d: %v", e-1, e, err)
	}
	b := &backend{n: n}
	if _, err := b.BlockByHeight(e - 1); !errors.Is(err, chain.ErrPruned) {
		t.Fatalf("rpc backend: block %d below the earliest %d: %v", e-1, e, err)
	}
	if st := b.NodeStatus(); st.EarliestHeight < e {
		t.Fatalf("status earliest height %d, want at least %d", st.EarliestHeight, e)
	}

	tn.stop(0)
	n = startPruning(t, tn, 0, 20, &floor)
	tn.send(0, 1, "after=restart")
	h = n.Height()
	tn.waitHeight(h+5, 30*time.Second)
	waitNonceWithin(t, tn, 2, 30*time.Second)
	if got, _ := n.store().EarliestHeight(); got < e {
		t.Fatalf("earliest height %d after restart, was %d", got, e)
	}
}
