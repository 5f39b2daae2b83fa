package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
	"github.com/bafomet/bafomet/ordering/driver"
)

// Fault is one class of fault the simulator can inject. Faults combine as a
// bit set.
type Fault uint16

// Fault classes. FaultNet covers delay jitter, loss, duplication,
// reordering, partitions that heal and swizzle-clogging; FaultCrash crashes
// nodes (between inputs, and after a record is written but before its
// message leaves) and restarts them from their persisted records;
// FaultByzantine makes the Config.Byzantine validators run scripted
// attacks; FaultTwins models them as twins instead (two unmodified cores
// sharing one key); FaultSkew skews node clocks; FaultSlow makes some nodes
// slow to hear and answer; FaultExec makes the asynchronous executor take
// a random number of ticks per block, so backlogs build up; FaultPartition
// adds long partitions and full outages, splits with no quorum on any side
// included, lasting past the longest re-send interval; FaultWithhold makes
// the Byzantine validators send view changes that hold back or pick
// certificates, show stale checkpoints and drop contents; FaultBigBlocks
// fills blocks to near MaxBlockBytes (the frame limit, enforced on every
// send, is MaxBlockBytes + FrameOverheadBytes as on a node); FaultParams
// has the seed choose the checkpoint interval and pipeline window the
// configuration leaves unset, so that runs see short log windows (records
// pruned and checkpoints adopted often) and deep pipelines.
const (
	FaultNet Fault = 1 << iota
	FaultCrash
	FaultByzantine
	FaultTwins
	FaultSkew
	FaultSlow
	FaultExec
	FaultPartition
	FaultWithhold
	FaultBigBlocks
	FaultParams
)

var faultNames = []struct {
	f    Fault
	name string
}{
	{FaultNet, "net"},
	{FaultCrash, "crash"},
	{FaultByzantine, "byzantine"},
	{FaultTwins, "twins"},
	{FaultSkew, "skew"},
	{FaultSlow, "slow"},
	{FaultExec, "exec"},
	{FaultPartition, "partition"},
	{FaultWithhold, "withhold"},
	{FaultBigBlocks, "bigblocks"},
	{FaultParams, "params"},
}

// Under FaultParams, the checkpoint intervals and pipeline windows a seed
// chooses from. Every pair keeps the core's log window (twice the interval)
// at least the pipeline window.
var (
	paramCheckpointIntervals = []uint64{2, 3, 5, 10}
	paramPipelineWindows     = []uint64{1, 2, 4}
)

// chooseParams sets, under FaultParams, the checkpoint interval and
// pipeline window left unset, from the seed alone (the run's own random
// source is not touched, so the other faults see the same draws).
func (c *Config) chooseParams() {
	if !c.Faults.Has(FaultParams) {
		return
	}
	rng := rand.New(rand.NewPCG(c.Seed, 0x706172616d73)) // "params"
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = paramCheckpointIntervals[rng.IntN(len(paramCheckpointIntervals))]
	}
	if c.PipelineWindow == 0 {
		c.PipelineWindow = paramPipelineWindows[rng.IntN(len(paramPipelineWindows))]
	}
}

// FaultAll is every fault class; ParseFaults reads it as "all".
var FaultAll = func() Fault {
	var f Fault
	for _, fn := range faultNames {
		f |= fn.f
	}
	return f
}()

// FaultNames lists the fault class names ParseFaults knows, in order.
func FaultNames() []string {
	names := make([]string, len(faultNames))
	for i, fn := range faultNames {
		names[i] = fn.name
	}
	return names
}

// Has reports whether every class in g is in f.
func (f Fault) Has(g Fault) bool { return f&g == g }

