package statesync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/snapshot"
	"github.com/bafomet/bafomet/node/blocksync"
	"github.com/bafomet/bafomet/ordering"
)

// Restorer defaults.
const (
	DefaultFetchers         = 4
	DefaultRequestTimeout   = 30 * time.Second
	DefaultPeerCooldown     = blocksync.DefaultPeerCooldown
	DefaultProgressInterval = 3 * time.Second
)

// Limits bounds a restore. Zero fields take the Default* values.
type Limits struct {
	Fetchers         int           // chunk requests in flight at once, over all peers
	RequestTimeout   time.Duration // one request, end to end
	PeerCooldown     time.Duration // how long a peer that served a bad chunk or nothing is left out
	ProgressInterval time.Duration // how often progress is logged
}

func (l Limits) withDefaults() Limits {
	if l.Fetchers <= 0 {
		l.Fetchers = DefaultFetchers
	}
	if l.RequestTimeout <= 0 {
		l.RequestTimeout = DefaultRequestTimeout
	}
	if l.PeerCooldown <= 0 {
		l.PeerCooldown = DefaultPeerCooldown
	}
	if l.ProgressInterval <= 0 {
		l.ProgressInterval = DefaultProgressInterval
	}
	return l
}

// Config configures a Restorer.
type Config struct {
	ChainID            string
	Validators         *chain.ValidatorSet
	CheckpointInterval uint64
	Requester          blocksync.Requester
	Peers              []int // validator indexes to ask (not this node)
	Limits             Limits
	Log                *slog.Logger // nil means slog.Default()
}

// Sink takes a restored state: *chain.Store implements it.
type Sink interface {
	ImportStateEntries([]chain.StateEntry) error
	FinishStateImport(chain.StateImportHead) error
}

// Candidate is a snapshot that at least f+1 distinct validators offered
// with the same manifest hash: at least one of them is honest, so the
// manifest is the one an honest node cut from the state at Height.
type Candidate struct {
	Height   uint64
	Manifest chain.Hash
	Peers    []int // the validators that offered it
}

// Result is a restored snapshot: its manifest and its verified stable
// checkpoint proof.
type Result struct {
	Manifest *snapshot.Manifest
	Proof    *ordering.CheckpointProof
}

// Progress is what a restore has done so far.
type Progress struct {
	Restoring   bool
	Height      uint64 // of the snapshot being restored
	ChunksDone  int
	Chunks      int
	Bytes       uint64 // chunk bytes restored
	TotalBytes  uint64
	BytesPerSec float64
	ETA         time.Duration
	Faults      uint64 // bad or missing answers from peers
}

// Restorer finds a snapshot its peers agree on and restores it into a
// Sink. It trusts no single peer: a manifest counts only when f+1
// validators offer it and its checkpoint proof verifies against the
// validator set, and every chunk must hash to what the manifest names.
type Restorer struct {
	cfg      Config
	lim      Limits
	log      *slog.Logger
	verifier *blocksync.Verifier

	mu       sync.Mutex
	cooldown map[int]time.Time // peer → left out until
	progress Progress
	started  time.Time

	faults atomic.Uint64
}

// New returns a restorer.
func New(cfg Config) (*Restorer, error) {
	switch {
	case cfg.Validators == nil:
		return nil, errors.New("statesync: no validator set")
	case cfg.Requester == nil:
		return nil, errors.New("statesync: no requester")
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	return &Restorer{
		cfg: cfg, lim: cfg.Limits.withDefaults(), log: log,
		verifier: blocksync.NewVerifier(cfg.ChainID, cfg.Validators, cfg.CheckpointInterval),
		cooldown: map[int]time.Time{},
	}, nil
}

// Progress returns the restore's progress.
func (r *Restorer) Progress() Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.progress
	p.Faults = r.faults.Load()
	if el := time.Since(r.started).Seconds(); p.Restoring && el > 0 {
		p.BytesPerSec = float64(p.Bytes) / el
		if p.BytesPerSec > 0 && p.TotalBytes > p.Bytes {
			p.ETA = time.Duration(float64(p.TotalBytes-p.Bytes) / p.BytesPerSec * float64(time.Second))
		}
	}
	return p
}

func (r *Restorer) request(ctx context.Context, peer int, req *Request) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, r.lim.RequestTimeout)
	defer cancel()
	return r.cfg.Requester.Request(ctx, peer, EncodeRequest(req))
}

