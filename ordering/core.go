package ordering

import (
	"errors"
	"fmt"
	"sort"

	"github.com/bafomet/bafomet/chain"
)

// Defaults for Config values left at zero.
const (
	DefaultCheckpointInterval   = 100
	DefaultPipelineWindow       = 1
	DefaultLogWindowFactor      = 2
	DefaultViewChangeTimeout    = 20
	DefaultViewChangeTimeoutMax = 640
	DefaultRetransmitTicks      = 5
	DefaultRetransmitBackoff    = 8
	DefaultMaxEvidence          = 64
	DefaultMaxClockDriftMs      = 10_000
)

// Errors Step and friends return when they ignore an input. They describe
// why; the driver logs them at debug level. An ignored input changes nothing.
var (
	ErrStaleView       = errors.New("message from an older view")
	ErrFutureView      = errors.New("message from a view this node has not entered")
	ErrOutsideWindow   = errors.New("height outside the watermarks")
	ErrNotPrimary      = errors.New("sender is not the primary of the view")
	ErrInViewChange    = errors.New("node is changing view")
	ErrDuplicate       = errors.New("duplicate message")
	ErrCommitted       = errors.New("height already committed")
	ErrConflict        = errors.New("conflicting message (kept as evidence)")
	ErrInvalidProposal = errors.New("invalid proposal")
	ErrInvalidProof    = errors.New("invalid proof")
	ErrOwnMessage      = errors.New("message signed with this node's own index")
	ErrNoSlot          = errors.New("no proposal slot open")
	ErrAlreadySigned   = errors.New("this node already signed a different hash at this view and height")
)

// Core is the PBFT ordering state machine of one validator. It is not safe
// for concurrent use: one goroutine of the driver feeds and drains it.
type Core struct {
	// Configuration, fixed at New.
	cfg  Config
	vs   *chain.ValidatorSet
	n    int
	q    int // quorum
	f    int
	self uint32

	// The view this node is in, and the step function of its role there.
	view         uint64
	inViewChange bool
	step         func(c *Core, m *Message) error // role-specific, set by become*

	// The committed chain and its execution.
	// Invariant: stable <= committed when not Behind, executed <= committed.
	committed     uint64
	committedHash chain.Hash
	committedTs   uint64
	certs         map[uint64]*chain.Certificate // commit certificates of heights in (stable, committed], when known
	hashes        map[uint64]chain.Hash         // committed block hashes in (stable, committed]
	executed      uint64
	appHashes     map[uint64]chain.Hash // appHash after executed heights ≥ executed+1−W
	stable        uint64
	stableProof   *CheckpointProof

	// What the NewView of this view fixed.
	decided      uint64                        // heights ≤ decided are fixed by the view's NewView (decidedBase)
	decidedCerts map[uint64]*chain.Certificate // the NewView's certificates of heights in (committed, decided]
	carried      map[chain.Hash]*chain.Block   // blocks received for the view change this node leads, by hash

	// The message log: heights in (stable, stable+LogWindow].
	slots       map[uint64]*slot
	signed      map[voteKey]*Message           // votes this node signed, heights > stable
	checkpoints map[uint64]map[uint32]*Message // checkpoint votes by height and sender

	// What other validators showed, for view synchronisation and Behind.
	viewChanges       map[uint32]*Message // each validator's highest view change (this node's included)
	peerCheckpoints   map[uint32]*Message // each sender's highest checkpoint
	peerCommitHeights map[uint32]uint64   // each sender's highest commit height, any view
	lagTarget         uint64              // highest height a quorum committed that this node cannot deliver
	lagSince          uint64              // tick at which lagTarget first exceeded committed
	replied           map[uint32]uint64   // tick of the last catch-up reply per peer

	// This node's latest messages of each kind, re-sent while stuck.
	ownViewChange *Message // this node's view change for view
	newView       *Message // the NewView this node sent or entered view by
	ownCheckpoint *Message // this node's latest checkpoint
	// pin is the record a restart needs to resume in this node's view: its
	// view change while it waits for a NewView, else the NewView it entered
	// the view by (nil in view 0 before any view change). pinKey is the
	// prune height of its latest persisted copy.
	pin    *Message
	pinKey uint64

	// Protection after lost records (Restore.NoVoteThroughHeight).
	noVoteThrough uint64

	// Time and timers, in ticks.
	nowMs       uint64
	ticks       uint64 // ticks since New
	pending     bool   // the driver holds transactions to order
	elapsed     int    // ticks since progress while the view-change timer runs
	timeout     int    // the view-change timeout now (backed off)
	sinceResend int    // stuck ticks since the last re-send
	resends     int    // re-sends since the last progress (backs the interval off)

	// Outputs until Advance, and the proposal slot offered and not re-armed since.
	out     readyOut
	offered *ProposalSlot
	// signErr is the first failure of the Signer; Ready hands it out until
	// the driver stops.
	signErr error
}

