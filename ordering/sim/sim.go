package sim

import (
	"crypto/ecdsa"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
)

// genesisTimeMs is the virtual wall-clock time at tick 0, unix ms.
const genesisTimeMs = 1_700_000_000_000

// Options are the simulator's seams for tests.
type Options struct {
	// NewReplica starts a core; nil means ordering.New.
	NewReplica ReplicaFactory
	// Logger receives debug lines about rejected inputs; nil discards them.
	Logger *slog.Logger
}

// Stats counts what happened in a run besides network traffic.
type Stats struct {
	Crashes       uint64 `json:"crashes"`
	Partitions    uint64 `json:"partitions"`
	Outages       uint64 `json:"outages"`        // long outages under FaultPartition
	MassCrashes   uint64 `json:"mass_crashes"`   // crashes of a quorum or more at once
	StableCrashes uint64 `json:"stable_crashes"` // crashes right after a stable checkpoint stored in a view change or above the executed height
	ExecStalls    uint64 `json:"exec_stalls"`    // periods in which no executor finished a block
	Clogs         uint64 `json:"clogs"`
	SyncRequests  uint64 `json:"sync_requests"`
	SyncedBlocks  uint64 `json:"synced_blocks"`
	Rejected      uint64 `json:"rejected"`
	Evidence      uint64 `json:"evidence"`
	ByzantineOut  uint64 `json:"byzantine_messages"`
	Oversize      uint64 `json:"oversize"` // messages not sent: over Config.MaxFrameBytes
}

// Sim is one seeded run. Everything random comes from rng, so a seed
// reproduces the run exactly.
type Sim struct {
	cfg   Config
	opts  Options
	rng   *rand.Rand
	keys  []*ecdsa.PrivateKey
	vs    *chain.ValidatorSet
	nodes []*node
	net   *network
	check *checker
	work  *workload
	now   uint64
	steps uint64
	stats Stats
	err   error
	fault faultState
	// drop, when set, loses the consensus messages it returns true for;
	// scripted scenarios use it to cut exactly one kind of message.
	drop func(from, to int, m *ordering.Message) bool
	// twinRun says the Byzantine validators are twins in this run.
	twinRun bool

	genesis        *chain.Block
	genesisAppHash chain.Hash
}

// ErrSim reports that the simulator itself failed (not an invariant).
var ErrSim = errors.New("simulator failure")

