package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/node/blocksync"
	"github.com/bafomet/bafomet/ordering"
	"github.com/bafomet/bafomet/ordering/driver"
)

// Block sync: a node that finds itself behind fetches certified blocks from
// its peers and feeds them to the core with StepCertified, so they are
// executed exactly as consensus-committed blocks are. The syncer goroutine
// decides when to sync and runs the fetcher; the driver consumes its blocks.
const (
	// syncCheckInterval is how often the syncer looks for lag.
	syncCheckInterval = time.Second
	// stallProbeAfter is how long the height may stand still before the
	// syncer asks peers for their verified heights.
	stallProbeAfter = 2 * time.Second
	// probeTimeout bounds one status round.
	probeTimeout = 3 * time.Second
	// wipedProbeWait is how long a node with an empty data directory
	// waits at start-up for a peer to tell it how far the network got.
	wipedProbeWait = 5 * time.Second
)

// syncer detects lag and runs block sync. It runs on its own goroutine and
// hands verified blocks to the driver through items.
type syncer struct {
	n        *Node
	verifier *blocksync.Verifier
	items    chan driver.Synced // read by the driver
	hints    chan uint64        // heights the core says we are behind (non-blocking sends)
	status   atomic.Pointer[blocksync.Status]

	// For the metrics: sync runs started, blocks taken from sync by the
	// core, gossip frames skipped while syncing, and peer faults of the
	// runs that ended.
	runs, blocks  atomic.Uint64
	gossipSkipped atomic.Uint64
	faultsMu      sync.Mutex
	pastFaults    uint64
}

func newSyncer(n *Node) *syncer {
	return &syncer{
		n:        n,
		verifier: blocksync.NewVerifier(n.gen.ChainID, n.vals, n.gen.Consensus.CheckpointInterval),
		items:    make(chan driver.Synced, 64),
		hints:    make(chan uint64, 1),
	}
}

// Hint tells the syncer the core saw evidence that the network is at least
// at height h. It never blocks the driver.
func (s *syncer) Hint(h uint64) {
	select {
	case s.hints <- h:
	default:
		select { // replace a stale hint with the newer one
		case <-s.hints:
		default:
		}
		select {
		case s.hints <- h:
		default:
		}
	}
}

// Status reports the running sync, if any.
func (s *syncer) Status() (blocksync.Status, bool) {
	st := s.status.Load()
	if st == nil {
		return blocksync.Status{}, false
	}
	return *st, st.Syncing
}

func (s *syncer) run(ctx context.Context) {
	t := time.NewTicker(syncCheckInterval)
	defer t.Stop()
	now := make(chan struct{}, 1) // the first check is at once: a node that starts behind syncs without waiting
	now <- struct{}{}
	lastHeight, lastMove := s.n.height.Load(), time.Now()
	for {
		var target uint64
		select {
		case <-ctx.Done():
			return
		case target = <-s.hints:
		case <-now:
		case <-t.C:
		}
		h := s.n.height.Load()
		if h != lastHeight {
			lastHeight, lastMove = h, time.Now()
		}
		target = max(target, s.peerHint())
		if target <= h+s.n.gen.Consensus.PipelineWindow && time.Since(lastMove) >= stallProbeAfter {
			target = max(target, s.probe(ctx))
		}
		if target > h {
			s.syncTo(ctx, target)
			lastHeight, lastMove = s.n.height.Load(), time.Now()
		}
	}
}

// peerHint is the (f+1)-th highest height validators announced in their
// hello: at least one honest validator has reached it.
func (s *syncer) peerHint() uint64 {
	var hs []uint64
	for _, p := range s.n.host.Peers() {
		if p.Validator && p.Connected {
			hs = append(hs, p.Height)
		}
	}
	f := s.n.vals.F()
	if len(hs) <= f {
		return 0
	}
	slices.Sort(hs)
	return hs[len(hs)-1-f]
}

// probe asks every peer for its verified height and returns the highest.
func (s *syncer) probe(ctx context.Context) uint64 {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	h, _ := blocksync.MaxHeight(blocksync.Probe(ctx, s.n.host, s.verifier, s.n.otherValidators()))
	return h
}