// readyOut accumulates outputs until Advance.
type readyOut struct {
	persist   []Record
	msgs      []Outbound
	committed []Committed
	stable    *CheckpointProof
	evidence  []Evidence
}

type voteKey struct {
	t      MsgType
	view   uint64
	height uint64
}

// New returns a core configured by cfg and restored from r.
func New(cfg Config, r Restore) (*Core, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	n := cfg.Validators.Size()
	c := &Core{
		cfg: cfg, vs: cfg.Validators, n: n, f: chain.MaxFaulty(n), self: uint32(cfg.Self),
		q:                 quorum(n, cfg.WeakenQuorum),
		hashes:            map[uint64]chain.Hash{},
		certs:             map[uint64]*chain.Certificate{},
		decidedCerts:      map[uint64]*chain.Certificate{},
		carried:           map[chain.Hash]*chain.Block{},
		appHashes:         map[uint64]chain.Hash{},
		slots:             map[uint64]*slot{},
		signed:            map[voteKey]*Message{},
		checkpoints:       map[uint64]map[uint32]*Message{},
		peerCheckpoints:   map[uint32]*Message{},
		peerCommitHeights: map[uint32]uint64{},
		viewChanges:       map[uint32]*Message{},
		replied:           map[uint32]uint64{},
		timeout:           cfg.ViewChangeTimeout,
	}
	if err := c.restore(r); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	return c, nil
}

func withDefaults(cfg Config) (Config, error) {
	if cfg.Validators == nil || cfg.Signer == nil {
		return cfg, errors.New("config: Validators and Signer are required")
	}
	if cfg.Self < 0 || cfg.Self >= cfg.Validators.Size() {
		return cfg, fmt.Errorf("config: Self %d is not a validator index (n=%d)", cfg.Self, cfg.Validators.Size())
	}
	if cfg.ChainID == "" {
		return cfg, errors.New("config: empty ChainID")
	}
	setDefault(&cfg.CheckpointInterval, DefaultCheckpointInterval)
	setDefault(&cfg.PipelineWindow, DefaultPipelineWindow)
	setDefault(&cfg.LogWindow, DefaultLogWindowFactor*cfg.CheckpointInterval)
	setDefault(&cfg.ViewChangeTimeout, DefaultViewChangeTimeout)
	setDefault(&cfg.ViewChangeTimeoutMax, DefaultViewChangeTimeoutMax)
	setDefault(&cfg.RetransmitTicks, DefaultRetransmitTicks)
	setDefault(&cfg.RetransmitTicksMax, DefaultRetransmitBackoff*cfg.RetransmitTicks)
	setDefault(&cfg.MaxEvidence, DefaultMaxEvidence)
	setDefault(&cfg.MaxClockDriftMs, DefaultMaxClockDriftMs)
	if cfg.LogWindow < cfg.PipelineWindow || cfg.LogWindow < cfg.CheckpointInterval {
		return cfg, fmt.Errorf("config: LogWindow %d must be ≥ PipelineWindow %d and ≥ CheckpointInterval %d",
			cfg.LogWindow, cfg.PipelineWindow, cfg.CheckpointInterval)
	}
	if cfg.RetransmitTicksMax < cfg.RetransmitTicks {
		return cfg, fmt.Errorf("config: RetransmitTicksMax %d < RetransmitTicks %d", cfg.RetransmitTicksMax, cfg.RetransmitTicks)
	}
	if cfg.ViewChangeTimeoutMax < cfg.ViewChangeTimeout {
		return cfg, fmt.Errorf("config: ViewChangeTimeoutMax %d < ViewChangeTimeout %d",
			cfg.ViewChangeTimeoutMax, cfg.ViewChangeTimeout)
	}
	return cfg, nil
}

