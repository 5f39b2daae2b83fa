package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/snapshot"
	"github.com/bafomet/bafomet/node/blocksync"
	"github.com/bafomet/bafomet/node/statesync"
)

// State sync at start: a node whose store holds no block, or that is more
// than node.state_sync_threshold blocks behind the best height its peers
// prove, restores a snapshot its peers agree on instead of replaying every
// block. The snapshot is restored into a staging store beside the data
// directory (DATA.statesync), the blocks after it up to a pipeline window
// are applied there too (so the restored store holds the appHashes the
// ordering core needs and the blocks its clients ask for), and only then
// does the staging store replace the data directory, by two renames made
// safe by a marker file (recoverStateSync). A crash at any point leaves the
// node either as it was before or restored; never half-restored.

// stateSyncRetry is how often discovery asks the peers again: often, since
// at start the first round usually runs before the peers are connected.
const stateSyncRetry = 200 * time.Millisecond

func stagingPaths(data string) (staging, complete, old string) {
	return data + ".statesync", data + ".statesync.complete", data + ".old"
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// recoverStateSync finishes or undoes a state sync that a crash
// interrupted, before the store opens: a staging store marked complete
// replaces the data directory; an unmarked one is deleted; a data
// directory set aside by a finished swap is deleted.
func recoverStateSync(data string) error {
	staging, complete, old := stagingPaths(data)
	parent := filepath.Dir(data)
	done, err := exists(complete)
	if err != nil {
		return err
	}
	if done {
		if err := swapIn(data, staging, old); err != nil {
			return err
		}
	} else if err := os.RemoveAll(staging); err != nil {
		return fmt.Errorf("remove an interrupted state sync: %w", err)
	}
	if ok, err := exists(old); err != nil {
		return err
	} else if ok {
		if has, err := exists(data); err != nil {
			return err
		} else if !has {
			if err := os.Rename(old, data); err != nil {
				return fmt.Errorf("restore the data directory: %w", err)
			}
		} else if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("remove the data directory a state sync replaced: %w", err)
		}
	}
	return syncDir(parent)
}

// swapIn makes the complete staging store the data directory: the data
// directory is set aside as old, the staging store renamed into its place,
// and the marker removed last. Each step is one rename, and every state in
// between is one recoverStateSync completes.
func swapIn(data, staging, old string) error {
	_, complete, _ := stagingPaths(data)
	parent := filepath.Dir(data)
	if ok, err := exists(staging); err != nil {
		return err
	} else if ok {
		if has, err := exists(data); err != nil {
			return err
		} else if has {
			if err := os.RemoveAll(old); err != nil {
				return err
			}
			if err := os.Rename(data, old); err != nil {
				return fmt.Errorf("set the data directory aside: %w", err)
			}
		}
		if err := os.Rename(staging, data); err != nil {
			return fmt.Errorf("move the restored store into place: %w", err)
		}
		if err := syncDir(parent); err != nil {
			return err
		}
	}
	if err := os.Remove(complete); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(parent)
}