// Discover asks every peer for its offers and returns the candidates at or
// below maxHeight (0: any), newest first, and how many peers answered and
// how many of those offered any snapshot at all.
func (r *Restorer) Discover(ctx context.Context, maxHeight uint64) (cands []Candidate, answered, offering int) {
	type answer struct {
		peer   int
		offers []Offer
	}
	answers := make([]answer, len(r.cfg.Peers))
	var wg sync.WaitGroup
	for i, p := range r.cfg.Peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw, err := r.request(ctx, p, &Request{Version: ProtocolVersion, Kind: KindSnapshots})
			if err != nil {
				r.log.Debug("state sync: no offers from peer", "peer", p, "err", err)
				return
			}
			resp, err := DecodeOffers(raw)
			if err != nil {
				r.faults.Add(1)
				r.log.Warn("state sync: bad offers from peer", "peer", p, "err", err)
				return
			}
			answers[i] = answer{peer: p, offers: append([]Offer{}, resp.Offers...)} // non-nil: it answered
		}()
	}
	wg.Wait()
	byOffer := map[Offer][]int{}
	for _, a := range answers {
		if a.offers != nil {
			answered++
			if len(a.offers) > 0 {
				offering++
			}
		}
		for _, o := range a.offers {
			if maxHeight == 0 || o.Height <= maxHeight {
				byOffer[o] = append(byOffer[o], a.peer)
			}
		}
	}
	need := r.cfg.Validators.F() + 1
	for o, peers := range byOffer {
		if len(peers) >= need {
			slices.Sort(peers)
			cands = append(cands, Candidate{Height: o.Height, Manifest: o.Manifest, Peers: peers})
		}
	}
	slices.SortFunc(cands, func(a, b Candidate) int {
		if a.Height != b.Height {
			return compare(b.Height, a.Height)
		}
		if len(a.Peers) != len(b.Peers) {
			return len(b.Peers) - len(a.Peers)
		}
		return a.Manifest.Cmp(b.Manifest)
	})
	return cands, answered, offering
}

func compare(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Restore fetches the candidate's manifest and proof, checks them, then
// fetches, checks and imports every chunk into sink from the candidate's
// peers in parallel, and finishes the import. A peer that answers a chunk
// wrongly or not at all is left out for the cool-down and the chunk is
// fetched from another; the restore fails only when no peer can give a
// chunk. Nothing of a failed restore is finished in sink.
func (r *Restorer) Restore(ctx context.Context, c Candidate, sink Sink) (*Result, error) {
	res, err := r.fetchManifest(ctx, c)
	if err != nil {
		return nil, err
	}
	m := res.Manifest
	r.mu.Lock()
	r.progress = Progress{Restoring: true, Height: m.Height, Chunks: len(m.Chunks), TotalBytes: m.Bytes}
	r.started = time.Now()
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.progress.Restoring = false
		r.mu.Unlock()
	}()
	r.log.Info("state sync: restoring snapshot", "height", m.Height, "chunks", len(m.Chunks), "bytes", m.Bytes,
		"entries", m.Entries, "app_hash", m.AppHash, "peers", c.Peers)
	lt, err := r.fetchChunks(ctx, c, m, sink)
	if err != nil {
		return nil, err
	}
	proofBytes, err := encodeProof(res.Proof)
	if err != nil {
		return nil, fmt.Errorf("encode checkpoint proof: %w", err)
	}
	head := chain.StateImportHead{Height: m.Height, BlockHash: m.BlockHash, AppHash: m.AppHash, LtHash: lt, Checkpoint: proofBytes}
	if err := sink.FinishStateImport(head); err != nil {
		return nil, fmt.Errorf("finish restore of snapshot %d: %w", m.Height, err)
	}
	p := r.Progress()
	r.log.Info("state sync: snapshot restored", "height", m.Height, "chunks", p.Chunks, "bytes", p.Bytes,
		"took", time.Since(r.started).Round(time.Millisecond), "faults", p.Faults)
	return res, nil
}