func setDefault[T int | uint64](v *T, d T) {
	if *v == 0 {
		*v = d
	}
}

// quorum returns ⌊2n/3⌋+1, or f+1 when weakened for the simulator's
// negative test.
func quorum(n int, weaken bool) int {
	if weaken {
		return chain.MaxFaulty(n) + 1
	}
	return chain.Quorum(n)
}

func (c *Core) primaryOf(v uint64) uint32 { return uint32(v % uint64(c.n)) }
func (c *Core) isPrimary() bool           { return c.primaryOf(c.view) == c.self }
func (c *Core) highWatermark() uint64     { return c.stable + c.cfg.LogWindow }
func (c *Core) inWindow(h uint64) bool    { return h > c.stable && h <= c.highWatermark() }

// Step feeds a message from a peer. The core verifies the signature and
// every rule; an error says why the message was ignored, and an ignored
// message leaves the core unchanged (apart from evidence it revealed).
func (c *Core) Step(m *Message) error {
	if m == nil {
		return fmt.Errorf("%w: nil", ErrMsgMalformed)
	}
	if err := VerifyMessage(c.cfg.ChainID, c.vs, m); err != nil {
		return err
	}
	if m.From == c.self {
		return ErrOwnMessage
	}
	if m.Type == MsgCommit {
		c.noteFarCommit(m)
	}
	if m.Type == MsgPrePrepare && m.View < c.view {
		return c.stepCarriedBlock(m)
	}
	switch m.Type {
	case MsgCheckpoint:
		return c.stepCheckpoint(m)
	case MsgViewChange:
		return c.stepViewChange(m)
	case MsgNewView:
		return c.stepNewView(m)
	}
	return c.step(c, m)
}

// becomeNormal enters view v in normal operation.
func (c *Core) becomeNormal(v uint64) {
	c.view, c.inViewChange = v, false
	if c.isPrimary() {
		c.step = stepPrimary
	} else {
		c.step = stepBackup
	}
}

// becomeViewChange enters view v waiting for its NewView.
func (c *Core) becomeViewChange(v uint64) {
	c.view, c.inViewChange = v, true
	c.step = stepViewChanging
}

func stepPrimary(c *Core, m *Message) error {
	switch m.Type {
	case MsgPrepare:
		return c.stepPrepare(m)
	case MsgCommit:
		return c.stepCommit(m)
	}
	return fmt.Errorf("%w: %s from %d in view %d", ErrNotPrimary, m.Type, m.From, c.view)
}

func stepBackup(c *Core, m *Message) error {
	switch m.Type {
	case MsgPrePrepare:
		return c.stepPrePrepare(m)
	case MsgPrepare:
		return c.stepPrepare(m)
	case MsgCommit:
		return c.stepCommit(m)
	}
	return fmt.Errorf("%w: %s reached a backup's normal-case step", ErrMsgUnknownType, m.Type)
}

func stepViewChanging(c *Core, m *Message) error {
	if m.View > c.view {
		return fmt.Errorf("%w: %s view %d, node waits for new view %d", ErrFutureView, m.Type, m.View, c.view)
	}
	return fmt.Errorf("%w: %s view %d dropped while waiting for new view %d", ErrInViewChange, m.Type, m.View, c.view)
}

// NotePending tells the core whether the driver holds transactions waiting
// to be ordered; while it does, the view-change timer runs. NotePending(true)
// also re-offers a proposal slot the driver declined.
func (c *Core) NotePending(pending bool) {
	if pending {
		c.offered = nil
	}
	c.pending = pending
}

// Tick advances time by one tick; nowMs is the driver's clock (unix ms),
// used only for the proposal-timestamp drift check (skipped while 0).
func (c *Core) Tick(nowMs uint64) {
	c.nowMs = nowMs
	c.ticks++
	c.offered = nil
	if c.timerRunning() {
		c.elapsed++
		if c.elapsed >= c.timeout {
			c.elapsed = 0
			c.timeout = min(2*c.timeout, c.cfg.ViewChangeTimeoutMax)
			c.startViewChange(c.view + 1)
		}
	} else {
		c.elapsed = 0
	}
	if c.stuck() {
		c.sinceResend++
		if c.sinceResend >= c.retransmitInterval() && (!c.cfg.Revert.Has(RevertEndlessRetransmit) || c.resends < RevertedRetransmits) {
			c.sinceResend = 0
			c.resends++
			c.retransmit()
		}
	} else {
		c.sinceResend = 0
	}
}