// stateSync restores a snapshot when the node should, and returns once it
// has or has decided against it. Failing to find or restore a snapshot is
// not an error: the node then block-syncs from its own height.
func (n *Node) stateSync(ctx context.Context) error {
	if !n.cfg.Node.StateSync || n.vals.Size() == 1 {
		return nil
	}
	h := n.height.Load()
	if h > 0 {
		best := n.syncer.probe(ctx)
		if best <= h+n.cfg.Node.StateSyncThreshold {
			return nil
		}
		n.log.Info("state sync: far behind the network", "height", h, "network", best, "threshold", n.cfg.Node.StateSyncThreshold)
	}
	r, err := statesync.New(statesync.Config{
		ChainID: n.gen.ChainID, Validators: n.vals, CheckpointInterval: n.gen.Consensus.CheckpointInterval,
		Requester: n.host, Peers: n.otherValidators(), Log: n.log.With("component", "statesync"),
	})
	if err != nil {
		return err
	}
	n.restorer.Store(r)
	w := n.gen.Consensus.PipelineWindow
	deadline := time.Now().Add(n.cfg.Node.StateSyncDiscovery)
	tried := map[statesync.Offer]bool{}
	for {
		best, answered := n.probeHeights(ctx)
		if answered > n.vals.F() && best <= h+w {
			n.log.Info("state sync: not needed, the network is not past this node's height", "height", h, "network", best)
			return nil
		}
		if best > h+w {
			cands, answered, offering := r.Discover(ctx, best-w)
			if answered > n.vals.F() && offering == 0 {
				n.log.Warn("state sync: no peer keeps snapshots; falling back to block sync from this node's height",
					"height", h, "network", best, "answered", answered)
				return nil
			}
			for _, c := range cands {
				key := statesync.Offer{Height: c.Height, Manifest: c.Manifest}
				if c.Height <= h || tried[key] {
					continue
				}
				tried[key] = true
				err := n.restoreSnapshot(ctx, r, c)
				if err == nil {
					return nil
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
				n.stateSyncFailed.Add(1)
				n.log.Warn("state sync: snapshot not restored; trying another", "height", c.Height, "err", err)
			}
		}
		if time.Now().After(deadline) {
			n.log.Warn("state sync: no verifiable snapshot among the peers; falling back to block sync from this node's height",
				"height", h, "network", best, "looked_for", n.cfg.Node.StateSyncDiscovery)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(stateSyncRetry):
		}
	}
}

// probeHeights asks every peer for its verified height and returns the
// highest and how many answered.
func (n *Node) probeHeights(ctx context.Context) (uint64, int) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	return blocksync.MaxHeight(blocksync.Probe(ctx, n.host, n.syncer.verifier, n.otherValidators()))
}

// restoreSnapshot restores candidate c into a staging store, applies the
// blocks after it up to a pipeline window, and swaps the staging store in.
func (n *Node) restoreSnapshot(ctx context.Context, r *statesync.Restorer, c statesync.Candidate) (err error) {
	data := n.cfg.DataPath()
	staging, complete, old := stagingPaths(data)
	if err := os.RemoveAll(staging); err != nil {
		return err
	}
	st, err := chain.OpenStore(staging, n.storeOptions())
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			st.Close()
		}
		if err != nil {
			os.RemoveAll(staging)
		}
	}()
	if err := st.CopyMeta(n.store()); err != nil {
		return err
	}
	res, err := r.Restore(ctx, c, st)
	if err != nil {
		return err
	}
	exec := chain.NewExecutor(st, n.exec().App(), n.gen.ChainID, n.log.With("component", "executor"))
	tail := res.Manifest.Height + n.gen.Consensus.PipelineWindow
	if err := n.applyTail(ctx, exec, res.Manifest.Height, res.Manifest.BlockHash, tail); err != nil {
		return err
	}
	if n.walCreated && n.height.Load() == 0 && len(n.walRecords) == 0 && !n.recordsLost {
		// The records of a validator that starts with neither data nor
		// consensus log may have been deleted with them: it stays as
		// guarded as it would have been without state sync.
		if err := st.PutMeta(metaRecordsLost, []byte{1}); err != nil {
			return err
		}
		n.recordsLost = true
	}
	closed = true
	if err := st.Close(); err != nil {
		return err
	}
	if err := writeMarker(complete); err != nil {
		return err
	}
	if err := swapIn(data, staging, old); err != nil {
		return err
	}
	return n.reopenStore()
}

// applyTail fetches the certified blocks from height+1 through target
// and applies them with exec (to a restored store): the core restarts from
// the appHashes of the last pipeline window of heights, which a restored
// store holds once it holds that many blocks above its snapshot.
func (n *Node) applyTail(ctx context.Context, exec *chain.Executor, height uint64, hash chain.Hash, target uint64) error {
	f, err := n.newFetcher(height, hash, target)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Node.StateSyncDiscovery+time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for h := height; h < target; {
		select {
		case it, ok := <-f.Blocks():
			if !ok {
				return fmt.Errorf("blocks after the snapshot: fetcher stopped at %d of %d", h, target)
			}
			res, err := exec.ApplyBlock(it.Block, it.Certificate)
			if err != nil {
				return fmt.Errorf("apply block %d after the snapshot: %w", it.Block.Header.Height, err)
			}
			if it.Checkpoint != nil {
				if err := blocksync.CheckAppHash(it.Checkpoint, res.Height, res.AppHash); err != nil {
					return err
				}
			}
			h = res.Height
		case <-ctx.Done():
			return fmt.Errorf("blocks after the snapshot: %w", ctx.Err())
		}
	}
	return nil
}