// syncTo fetches blocks from the node's height up to target (which moves
// up as hints arrive) and passes them to the driver.
func (s *syncer) syncTo(ctx context.Context, target uint64) {
	n := s.n
	start := n.height.Load()
	startHash, err := n.blockHashAt(start)
	if err != nil {
		n.log.Error("block sync: read tip", "err", err)
		return
	}
	f, err := n.newFetcher(start, startHash, target)
	if err != nil {
		n.log.Error("block sync: start", "err", err)
		return
	}
	n.log.Info("block sync started", "from", start, "target", target)
	s.runs.Add(1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	s.forward(ctx, f)
	cancel()
	err = <-done
	st := f.Status()
	st.Syncing = false
	s.faultsMu.Lock() // so a scrape never sees this run's faults twice or not at all
	s.status.Store(&st)
	s.pastFaults += st.Faults
	s.faultsMu.Unlock()
	if err != nil && !errors.Is(err, context.Canceled) {
		n.log.Warn("block sync stopped", "height", n.height.Load(), "err", err)
		return
	}
	n.log.Info("block sync finished", "height", n.height.Load(), "target", st.Target)
}

// forward passes the fetcher's blocks to the driver until the fetcher is
// done, raising its target as new hints arrive.
func (s *syncer) forward(ctx context.Context, f *blocksync.Fetcher) {
	t := time.NewTicker(syncCheckInterval)
	defer t.Stop()
	blocks := f.Blocks()
	for {
		st := f.Status()
		s.status.Store(&st)
		select {
		case <-ctx.Done():
			return
		case it, ok := <-blocks:
			if !ok {
				return
			}
			select {
			case s.items <- driver.Synced{Block: it.Block, Certificate: it.Certificate, Checkpoint: it.Checkpoint}:
			case <-ctx.Done():
				return
			}
		case h := <-s.hints:
			f.SetTarget(h)
		case <-t.C:
			f.SetTarget(s.peerHint())
		}
	}
}

// newFetcher returns a block-sync fetcher from the node's peers, from the
// block at start (whose hash is startHash) up to target.
func (n *Node) newFetcher(start uint64, startHash chain.Hash, target uint64) (*blocksync.Fetcher, error) {
	return blocksync.NewFetcher(blocksync.Config{
		ChainID: n.gen.ChainID, Validators: n.vals, CheckpointInterval: n.gen.Consensus.CheckpointInterval,
		Requester: n.host, Peers: n.otherValidators(), Start: start, StartHash: startHash, Target: target,
		Limits: blocksync.Limits{MaxResponseBytes: n.syncResponseMax()},
		Log:    n.log.With("component", "blocksync"),
	})
}

// otherValidators lists every validator index but this node's.
func (n *Node) otherValidators() []int {
	out := make([]int, 0, n.vals.Size()-1)
	for i := 0; i < n.vals.Size(); i++ {
		if i != n.self {
			out = append(out, i)
		}
	}
	return out
}

// blockHashAt is the hash of the executed block at h (the genesis hash at 0).
func (n *Node) blockHashAt(h uint64) (chain.Hash, error) {
	if h == 0 {
		return n.genesisHash, nil
	}
	b, err := n.store().Block(h)
	if err != nil {
		return chain.Hash{}, err
	}
	return b.Hash(), nil
}

// syncResponseMax is the one bound on a block-sync response, in bytes: the
// largest the sync server builds, the largest the fetcher accepts and the
// largest p2p's Request reads (p2p.Limits.SyncResponseMax). At the default
// p2p.max_frame_bytes it is 16 MiB, the p2p and blocksync default.
func (n *Node) syncResponseMax() int { return n.cfg.P2P.MaxFrameBytes * 4 }

// guardWipedStart protects a validator that lost its records — its data
// directory wiped, or its consensus log lost (recordsLost): its earlier
// votes are gone, so it must not vote at any height it may have voted on
// before. A validator knows it ran before from the marker file next to its
// key (see markRunning); a first start on a network that is already running
// is not guarded, since that key never signed anything. Otherwise it waits
// until enough peers have answered with verified heights (lostRecordsBound)
// and tells the core to sign no pre-prepare, prepare or commit up to the
// highest answered height plus the log window, and to start in the view
// after the highest view those answers certify. Both are stored, so a
// restart before the node gets there keeps them.
func (n *Node) guardWipedStart(ctx context.Context, r *ordering.Restore) error {
	ran := n.ranBefore()
	if ran {
		// Deleting validator.ran (a network restarting from genesis)
		// lifts a stored bound too.
		stored, err := n.storedLostRecordsBound()
		if err != nil {
			return err
		}
		r.NoVoteThroughHeight = max(r.NoVoteThroughHeight, stored.noVoteThrough)
		r.MinView = max(r.MinView, stored.minView)
	}
	// An intact log knows everything this validator signed, even when it
	// holds nothing (a validator that never voted, at genesis). A log
	// created at this start with no chain in the store may replace one
	// deleted together with the data directory.
	if !n.recordsLost && (!n.walCreated || r.Height > 0 || len(r.Records) > 0) {
		return nil
	}
	if n.vals.Size() == 1 || !ran {
		// A key that never ran signed nothing; a lone validator has no
		// peers to ask and no one to equivocate to.
		return n.resolveLostRecords(lostBound{})
	}
	logWindow := n.gen.Consensus.CheckpointInterval * ordering.DefaultLogWindowFactor
	need := lostRecordsAnswersNeeded(n.vals.Size(), n.vals.Quorum(), n.vals.F())
	gather := newLostRecordsBound(need, n.self, r.Height, logWindow)
	deadline := time.Now().Add(wipedProbeWait)
	for {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		gather.add(blocksync.Probe(pctx, n.host, n.syncer.verifier, n.otherValidators()))
		cancel()
		if b, ok := gather.bound(); ok {
			r.NoVoteThroughHeight = max(r.NoVoteThroughHeight, b.noVoteThrough)
			r.MinView = max(r.MinView, b.minView)
			n.log.Warn("validator lost its consensus records: not voting until the network is past the height its peers vouch for",
				"network_height", b.height, "no_vote_through", r.NoVoteThroughHeight, "min_view", r.MinView, "answered", len(gather.best))
			return n.resolveLostRecords(lostBound{noVoteThrough: r.NoVoteThroughHeight, minView: r.MinView})
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			// Safety first: a validator that lost its votes cannot know
			// what it signed, so it waits for peers rather than guess. An
			// operator who knows the whole network restarts from genesis
			// deletes the marker file (docs/operations.md).
			n.log.Warn("validator ran before but lost its consensus records; waiting for its peers to tell how far the network got",
				"answered", len(gather.best), "needed", gather.need, "marker", n.ranMarkerPath())
			deadline = time.Now().Add(wipedProbeWait)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// lostBound is what a validator that lost its records must stay above.
type lostBound struct {
	height        uint64 // the network height it was derived from
	noVoteThrough uint64 // sign no vote at a height ≤ this
	minView       uint64 // start in a view ≥ this
}

// lostRecordsBound gathers peers' verified status answers for
// guardWipedStart and derives the bound once enough peers answered.
//
// Which heights may the validator have voted at? Only up to its stable
// checkpoint s plus the log window (the core accepts nothing higher). s
// was stable because q validators signed a checkpoint for it; at most f of
// them are faulty and one may be this validator, so at least q−f−1 honest
// peers have executed s, and an honest peer's height never goes down. The
// guard waits for answers from need = n−(q−f−1) peers, the fewest that
// must include one of those q−f−1 — for n = 3f+1 that is q = 2f+1 peers,
// every peer but f. Waiting for f+1 is not enough: f Byzantine peers and
// one honest peer that lags (it missed that checkpoint) can all answer
// low. From the answers it takes the highest height, not the (f+1)-th
// highest: a height counts only with a commit certificate that verifies,
// so no peer can claim one the network did not reach, and a low answer,
// from a lagging or a Byzantine peer, never lowers a maximum. So the bound
// is that height plus the log window at every height, genesis included: a
// validator that lost its records at height 0 may have voted at heights
// 1 … log window.
//
// The wait costs liveness only beyond what PBFT promises: fewer than need
// answers means at least q−f−1 peers are down or refuse to answer, and
// with this validator, which lost its records, that is q−f > f faulty
// validators.
//
// The view: each answer's certificate names the view its block was
// committed in, and the node starts in the view after the highest of
// them, past every view in which an answering peer saw a commit. It may
// have signed in later views too — votes in a view whose commits no
// answering peer holds yet, view changes for views that never completed
// (up to one past the highest view for which q validators sent view
// changes) — and the probe cannot see those. There the height bound is
// what protects: in every view it signs no pre-prepare, prepare or commit
// at a height ≤ noVoteThrough, which covers every height it may have
// voted at, so resuming in a view it signed in before can make it send a
// second, different view change or NewView for that view, never a second
// vote.
type lostRecordsBound struct {
	need      int
	self      int
	local     uint64 // this node's own executed height
	logWindow uint64
	best      map[int]blocksync.PeerHeight // each peer's highest verified answer
}

func newLostRecordsBound(need, self int, localHeight, logWindow uint64) *lostRecordsBound {
	return &lostRecordsBound{
		need:      need,
		self:      self,
		local:     localHeight,
		logWindow: logWindow,
		best:      make(map[int]blocksync.PeerHeight),
	}
}

// lostRecordsAnswersNeeded is how many of n−1 peers must answer so that one
// of them is an honest peer that signed the lost validator's stable
// checkpoint (see lostRecordsBound).
func lostRecordsAnswersNeeded(n, q, f int) int {
	return min(n-1, n-(q-f-1))
}

// add takes one probe round's answers; failed ones do not count. A peer's
// answers across rounds are kept at their highest.
func (g *lostRecordsBound) add(answers []blocksync.PeerHeight) {
	for _, a := range answers {
		if a.Err != nil || a.Peer == g.self {
			continue
		}
		if old, ok := g.best[a.Peer]; !ok || a.Height > old.Height || (a.Height == old.Height && a.View > old.View) {
			g.best[a.Peer] = a
		}
	}
}

// bound returns the bound once need peers answered.
func (g *lostRecordsBound) bound() (lostBound, bool) {
	if len(g.best) < g.need {
		return lostBound{}, false
	}
	b := lostBound{height: g.local}
	var view uint64
	for _, a := range g.best {
		b.height = max(b.height, a.Height)
		view = max(view, a.View)
	}
	b.noVoteThrough = b.height + g.logWindow
	b.minView = view + 1
	return b, true
}

// Metadata of the lost-records guard.
const (
	// metaRecordsLost is set while a loss of consensus records found at
	// start-up waits for peers to bound it.
	metaRecordsLost = "consensus_records_lost"
	// metaNoVoteThrough is the height through which the node must not
	// vote after it lost its records (8 bytes big-endian).
	metaNoVoteThrough = "no_vote_through"
	// metaMinView is the lowest view the node may start in after it lost
	// its records (8 bytes big-endian).
	metaMinView = "min_view"
)

// storedLostRecordsBound returns the bound a guard stored (zero fields
// where none is).
func (n *Node) storedLostRecordsBound() (lostBound, error) {
	var b lostBound
	var err error
	if b.noVoteThrough, err = n.storedUint64(metaNoVoteThrough); err != nil {
		return b, err
	}
	b.minView, err = n.storedUint64(metaMinView)
	return b, err
}

// storedUint64 reads a big-endian uint64 from metadata name, or 0.
func (n *Node) storedUint64(name string) (uint64, error) {
	v, err := n.store().Meta(name)
	if errors.Is(err, chain.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read meta %s: %w", name, err)
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("meta %s is %d bytes, want 8", name, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// resolveLostRecords stores the bound (its non-zero parts) and then clears
// the lost-records flag: from here on the stored bound protects the node
// across restarts.
func (n *Node) resolveLostRecords(b lostBound) error {
	for _, m := range []struct {
		name string
		v    uint64
	}{{metaNoVoteThrough, b.noVoteThrough}, {metaMinView, b.minView}} {
		if m.v == 0 {
			continue
		}
		if err := n.store().PutMeta(m.name, binary.BigEndian.AppendUint64(nil, m.v)); err != nil {
			return fmt.Errorf("store %s: %w", m.name, err)
		}
	}
	if n.recordsLost {
		if err := n.store().DeleteMeta(metaRecordsLost); err != nil {
			return fmt.Errorf("clear %s: %w", metaRecordsLost, err)
		}
		n.recordsLost = false
	}
	return nil
}

// ranMarkerFile, beside the validator key, records that this key has run
// as a validator of this chain. It is written, and synced, before the core
// exists, so before the node can sign anything; an operator who moves a
// validator to a new machine moves the whole config directory with it.
const ranMarkerFile = "validator.ran"

func (n *Node) ranMarkerPath() string {
	return filepath.Join(filepath.Dir(n.cfg.KeyPath()), ranMarkerFile)
}

// ranBefore reports whether this validator key ran on this chain before.
func (n *Node) ranBefore() bool {
	data, err := os.ReadFile(n.ranMarkerPath())
	return err == nil && strings.TrimSpace(string(data)) == n.genesisHash.Hex()
}

// markRunning writes the marker (the genesis hash) durably, once.
func (n *Node) markRunning() error {
	if n.ranBefore() {
		return nil
	}
	path := n.ranMarkerPath()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.WriteString(n.genesisHash.Hex() + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil { // the new directory entry
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// syncDir makes dir's entries durable (a variable for tests).
var syncDir = syncDirEntries

func syncDirEntries(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// Sync series, read from the syncer when Prometheus scrapes.
var (
	descSyncing    = prometheus.NewDesc("bafomet_sync_syncing", "1 while block sync runs, else 0.", nil, nil)
	descSyncTarget = prometheus.NewDesc("bafomet_sync_target_height", "Height the running (or last) block sync runs to.", nil, nil)
	descSyncRate   = prometheus.NewDesc("bafomet_sync_blocks_per_second", "Block sync delivery rate over its last progress interval (0 when not syncing).", nil, nil)
	descSyncBlocks = prometheus.NewDesc("bafomet_sync_blocks_total", "Certified blocks taken from block sync.", nil, nil)
	descSyncRuns   = prometheus.NewDesc("bafomet_sync_runs_total", "Block sync runs started.", nil, nil)
	descSyncFaults = prometheus.NewDesc("bafomet_sync_peer_faults_total", "Peer faults block sync saw (bad data or no answer).", nil, nil)
	descSyncGossip = prometheus.NewDesc("bafomet_sync_gossip_frames_skipped_total", "Transaction gossip frames not admitted because block sync was running.", nil, nil)
)

// Describe implements prometheus.Collector.
func (s *syncer) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSyncing, descSyncTarget, descSyncRate, descSyncBlocks, descSyncRuns, descSyncFaults, descSyncGossip} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *syncer) Collect(ch chan<- prometheus.Metric) {
	var st blocksync.Status
	s.faultsMu.Lock()
	if p := s.status.Load(); p != nil {
		st = *p
	}
	faults := s.pastFaults
	s.faultsMu.Unlock()
	syncing, rate := 0.0, 0.0
	if st.Syncing {
		syncing, rate = 1, st.BlocksPerSec
		faults += st.Faults
	}
	ch <- prometheus.MustNewConstMetric(descSyncing, prometheus.GaugeValue, syncing)
	ch <- prometheus.MustNewConstMetric(descSyncTarget, prometheus.GaugeValue, float64(st.Target))
	ch <- prometheus.MustNewConstMetric(descSyncRate, prometheus.GaugeValue, rate)
	ch <- prometheus.MustNewConstMetric(descSyncBlocks, prometheus.CounterValue, float64(s.blocks.Load()))
	ch <- prometheus.MustNewConstMetric(descSyncRuns, prometheus.CounterValue, float64(s.runs.Load()))
	ch <- prometheus.MustNewConstMetric(descSyncFaults, prometheus.CounterValue, float64(faults))
	ch <- prometheus.MustNewConstMetric(descSyncGossip, prometheus.CounterValue, float64(s.gossipSkipped.Load()))
}