// timerRunning reports whether the view-change timer counts: the node
// holds pending work or knows an uncommitted proposal, or it waits for a
// NewView and a quorum of view changes for its view exists. As in PBFT, a
// node escalates past view v+1 only after q view changes for v+1: a node
// alone in a view change waits there (re-sending its view change) for the
// others to join or to pull it into a higher view (f+1 rule).
func (c *Core) timerRunning() bool {
	if c.inViewChange {
		return c.countViewChanges(c.view) >= c.q
	}
	return c.pending || c.inFlight()
}

// countViewChanges counts the validators (this node included) whose latest
// view change is for view v.
func (c *Core) countViewChanges(v uint64) int {
	n := 0
	for _, m := range c.viewChanges { // counting: order is irrelevant
		if m.View == v {
			n++
		}
	}
	return n
}

// inFlight reports whether a proposal above the committed height is known
// in the current view (pre-prepared, or re-proposed by the NewView and
// waiting for its block).
func (c *Core) inFlight() bool {
	for h := c.committed + 1; h <= c.committed+c.cfg.PipelineWindow; h++ {
		if s := c.slots[h]; s != nil && s.view == c.view && (s.pp != nil || s.reproposed != nil) {
			return true
		}
	}
	return false
}

// stuck reports whether this node waits on others and should re-send its
// latest messages.
func (c *Core) stuck() bool {
	next := c.committed + 1
	votedNext := c.signed[voteKey{MsgPrepare, c.view, next}] != nil || c.signed[voteKey{MsgCommit, c.view, next}] != nil
	return c.inViewChange || c.inFlight() || votedNext || (c.ownCheckpoint != nil && c.ownCheckpoint.Height > c.stable)
}

// gapFree reports whether decided heights must be certified without a gap
// (always, unless the simulator switched the fix off).
func (c *Core) gapFree() bool { return !c.cfg.Revert.Has(RevertGapFreeDecided) }

// retransmitInterval is the number of stuck ticks before the next re-send:
// RetransmitTicks doubled per re-send since the last progress, capped at
// RetransmitTicksMax.
func (c *Core) retransmitInterval() int {
	if c.cfg.Revert.Has(RevertEndlessRetransmit) {
		return c.cfg.RetransmitTicks
	}
	return min(c.cfg.RetransmitTicks<<min(c.resends, 20), c.cfg.RetransmitTicksMax)
}

// progress notes that the chain moved: timers and re-send budgets restart.
func (c *Core) progress() {
	c.elapsed, c.sinceResend, c.resends = 0, 0, 0
	if !c.inViewChange {
		c.timeout = c.cfg.ViewChangeTimeout
	}
}

// retransmit re-sends this node's latest messages for what is stuck.
func (c *Core) retransmit() {
	if c.inViewChange {
		if c.ownViewChange != nil {
			c.send(Broadcast, c.ownViewChange)
			c.sendCarriedBlocks()
		}
	} else {
		if c.newView != nil && c.isPrimary() {
			c.send(Broadcast, c.newView)
		}
		for h := c.committed + 1; h <= c.committed+c.cfg.PipelineWindow; h++ {
			for _, t := range []MsgType{MsgPrePrepare, MsgPrepare, MsgCommit} {
				if m := c.signed[voteKey{t, c.view, h}]; m != nil {
					c.send(Broadcast, m)
				}
			}
		}
	}
	if c.ownCheckpoint != nil && c.ownCheckpoint.Height > c.stable {
		c.send(Broadcast, c.ownCheckpoint)
	}
}

// SoftState returns the volatile state for display.
func (c *Core) SoftState() SoftState {
	return SoftState{
		View: c.view, Primary: int(c.primaryOf(c.view)), InViewChange: c.inViewChange,
		Committed: c.committed, Executed: c.executed, Stable: c.stable, Behind: c.behind(),
	}
}

