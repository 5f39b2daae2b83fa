package node

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/snapshot"
	"github.com/bafomet/bafomet/node/statesync"
)

// snapshotsDir is the snapshot directory inside the data directory.
const snapshotsDir = "snapshots"

// snapshotter keeps the node's state snapshots: right after the executor
// commits a snapshot height it opens a read of the state there
// (capture), and its goroutine (run) writes the snapshot from that read
// while execution goes on, stores the checkpoint proof beside it once the
// checkpoint is stable, and prunes old snapshots.
type snapshotter struct {
	n     *Node
	dir   *snapshot.Dir
	every uint64 // blocks between snapshots
	keep  int
	jobs  chan snapshotJob // one waiting at most: a slow write skips the next

	taken, skipped, failed atomic.Uint64
}

type snapshotJob struct {
	read      *chain.StateRead
	blockHash chain.Hash
}

// newSnapshotter returns nil when node.snapshot_interval is 0.
func newSnapshotter(n *Node) (*snapshotter, error) {
	if n.cfg.Node.SnapshotInterval == 0 {
		return nil, nil
	}
	dir, err := snapshot.OpenDir(filepath.Join(n.cfg.DataPath(), snapshotsDir))
	if err != nil {
		return nil, err
	}
	return &snapshotter{
		n: n, dir: dir, every: n.cfg.Node.SnapshotInterval * n.gen.Consensus.CheckpointInterval,
		keep: n.cfg.Node.SnapshotKeep, jobs: make(chan snapshotJob, 1),
	}, nil
}

// due reports whether height is a snapshot height.
func (s *snapshotter) due(height uint64) bool {
	return s != nil && height > 0 && height%s.every == 0
}

// capture opens a read of the state at height, which the executor has
// just committed, and queues it. The caller makes sure nothing commits in
// between.
func (s *snapshotter) capture(height uint64, blockHash chain.Hash) {
	r, err := s.n.store().OpenStateRead()
	if err != nil || r.Height() != height {
		if err == nil {
			r.Close()
		}
		s.failed.Add(1)
		s.n.log.Error("snapshot: cannot read the state at its height", "height", height, "err", err)
		return
	}
	select {
	case s.jobs <- snapshotJob{read: r, blockHash: blockHash}:
	default:
		r.Close()
		s.skipped.Add(1)
		s.n.log.Warn("snapshot skipped: the previous one is still being written", "height", height)
	}
}

// run writes queued snapshots until ctx ends.
func (s *snapshotter) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			select {
			case j := <-s.jobs:
				j.read.Close()
			default:
			}
			return
		case j := <-s.jobs:
			s.write(j)
		}
	}
}

func (s *snapshotter) write(j snapshotJob) {
	defer j.read.Close()
	h := j.read.Height()
	m, err := s.dir.Write(j.read, s.n.gen.ChainID, j.blockHash)
	if err != nil {
		s.failed.Add(1)
		s.n.log.Error("snapshot failed", "height", h, "err", err)
		return
	}
	s.taken.Add(1)
	if proof, err := s.n.store().Checkpoint(h); err == nil {
		s.storeProof(h, proof)
	} else if !errors.Is(err, chain.ErrNotFound) {
		s.n.log.Warn("snapshot: read its checkpoint proof", "height", h, "err", err)
	}
	if err := s.dir.Prune(s.keep); err != nil {
		s.n.log.Warn("snapshot: prune old ones", "err", err)
	}
	s.n.log.Info("snapshot taken", "height", h, "chunks", len(m.Chunks), "entries", m.Entries, "bytes", m.Bytes, "app_hash", m.AppHash)
}

// storeProof stores a stable checkpoint proof with the snapshot at its
// height, if there is one.
func (s *snapshotter) storeProof(height uint64, proof []byte) {
	if s == nil {
		return
	}
	if err := s.dir.SetProof(height, proof); err != nil {
		s.n.log.Warn("snapshot: store its checkpoint proof", "height", height, "err", err)
	}
}

// oldest returns the height of the oldest snapshot that peers can be
// served (its checkpoint is stable), or 0.
func (s *snapshotter) oldest() uint64 {
	if s == nil {
		return 0
	}
	hs, err := s.dir.Heights()
	if err != nil {
		return 0
	}
	for _, h := range hs {
		if _, err := s.dir.Proof(h); err == nil {
			return h
		}
	}
	return 0
}

var (
	descSnapshots      = prometheus.NewDesc("bafomet_snapshots_total", "State snapshots this node wrote, by outcome: taken, skipped (the previous one was still being written), failed.", []string{"outcome"}, nil)
	descSnapshotLatest = prometheus.NewDesc("bafomet_snapshot_latest_height", "Height of the newest snapshot this node keeps (0: none).", nil, nil)
	descSnapServed     = prometheus.NewDesc("bafomet_statesync_served_total", "State-sync requests this node answered, by kind: offers, manifest, chunk.", []string{"kind"}, nil)
	descRestores       = prometheus.NewDesc("bafomet_statesync_restores_total", "Snapshots this node restored at start, by outcome: restored, failed.", []string{"outcome"}, nil)
	descRestoring      = prometheus.NewDesc("bafomet_statesync_restoring", "1 while the node restores a snapshot, else 0.", nil, nil)
	descRestoreChunks  = prometheus.NewDesc("bafomet_statesync_chunks", "Chunks of the snapshot being restored, by state: done, total.", []string{"state"}, nil)
	descRestoreBytes   = prometheus.NewDesc("bafomet_statesync_bytes", "Chunk bytes of the snapshot being restored, by state: done, total.", []string{"state"}, nil)
	descRestoreFaults  = prometheus.NewDesc("bafomet_statesync_peer_faults_total", "Bad or missing answers from peers during state sync.", nil, nil)
)

// stateSyncCollector reads the snapshot and state-sync series at scrape
// time.
type stateSyncCollector struct{ n *Node }

func (c stateSyncCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSnapshots, descSnapshotLatest, descSnapServed, descRestores, descRestoring, descRestoreChunks, descRestoreBytes, descRestoreFaults} {
		ch <- d
	}
}

func (c stateSyncCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if s := n.snaps; s != nil {
		counter(descSnapshots, s.taken.Load(), "taken")
		counter(descSnapshots, s.skipped.Load(), "skipped")
		counter(descSnapshots, s.failed.Load(), "failed")
		latest := 0.0
		if hs, err := s.dir.Heights(); err == nil && len(hs) > 0 {
			latest = float64(hs[len(hs)-1])
		}
		gauge(descSnapshotLatest, latest)
	}
	if srv := n.snapServer; srv != nil {
		counter(descSnapServed, srv.Served.Offers.Load(), "offers")
		counter(descSnapServed, srv.Served.Manifests.Load(), "manifest")
		counter(descSnapServed, srv.Served.Chunks.Load(), "chunk")
	}
	counter(descRestores, n.stateSyncRestored.Load(), "restored")
	counter(descRestores, n.stateSyncFailed.Load(), "failed")
	var p statesync.Progress
	if r := n.restorer.Load(); r != nil {
		p = r.Progress()
	}
	restoring := 0.0
	if p.Restoring {
		restoring = 1
	}
	gauge(descRestoring, restoring)
	gauge(descRestoreChunks, float64(p.ChunksDone), "done")
	gauge(descRestoreChunks, float64(p.Chunks), "total")
	gauge(descRestoreBytes, float64(p.Bytes), "done")
	gauge(descRestoreBytes, float64(p.TotalBytes), "total")
	counter(descRestoreFaults, p.Faults)
}