func writeMarker(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// reopenStore opens the restored data directory and makes it the node's
// store. The store it replaces stays open until Close, for readers that
// still hold it.
func (n *Node) reopenStore() error {
	st, err := chain.OpenStore(n.cfg.DataPath(), n.storeOptions())
	if err != nil {
		return err
	}
	h, err := st.Height()
	if err != nil {
		st.Close()
		return err
	}
	prev := n.store()
	n.replaced = append(n.replaced, prev)
	n.execRef.Store(chain.NewExecutor(st, n.exec().App(), n.gen.ChainID, n.log.With("component", "executor")))
	n.storeRef.Store(st)
	if err := n.serveBlocks(); err != nil {
		return err
	}
	if n.snaps != nil { // the restored data directory has none yet
		if _, err := snapshot.OpenDir(n.snaps.dir.Path()); err != nil {
			return err
		}
	}
	n.height.Store(h)
	n.host.SetHeight(h)
	if err := n.initMempoolHeight(); err != nil {
		return err
	}
	n.stateSyncRestored.Add(1)
	n.log.Info("state sync: the node continues from the restored snapshot", "height", h)
	return nil
}

// stateSyncProgress returns the progress of the state sync in progress.
func (n *Node) stateSyncProgress() (statesync.Progress, bool) {
	r := n.restorer.Load()
	if r == nil {
		return statesync.Progress{}, false
	}
	p := r.Progress()
	return p, p.Restoring
}

// completeImport applies, before the core starts, the blocks a store made
// from a snapshot (bafomet snapshot import, or a state sync interrupted
// after its swap) still needs: a pipeline window of blocks above the
// snapshot height.
func (n *Node) completeImport(ctx context.Context) error {
	st := n.store()
	earliest, err := st.EarliestHeight()
	if err != nil {
		return err
	}
	h := n.height.Load()
	target := earliest - 1 + n.gen.Consensus.PipelineWindow
	if earliest <= 1 || h >= target {
		return nil
	}
	var hash chain.Hash
	if h >= earliest {
		b, err := st.Block(h)
		if err != nil {
			return err
		}
		hash = b.Hash()
	} else {
		enc, err := st.Checkpoint(h)
		if err != nil {
			return fmt.Errorf("checkpoint proof of the snapshot at %d: %w", h, err)
		}
		p, err := n.syncer.verifier.DecodeCheckpoint(enc)
		if err != nil {
			return err
		}
		hash = p.BlockHash
	}
	n.log.Info("fetching the blocks after the snapshot this store was restored from", "height", h, "through", target)
	if err := n.applyTail(ctx, n.exec(), h, hash, target); err != nil {
		return err
	}
	h, err = st.Height()
	if err != nil {
		return err
	}
	n.height.Store(h)
	n.host.SetHeight(h)
	return n.initMempoolHeight()
}

// serveBlocks (re)creates the block-sync server over the current store.
func (n *Node) serveBlocks() error {
	srv, err := blocksync.NewServer(n.store(), blocksync.ServerConfig{
		MaxBytes: n.syncResponseMax(), CheckpointInterval: n.gen.Consensus.CheckpointInterval,
	})
	if err != nil {
		return err
	}
	n.blockSrv.Store(srv)
	return nil
}

// errNoSnapshots answers state-sync requests on a node that keeps none.
var errNoSnapshots = errors.New("this node keeps no snapshots (node.snapshot_interval is 0)")

// handleSyncRequest routes a request on the sync protocol to state sync
// or block sync.
func (n *Node) handleSyncRequest(ctx context.Context, from int, req []byte) ([]byte, error) {
	if statesync.IsRequest(req) {
		if n.snapServer == nil {
			return nil, errNoSnapshots
		}
		return n.snapServer.Handle(ctx, from, req)
	}
	return n.blockSrv.Load().Handle(ctx, from, req)
}