// HasReady reports whether Ready has something new for the driver.
func (c *Core) HasReady() bool {
	o := &c.out
	if len(o.persist) > 0 || len(o.msgs) > 0 || len(o.committed) > 0 || o.stable != nil || len(o.evidence) > 0 || c.signErr != nil {
		return true
	}
	p := c.proposalSlot()
	return p != nil && (c.offered == nil || *c.offered != *p)
}

// Ready returns the outputs accumulated since the last Advance.
func (c *Core) Ready() Ready {
	return Ready{
		Persist:   c.out.persist,
		Messages:  c.out.msgs,
		Committed: c.out.committed,
		Stable:    c.out.stable,
		Evidence:  c.out.evidence,
		SoftState: c.SoftState(),
		Propose:   c.proposalSlot(),
		SignErr:   c.signErr,
	}
}

// Advance tells the core the driver handled rd (persisted, sent, executed).
func (c *Core) Advance(rd Ready) {
	o := &c.out
	o.persist = o.persist[len(rd.Persist):]
	o.msgs = o.msgs[len(rd.Messages):]
	o.committed = o.committed[len(rd.Committed):]
	o.evidence = o.evidence[len(rd.Evidence):]
	if rd.Stable != nil && o.stable == rd.Stable {
		o.stable = nil
	}
	if rd.Propose != nil {
		p := *rd.Propose
		c.offered = &p
	}
}

// send queues m for sending to a validator index or Broadcast.
func (c *Core) send(to int, m *Message) {
	if c.n == 1 {
		return
	}
	c.out.msgs = append(c.out.msgs, Outbound{To: to, Msg: m})
}

// signOwn signs m as this node and queues it for persisting. Votes
// (pre-prepare, prepare, commit) are checked against everything this node
// signed before at the same (type, view, height): the same hash returns the
// earlier message, a different one is refused with ErrAlreadySigned (the
// caller leaves that vote unsent: refusing is the point). A failure of the
// Signer is kept for Ready.SignErr, which stops the driver.
func (c *Core) signOwn(m *Message) (*Message, error) {
	m.From = c.self
	isVote := m.Type == MsgPrePrepare || m.Type == MsgPrepare || m.Type == MsgCommit
	if isVote {
		if m.Height <= c.noVoteThrough {
			return nil, fmt.Errorf("%w: height %d ≤ %d after data loss", ErrAlreadySigned, m.Height, c.noVoteThrough)
		}
		k := voteKey{m.Type, m.View, m.Height}
		if prev := c.signed[k]; prev != nil {
			if prev.Digest != m.Digest {
				return nil, fmt.Errorf("%w: %s view %d height %d", ErrAlreadySigned, m.Type, m.View, m.Height)
			}
			return prev, nil
		}
	}
	if err := SignMessage(c.cfg.Signer, c.cfg.ChainID, m); err != nil {
		if c.signErr == nil {
			c.signErr = err
		}
		return nil, err
	}
	if isVote {
		c.signed[voteKey{m.Type, m.View, m.Height}] = m
	}
	c.persist(m)
	return m, nil
}

// persist queues m for the driver to store, prunable at its own height.
func (c *Core) persist(m *Message) {
	c.out.persist = append(c.out.persist, Record{Msg: m, Height: m.Height})
}

// pinView makes m the record that pins this node's view. A NewView from
// the primary (key 0) is persisted here; this node's own view change or
// NewView was persisted by signOwn with prune height key.
func (c *Core) pinView(m *Message, key uint64) {
	c.pin, c.pinKey = m, key
	if key == 0 {
		c.repin()
	}
}

// repin persists the pinning record again with a prune height above the
// stable checkpoint, so that pruning at the checkpoint keeps a copy.
func (c *Core) repin() {
	c.pinKey = max(c.pin.Height, c.highWatermark())
	c.out.persist = append(c.out.persist, Record{Msg: c.pin, Height: c.pinKey})
}

// addEvidence records two conflicting messages from one signer, bounded by
// MaxEvidence per Ready.
func (c *Core) addEvidence(a, b *Message) {
	if len(c.out.evidence) < c.cfg.MaxEvidence {
		c.out.evidence = append(c.out.evidence, Evidence{A: a, B: b})
	}
}

func sortedKeys[K ~uint32 | ~uint64, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}