// fetchManifest gets the candidate's manifest from one of its peers and
// checks it: its hash is the candidate's, it decodes, it is for this
// chain, and the proof with it certifies its height, block hash and
// appHash with a quorum of the validator set.
func (r *Restorer) fetchManifest(ctx context.Context, c Candidate) (*Result, error) {
	var errs []error
	for _, p := range c.Peers {
		res, err := r.manifestFrom(ctx, p, c)
		if err == nil {
			return res, nil
		}
		r.faults.Add(1)
		r.coolDown(p)
		errs = append(errs, fmt.Errorf("peer %d: %w", p, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("manifest of snapshot %d: %w", c.Height, errors.Join(errs...))
}

func (r *Restorer) manifestFrom(ctx context.Context, peer int, c Candidate) (*Result, error) {
	raw, err := r.request(ctx, peer, &Request{Version: ProtocolVersion, Kind: KindManifest, Height: c.Height})
	if err != nil {
		return nil, err
	}
	resp, err := DecodeManifestResponse(raw)
	if err != nil {
		return nil, err
	}
	m, err := snapshot.DecodeManifest(resp.Manifest)
	if err != nil {
		return nil, err
	}
	if m.Hash() != c.Manifest || m.Height != c.Height {
		return nil, fmt.Errorf("manifest %s at %d is not the one offered (%s)", m.Hash(), m.Height, c.Manifest)
	}
	if m.ChainID != r.cfg.ChainID {
		return nil, fmt.Errorf("manifest of chain %q, want %q", m.ChainID, r.cfg.ChainID)
	}
	proof, err := r.verifier.DecodeCheckpoint(resp.Proof)
	if err != nil {
		return nil, err
	}
	if err := r.verifier.VerifyCheckpoint(proof); err != nil {
		return nil, err
	}
	if proof.Height != m.Height || proof.BlockHash != m.BlockHash || proof.AppHash != m.AppHash {
		return nil, fmt.Errorf("checkpoint proof (%d, %s, %s) does not certify the manifest (%d, %s, %s)",
			proof.Height, proof.BlockHash, proof.AppHash, m.Height, m.BlockHash, m.AppHash)
	}
	return &Result{Manifest: m, Proof: proof}, nil
}

func (r *Restorer) coolDown(peer int) {
	r.mu.Lock()
	r.cooldown[peer] = time.Now().Add(r.lim.PeerCooldown)
	r.mu.Unlock()
}

// pickPeer returns the peer to ask for a chunk: the first of peers, in
// rotation from start, that is not cooling down and has not failed this
// chunk; or, when all that remain are cooling down, how long to wait.
func (r *Restorer) pickPeer(peers []int, start int, failed map[int]bool) (peer int, wait time.Duration, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	wait = -1
	for k := range peers {
		p := peers[(start+k)%len(peers)]
		if failed[p] {
			continue
		}
		if until := r.cooldown[p]; now.Before(until) {
			if d := until.Sub(now); wait < 0 || d < wait {
				wait = d
			}
			continue
		}
		return p, 0, true
	}
	return 0, wait, false
}

// fetchChunks fetches every chunk with Limits.Fetchers workers and
// returns the accumulator of all their entries.
func (r *Restorer) fetchChunks(ctx context.Context, c Candidate, m *snapshot.Manifest, sink Sink) (*chain.LtHash, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range m.Chunks {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var (
		mu  sync.Mutex
		acc chain.LtHash
		wg  sync.WaitGroup
	)
	stopLog := r.logProgress(ctx)
	defer stopLog()
	for range min(r.lim.Fetchers, max(len(m.Chunks), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				lt, err := r.fetchChunk(ctx, c, m, i, sink)
				if err != nil {
					cancel(err)
					return
				}
				mu.Lock()
				acc.Combine(lt)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return &acc, nil
}

// fetchChunk fetches chunk i from the candidate's peers until one serves
// it as the manifest names it, imports it, and returns its accumulator.
func (r *Restorer) fetchChunk(ctx context.Context, c Candidate, m *snapshot.Manifest, i int, sink Sink) (*chain.LtHash, error) {
	failed := map[int]bool{}
	for {
		peer, wait, ok := r.pickPeer(c.Peers, i, failed)
		if !ok {
			if wait < 0 {
				return nil, fmt.Errorf("chunk %d of snapshot %d: every peer offering it failed", i, m.Height)
			}
			select {
			case <-time.After(wait):
				continue
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			}
		}
		entries, size, err := r.chunkFrom(ctx, peer, m, i)
		if err != nil {
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			r.faults.Add(1)
			r.coolDown(peer)
			failed[peer] = true
			r.log.Warn("state sync: bad chunk from peer; fetching it from another", "chunk", i, "peer", peer, "err", err)
			continue
		}
		lt := snapshot.LtHashOf(entries)
		if err := sink.ImportStateEntries(entries); err != nil {
			return nil, fmt.Errorf("import chunk %d of snapshot %d: %w", i, m.Height, err)
		}
		r.mu.Lock()
		r.progress.ChunksDone++
		r.progress.Bytes += uint64(size)
		r.mu.Unlock()
		return lt, nil
	}
}

func (r *Restorer) chunkFrom(ctx context.Context, peer int, m *snapshot.Manifest, i int) ([]chain.StateEntry, int, error) {
	raw, err := r.request(ctx, peer, &Request{Version: ProtocolVersion, Kind: KindChunk, Height: m.Height, Index: uint64(i)})
	if err != nil {
		return nil, 0, err
	}
	resp, err := DecodeChunkResponse(raw)
	if err != nil {
		return nil, 0, err
	}
	if got := snapshot.ChunkHash(resp.Chunk); got != m.Chunks[i] {
		return nil, 0, fmt.Errorf("chunk hashes to %s, the manifest names %s", got, m.Chunks[i])
	}
	entries, err := snapshot.DecodeChunk(resp.Chunk)
	if err != nil {
		return nil, 0, err
	}
	return entries, len(resp.Chunk), nil
}

// logProgress logs progress every ProgressInterval until the returned
// function is called.
func (r *Restorer) logProgress(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(r.lim.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p := r.Progress()
				r.log.Info("state sync: restoring", "height", p.Height, "chunks_done", p.ChunksDone, "chunks", p.Chunks,
					"bytes", p.Bytes, "total_bytes", p.TotalBytes, "bytes_per_sec", int64(p.BytesPerSec), "eta", p.ETA.Round(time.Second), "faults", p.Faults)
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func encodeProof(p *ordering.CheckpointProof) ([]byte, error) { return rlp.EncodeToBytes(p) }