// String lists the fault classes in a fixed order, comma separated, or
// "none".
func (f Fault) String() string {
	var names []string
	for _, fn := range faultNames {
		if f.Has(fn.f) {
			names = append(names, fn.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// ErrUnknownFault is returned by ParseFaults for a name it does not know.
var ErrUnknownFault = errors.New("unknown fault")

// ParseFaults parses a comma-separated list of fault class names ("net,
// crash,byzantine"). "none" and the empty string mean no faults; "all"
// names every class.
func ParseFaults(s string) (Fault, error) {
	var f Fault
	if s == "" || s == "none" {
		return 0, nil
	}
	for _, part := range strings.Split(s, ",") {
		name := strings.TrimSpace(part)
		if name == "all" {
			f |= FaultAll
			continue
		}
		found := false
		for _, fn := range faultNames {
			if fn.name == name {
				f |= fn.f
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("%w %q (known: %s, all)", ErrUnknownFault, name, strings.Join(FaultNames(), ", "))
		}
	}
	return f, nil
}

// DefaultFaults is the fault set used when none is named: every network and
// node fault, plus Byzantine attacks when there are Byzantine validators.
func DefaultFaults(byzantine int) Fault {
	f := FaultNet | FaultCrash | FaultSkew | FaultSlow
	if byzantine > 0 {
		f |= FaultByzantine
	}
	return f
}

// Config describes one simulated run. Zero-valued tuning fields take the
// defaults below (see WithDefaults).
type Config struct {
	Seed      uint64
	Nodes     int    // validators, n ≥ 1
	Byzantine int    // Byzantine validators, 0 ≤ B ≤ f (f+1 only with AllowExcessByzantine)
	Blocks    uint64 // target height every honest node must reach
	Faults    Fault

	// WeakenQuorum lowers the cores' quorum to f+1 so that tests can prove
	// the agreement checker catches a fork. Only the simulator sets it.
	WeakenQuorum bool
	// Revert switches fixes of the cores off (ordering.Revert) so that
	// tests can prove the checkers catch each defect. Only the simulator
	// sets it.
	Revert ordering.Revert
	// AllowExcessByzantine permits f+1 Byzantine validators (the negative
	// twins test); the CLI never sets it.
	AllowExcessByzantine bool

	TickMs            uint64 // virtual milliseconds per tick
	MaxDelayTicks     int    // network delay is 1..MaxDelayTicks ticks
	DropPercent       int    // per-message loss under FaultNet
	DupPercent        int    // per-message duplication under FaultNet
	ReorderTicks      int    // extra random delay under FaultNet, which reorders
	FaultTicks        uint64 // length of the fault phase, in ticks
	LivenessTicks     uint64 // ticks after healing within which every honest node must reach the target (default LivenessBound)
	AfterHealBlocks   uint64 // the target is at least this many blocks above the highest honest height at healing
	MaxSkewMs         uint64 // clock skew is uniform in ±MaxSkewMs under FaultSkew
	SlowTicks         int    // extra delay on every message to and from a slow node
	TxPerTick         int    // client transactions submitted per tick
	MaxPendingTxs     int    // clients submit only while fewer submitted transactions than this are uncommitted (default PendingBlocks full blocks)
	MaxSyncBlocks     int    // blocks per block-sync response
	SyncCooldownTicks uint64 // minimum ticks between a node's sync requests
	ReplayBuffer      int    // messages a Byzantine replayer remembers
	FloodBatch        int    // messages per Byzantine flood burst
	CrashOneIn        int    // under FaultCrash, a crash is attempted on one tick in CrashOneIn
	MaxDownTicks      int    // a crashed node restarts after 10..10+MaxDownTicks ticks
	PartitionOneIn    int    // under FaultNet, a partition starts on one tick in PartitionOneIn
	PartitionTicks    int    // how long a partition (or a twins round) lasts
	ClogOneIn         int    // under FaultNet, a swizzle-clog episode starts on one tick in ClogOneIn
	ClogStepTicks     int    // ticks between clogging (and unclogging) successive links, at most
	// OutageTicksMax bounds a long partition or outage under
	// FaultPartition; each lasts between RetransmitTicksMax and this.
	OutageTicksMax    uint64
	AppendCrashOneIn  int // under FaultCrash, one consensus-log append in AppendCrashOneIn crashes its node before the records' messages leave
	MaxExecDelayTicks int // under FaultExec, a committed block executes 1..MaxExecDelayTicks ticks after it is queued (else at the next tick)
	MaxFrameBytes     int // the largest encoded consensus message any node sends (the node's p2p.max_frame_bytes)

	// ByzantineIDs, when set, names the Byzantine validators instead of
	// letting the seed choose; it must hold Byzantine distinct indices.
	ByzantineIDs []int
	// Attacks, when non-zero, fixes the scripted attacks of every
	// Byzantine validator instead of letting the seed choose.
	Attacks Attack

	// Partitions, when set, replaces random partitions with a script:
	// during the fault phase each entry is applied in turn for
	// PartitionTicks, giving the group of every node slot (validators in
	// index order, then one twin slot per Byzantine validator in index
	// order under FaultTwins).
	Partitions [][]int

	// Core parameters, passed to ordering.Config.
	CheckpointInterval   uint64
	PipelineWindow       uint64
	MaxBlockTxs          int
	MaxBlockBytes        int
	ViewChangeTimeout    int
	ViewChangeTimeoutMax int
	MaxClockDriftMs      uint64
	RetransmitTicks      int
	RetransmitTicksMax   int
}

// Defaults for Config's tuning fields.
const (
	DefaultTickMs          = 100
	DefaultMaxDelayTicks   = 3
	DefaultDropPercent     = 5
	DefaultDupPercent      = 5
	DefaultReorderTicks    = 4
	DefaultFaultTicks      = 400
	DefaultAfterHealBlocks = 5
	DefaultMaxSkewMs       = 500
	DefaultSlowTicks       = 4
	DefaultTxPerTick       = 2
	// PendingBlocks is how many full blocks of uncommitted transactions
	// the clients keep submitted by default: enough for every pipeline
	// window of a few view changes.
	PendingBlocks             = 16
	DefaultMaxSyncBlocks      = 32
	DefaultSyncCooldownTicks  = 20
	DefaultReplayBuffer       = 64
	DefaultFloodBatch         = 8
	DefaultCrashOneIn         = 60
	DefaultMaxDownTicks       = 90
	DefaultPartitionOneIn     = 50
	DefaultPartitionTicks     = 60
	DefaultClogOneIn          = 80
	DefaultClogStepTicks      = 5
	DefaultAppendCrashOneIn   = 200
	DefaultMaxExecDelayTicks  = 10
	DefaultMaxFrameBytes      = driver.DefaultMaxFrameBytes
	DefaultCheckpointInterval = 10
	DefaultPipelineWindow     = 2
	DefaultMaxBlockTxs        = 16
	DefaultMaxBlockBytes      = 1 << 20
	// DefaultBigBlockBytes is the block limit under FaultBigBlocks, where
	// blocks are filled to near it.
	DefaultBigBlockBytes = 64 << 10
	// FrameOverheadBytes is the room a frame has beside a block under
	// FaultBigBlocks: the node's minimum (node.FrameOverheadBytes).
	FrameOverheadBytes          = 64 << 10
	DefaultViewChangeTimeout    = 30
	DefaultViewChangeTimeoutMax = 240
	DefaultMaxClockDriftMs      = 2000
	// DefaultRetransmitTicks is above the worst healthy round trip
	// (2 × (MaxDelayTicks + ReorderTicks)), so a core re-sends only what a
	// fault lost.
	DefaultRetransmitTicks = 15
	// MaxNodes bounds Config.Nodes: every message costs a signature check on
	// every receiver, so the simulated cost grows with n².
	MaxNodes = 64
	// ChainID is the chain id of every simulated network.
	ChainID = "bafomet-sim"
)

// WithDefaults returns c with every zero tuning field set to its default.
func (c Config) WithDefaults() Config {
	setU := func(p *uint64, d uint64) {
		if *p == 0 {
			*p = d
		}
	}
	setI := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	setU(&c.TickMs, DefaultTickMs)
	setI(&c.MaxDelayTicks, DefaultMaxDelayTicks)
	setI(&c.DropPercent, DefaultDropPercent)
	setI(&c.DupPercent, DefaultDupPercent)
	setI(&c.ReorderTicks, DefaultReorderTicks)
	setU(&c.FaultTicks, DefaultFaultTicks)
	setU(&c.MaxSkewMs, DefaultMaxSkewMs)
	setI(&c.SlowTicks, DefaultSlowTicks)
	setI(&c.TxPerTick, DefaultTxPerTick)
	setI(&c.MaxSyncBlocks, DefaultMaxSyncBlocks)
	setU(&c.SyncCooldownTicks, DefaultSyncCooldownTicks)
	setI(&c.ReplayBuffer, DefaultReplayBuffer)
	setI(&c.FloodBatch, DefaultFloodBatch)
	setI(&c.CrashOneIn, DefaultCrashOneIn)
	setI(&c.MaxDownTicks, DefaultMaxDownTicks)
	setI(&c.PartitionOneIn, DefaultPartitionOneIn)
	setI(&c.PartitionTicks, DefaultPartitionTicks)
	setI(&c.ClogOneIn, DefaultClogOneIn)
	setI(&c.ClogStepTicks, DefaultClogStepTicks)
	setI(&c.AppendCrashOneIn, DefaultAppendCrashOneIn)
	setI(&c.MaxExecDelayTicks, DefaultMaxExecDelayTicks)
	c.chooseParams()
	setU(&c.CheckpointInterval, DefaultCheckpointInterval)
	setU(&c.PipelineWindow, DefaultPipelineWindow)
	setI(&c.MaxBlockTxs, DefaultMaxBlockTxs)
	if c.Faults.Has(FaultBigBlocks) {
		setI(&c.MaxBlockBytes, DefaultBigBlockBytes)
		setI(&c.MaxFrameBytes, c.MaxBlockBytes+FrameOverheadBytes)
	}
	setI(&c.MaxBlockBytes, DefaultMaxBlockBytes)
	setI(&c.MaxFrameBytes, DefaultMaxFrameBytes)
	perBlock := c.MaxBlockTxs
	if c.Faults.Has(FaultBigBlocks) {
		perBlock = min(perBlock, c.MaxBlockBytes/max(1, bigTxPadding(c.MaxBlockBytes)+txOverhead))
	}
	setI(&c.MaxPendingTxs, PendingBlocks*max(1, perBlock))
	setI(&c.ViewChangeTimeout, DefaultViewChangeTimeout)
	setI(&c.ViewChangeTimeoutMax, DefaultViewChangeTimeoutMax)
	setU(&c.MaxClockDriftMs, DefaultMaxClockDriftMs)
	setI(&c.RetransmitTicks, DefaultRetransmitTicks)
	setI(&c.RetransmitTicksMax, ordering.DefaultRetransmitBackoff*c.RetransmitTicks)
	setU(&c.OutageTicksMax, 4*uint64(c.ViewChangeTimeoutMax+c.RetransmitTicksMax))
	setU(&c.AfterHealBlocks, DefaultAfterHealBlocks)
	setU(&c.LivenessTicks, c.LivenessBound())
	return c
}

// LivenessBound is the default LivenessTicks, derived from the timeouts:
// after the last fault heals, every honest node is heard again within
// RetransmitTicksMax; up to f+2 view changes (f Byzantine primaries in a
// row, the view that was changing, the one after it) take at most
// ViewChangeTimeoutMax + RetransmitTicksMax each; a block sync takes a
// cooldown and a round trip; a backlog of blocks executes within
// MaxExecDelayTicks each; and each remaining block takes at most four
// worst-case message delays (pre-prepare, prepare, commit, and the
// proposal's wait for the commit before it).
func (c Config) LivenessBound() uint64 {
	delay := uint64(c.MaxDelayTicks + c.ReorderTicks + 2*c.SlowTicks)
	views := uint64(chain.MaxFaulty(c.Nodes) + 2)
	recover := uint64(c.RetransmitTicksMax) + views*uint64(c.ViewChangeTimeoutMax+c.RetransmitTicksMax) +
		c.SyncCooldownTicks + 2*delay
	return recover + (c.Blocks+c.AfterHealBlocks)*(4*delay+uint64(c.MaxExecDelayTicks))
}

// Errors returned by Config.Validate.
var (
	ErrNodes     = errors.New("invalid number of nodes")
	ErrByzantine = errors.New("invalid number of Byzantine validators")
	ErrBlocks    = errors.New("invalid number of blocks")
	ErrSkew      = errors.New("clock skew must stay below the allowed drift")
	ErrPartition = errors.New("invalid partition script")
)

// Validate checks the run's shape: 1 ≤ Nodes ≤ MaxNodes, 0 ≤ Byzantine ≤ f
// (f+1 with AllowExcessByzantine), Blocks ≥ 1, and a skew the cores
// tolerate. Call it on a config with defaults applied.
func (c Config) Validate() error {
	if c.Nodes < 1 || c.Nodes > MaxNodes {
		return fmt.Errorf("%w: %d (want 1..%d)", ErrNodes, c.Nodes, MaxNodes)
	}
	f := chain.MaxFaulty(c.Nodes)
	limit := f
	if c.AllowExcessByzantine {
		limit = f + 1
	}
	if c.Byzantine < 0 || c.Byzantine > limit {
		return fmt.Errorf("%w: %d with %d nodes (f = %d)", ErrByzantine, c.Byzantine, c.Nodes, f)
	}
	if c.Byzantine > 0 && !c.Faults.Has(FaultByzantine) && !c.Faults.Has(FaultTwins) && !c.Faults.Has(FaultWithhold) {
		return fmt.Errorf("%w: %d Byzantine validators need the byzantine, withhold or twins fault", ErrByzantine, c.Byzantine)
	}
	if c.Blocks < 1 {
		return fmt.Errorf("%w: %d (want ≥ 1)", ErrBlocks, c.Blocks)
	}
	if c.Faults.Has(FaultSkew) && 2*c.MaxSkewMs >= c.MaxClockDriftMs {
		return fmt.Errorf("%w: ±%d ms against %d ms", ErrSkew, c.MaxSkewMs, c.MaxClockDriftMs)
	}
	if err := c.validateByzantineIDs(); err != nil {
		return err
	}
	for i, groups := range c.Partitions {
		if len(groups) != c.Slots() {
			return fmt.Errorf("%w: round %d names %d slots, the run has %d", ErrPartition, i, len(groups), c.Slots())
		}
	}
	return nil
}

// Slots returns the number of node slots: one per validator, plus a twin
// per Byzantine validator under FaultTwins.
func (c Config) Slots() int {
	if c.Faults.Has(FaultTwins) {
		return c.Nodes + c.Byzantine
	}
	return c.Nodes
}

func (c Config) validateByzantineIDs() error {
	if c.ByzantineIDs == nil {
		return nil
	}
	if len(c.ByzantineIDs) != c.Byzantine {
		return fmt.Errorf("%w: %d ids named for %d Byzantine validators", ErrByzantine, len(c.ByzantineIDs), c.Byzantine)
	}
	seen := make(map[int]bool)
	for _, id := range c.ByzantineIDs {
		if id < 0 || id >= c.Nodes || seen[id] {
			return fmt.Errorf("%w: bad or repeated id %d", ErrByzantine, id)
		}
		seen[id] = true
	}
	return nil
}

var revertNames = []struct {
	r    ordering.Revert
	name string
}{
	{ordering.RevertNewViewRecord, "newview-record"},
	{ordering.RevertGapFreeDecided, "gap-free-decided"},
	{ordering.RevertEndlessRetransmit, "endless-retransmit"},
	{ordering.RevertHeaderOnly, "header-only"},
	{ordering.RevertViewPin, "view-pin"},
}

// ErrUnknownRevert is returned by ParseReverts for a name it does not know.
var ErrUnknownRevert = errors.New("unknown fix")

// ParseReverts parses a comma-separated list of fix names to switch off
// (`bafomet sim --revert`): newview-record, gap-free-decided,
// endless-retransmit, header-only, view-pin.
func ParseReverts(s string) (ordering.Revert, error) {
	var r ordering.Revert
	if s == "" {
		return 0, nil
	}
	for _, part := range strings.Split(s, ",") {
		name, found := strings.TrimSpace(part), false
		for _, rn := range revertNames {
			if rn.name == name {
				r, found = r|rn.r, true
			}
		}
		if !found {
			return 0, fmt.Errorf("%w %q (known: %s)", ErrUnknownRevert, name, strings.Join(RevertNames(), ", "))
		}
	}
	return r, nil
}

// RevertNames lists the names ParseReverts knows.
func RevertNames() []string {
	names := make([]string, len(revertNames))
	for i, rn := range revertNames {
		names[i] = rn.name
	}
	return names
}

// RevertString names the fixes r switches off, comma separated.
func RevertString(r ordering.Revert) string {
	var names []string
	for _, rn := range revertNames {
		if r.Has(rn.r) {
			names = append(names, rn.name)
		}
	}
	return strings.Join(names, ",")
}