// New builds a simulation from cfg (defaults applied, validated).
func New(cfg Config, opts Options) (*Sim, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.NewReplica == nil {
		opts.NewReplica = newCore
	}
	s := &Sim{
		cfg:  cfg,
		opts: opts,
		rng:  rand.New(rand.NewPCG(cfg.Seed, 0x62616661_6d6574)), // "bafomet"
		keys: ValidatorKeys(cfg.Seed, cfg.Nodes),
	}
	vs, err := ValidatorSet(s.keys)
	if err != nil {
		return nil, err
	}
	s.vs = vs
	s.work = newWorkload(cfg.Seed, ChainID)
	if cfg.Faults.Has(FaultBigBlocks) {
		s.work.padding = bigTxPadding(cfg.MaxBlockBytes)
	}
	s.makeGenesis()
	s.twinRun = cfg.Faults.Has(FaultTwins)
	if s.twinRun && cfg.Byzantine > 0 && cfg.Faults&(FaultByzantine|FaultWithhold) != 0 {
		s.twinRun = s.rng.IntN(2) == 0
	}
	honest := s.chooseByzantine()
	s.check = newChecker(cfg.Seed, ChainID, vs, s.quorum(), honest, s.work.txHash)
	for _, n := range s.nodes {
		n.byz = s.newByzantine(n)
	}
	s.net = newNetwork(s.rng, len(s.nodes), cfg.MaxDelayTicks)
	s.setupNodeFaults()
	for _, n := range s.nodes {
		if err := s.start(n); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// txOverhead is the size of a simulated transaction beyond its padding:
// signature, nonce, chain id, payload prefix, RLP.
const txOverhead = 200

// bigTxPadding is the payload padding under FaultBigBlocks: two
// transactions fill a block to within a few hundred bytes of maxBlockBytes.
func bigTxPadding(maxBlockBytes int) int {
	return max(0, maxBlockBytes/2-txOverhead)
}

func (s *Sim) quorum() int {
	if s.cfg.WeakenQuorum {
		return chain.MaxFaulty(s.cfg.Nodes) + 1
	}
	return s.vs.Quorum()
}

func (s *Sim) makeGenesis() {
	var seed [8]byte
	binary.BigEndian.PutUint64(seed[:], s.cfg.Seed)
	s.genesisAppHash = crypto.Keccak256Hash([]byte("bafomet/sim/genesis"), seed[:])
	s.genesis = &chain.Block{Header: chain.Header{
		Height:         0,
		Timestamp:      genesisTimeMs,
		AppHash:        s.genesisAppHash,
		ValidatorsHash: s.vs.Hash(),
		TxRoot:         chain.TxRoot(nil, nil),
	}}
}

// chooseByzantine picks the Byzantine validators by seed and lays out the
// node slots: one per validator, plus a twin slot per Byzantine validator
// under FaultTwins. It returns honesty by validator index.
func (s *Sim) chooseByzantine() []bool {
	n := s.cfg.Nodes
	honest := make([]bool, n)
	for i := range honest {
		honest[i] = true
	}
	perm := s.rng.Perm(n)
	byz := perm[:s.cfg.Byzantine]
	if s.cfg.ByzantineIDs != nil {
		byz = s.cfg.ByzantineIDs
	}
	for _, id := range byz {
		honest[id] = false
	}
	for id := range n {
		s.nodes = append(s.nodes, &node{slot: id, id: id, honest: honest[id]})
	}
	if s.twins() {
		for _, id := range slices.Sorted(slices.Values(byz)) {
			s.nodes = append(s.nodes, &node{slot: len(s.nodes), id: id, twin: true})
		}
	}
	return honest
}

// twins reports whether the Byzantine validators of this run are twins.
// When scripted attacks (byzantine, withhold) are selected too, as under
// "all", the seed picks one model per run.
func (s *Sim) twins() bool { return s.twinRun }

// coreConfig is the ordering.Config of validator id.
func (s *Sim) coreConfig(id int) ordering.Config {
	c := s.cfg
	return ordering.Config{
		ChainID:              ChainID,
		Validators:           s.vs,
		Self:                 id,
		Signer:               ordering.NewKeySigner(s.keys[id]),
		Checker:              proposalChecker{s.work},
		CheckpointInterval:   c.CheckpointInterval,
		PipelineWindow:       c.PipelineWindow,
		MaxBlockTxs:          c.MaxBlockTxs,
		MaxBlockBytes:        c.MaxBlockBytes,
		ViewChangeTimeout:    c.ViewChangeTimeout,
		ViewChangeTimeoutMax: c.ViewChangeTimeoutMax,
		MaxClockDriftMs:      c.MaxClockDriftMs,
		RetransmitTicks:      c.RetransmitTicks,
		RetransmitTicksMax:   c.RetransmitTicksMax,
		WeakenQuorum:         c.WeakenQuorum,
		Revert:               c.Revert,
	}
}

// start (re)starts a node's core and driver from its storage; its
// volatile state (pool, executor queue, soft state) is fresh. A restarted
// node asks a peer for the blocks it missed.
func (s *Sim) start(n *node) error {
	if n.store == nil {
		n.store = newStorage(s.genesis, s.genesisAppHash)
	} else {
		n.syncing = true
	}
	core, err := s.opts.NewReplica(s.coreConfig(n.id), n.store.restore(s.cfg.PipelineWindow))
	if err != nil {
		return fmt.Errorf("%w: start slot %d: %w", ErrSim, n.slot, err)
	}
	n.up = true
	n.pool = newPool(s.work)
	s.resubmit(n)
	n.exec = &executor{s: s, n: n}
	n.soft, n.syncHint = ordering.SoftState{}, 0
	n.lastProgress = s.now
	n.drv, err = s.newDriver(n, core)
	if errors.Is(err, errCrashPoint) {
		s.crash(n)
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: start slot %d: %w", ErrSim, n.slot, err)
	}
	return nil
}

// resubmit gives a (re)started node's empty pool every submitted
// transaction no honest node has committed yet, as its peers' mempools
// would by gossip.
func (s *Sim) resubmit(n *node) {
	for i, tx := range s.work.txs {
		if _, in := s.check.txsIn[tx.hash]; !in {
			n.pool.add(i, tx.hash)
		}
	}
}

// crash stops a node: its core, driver, pool and executor queue are gone;
// storage stays.
func (s *Sim) crash(n *node) {
	n.up, n.drv, n.pool, n.exec = false, nil, nil, nil
	s.stats.Crashes++
}

// fail records a simulator failure and stops the run.
func (s *Sim) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

func (s *Sim) logf(format string, args ...any) {
	if s.opts.Logger != nil {
		s.opts.Logger.Debug(fmt.Sprintf(format, args...), "seed", s.cfg.Seed, "tick", s.now)
	}
}

// endStep closes one simulated step: one input handed to one core and its
// outputs drained. The checker has seen every event of the step.
func (s *Sim) endStep() {
	s.steps++
	s.check.step = s.steps
}

// stopped reports whether the run must end: a simulator failure or an
// invariant violation (the first violation is the one to reproduce).
func (s *Sim) stopped() bool { return s.err != nil || len(s.check.violations) > 0 }

// Run executes the simulation to completion and returns its result. The
// error is non-nil only when the simulator itself failed.
func (s *Sim) Run() (*Result, error) {
	for s.Tick() {
	}
	if s.err != nil {
		return nil, s.err
	}
	return s.result(), nil
}

// Tick simulates one tick: faults, due deliveries, node ticks, client
// submissions. It reports whether the run continues.
func (s *Sim) Tick() bool {
	s.check.tick = s.now
	s.faultTick()
	s.deliverDue()
	if !s.stopped() {
		s.tickNodes()
	}
	if !s.stopped() {
		s.submitTxs()
	}
	if s.stopped() || s.finished() {
		return false
	}
	s.now++
	return true
}

// finished reports whether the run is over: the faults healed and every
// honest node reached the target — Blocks, and AfterHealBlocks more than
// the highest honest height when the last fault healed, so that every run
// shows the chain moving on a healthy network. When LivenessTicks pass
// after healing without that, it records a liveness violation.
func (s *Sim) finished() bool {
	if !s.fault.healed {
		return false
	}
	target := s.target()
	if s.minHonestHeight() >= target {
		return true
	}
	if s.now < s.fault.healTick+s.cfg.LivenessTicks {
		return false
	}
	var slots []int
	low, view := target, uint64(0)
	for _, n := range s.nodes {
		if n.honest && n.store.height() < target {
			slots = append(slots, n.slot)
			low, view = min(low, n.store.height()), max(view, n.maxView)
		}
	}
	s.check.liveness(slots, low, view, target, s.cfg.LivenessTicks)
	return true
}

// target is the height every honest node must reach once healed.
func (s *Sim) target() uint64 {
	return max(s.cfg.Blocks, s.fault.healHeightMax+s.cfg.AfterHealBlocks)
}

func (s *Sim) minHonestHeight() uint64 {
	var h uint64
	first := true
	for _, n := range s.nodes {
		if n.honest && (first || n.store.height() < h) {
			h, first = n.store.height(), false
		}
	}
	return h
}

// deliverDue delivers every packet due by now, one step each.
func (s *Sim) deliverDue() {
	for p := s.net.next(s.now); p != nil; p = s.net.next(s.now) {
		n := s.nodes[p.to]
		if !n.up {
			continue
		}
		switch p.kind {
		case kindConsensus:
			s.deliverMsg(n, p)
		case kindSyncReq:
			s.serveSync(n, p.from, p.payload)
		case kindSyncResp:
			s.applySync(n, p.payload)
		}
		s.endStep()
		if s.stopped() {
			return
		}
	}
}

func (s *Sim) deliverMsg(n *node, p *packet) {
	m, err := decodeMessage(p.payload)
	if err != nil {
		s.stats.Rejected++
		s.logf("slot %d: undecodable message from slot %d: %v", n.slot, p.from, err)
		return
	}
	if n.byz != nil {
		n.byz.remember(m)
		s.withholdEarly(n, m)
	}
	s.feed(n, n.drv.Step(m))
}

// tickNodes advances every running node by one tick, one step each: its
// executor reports the blocks due, its driver ticks, and block sync starts
// where the node needs it.
func (s *Sim) tickNodes() {
	for _, n := range s.nodes {
		if !n.up {
			continue
		}
		s.runExecutor(n)
		if n.up {
			s.feed(n, n.drv.Tick(time.UnixMilli(int64(s.clockMs(n)))))
		}
		if n.byz != nil && n.up {
			s.byzTick(n)
		}
		if n.up && s.needsSync(n) {
			s.requestSync(n)
		}
		s.endStep()
		if s.stopped() {
			return
		}
	}
}

// submitTxs has the clients submit TxPerTick transactions to every running
// node's pool, unless MaxPendingTxs submitted transactions are not yet in any
// honest node's committed blocks: clients that wait for their transactions,
// like real ones, so that a stalled chain does not grow an unbounded backlog.
func (s *Sim) submitTxs() {
	for range s.cfg.TxPerTick {
		if len(s.work.txs)-len(s.check.txsIn) >= s.cfg.MaxPendingTxs {
			break
		}
		tx, err := s.work.next()
		if err != nil {
			s.fail(fmt.Errorf("%w: %w", ErrSim, err))
			return
		}
		s.check.submit(tx.hash, tx.sender)
		i := len(s.work.txs) - 1
		for _, n := range s.nodes {
			if n.up {
				n.pool.add(i, tx.hash)
			}
		}
	}
	for _, n := range s.nodes {
		if n.up {
			s.feed(n, n.drv.TxArrived())
		}
	}
}
