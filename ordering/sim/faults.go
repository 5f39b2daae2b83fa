package sim

import "github.com/bafomet/bafomet/ordering"

// clogAction clogs or unclogs one directed link at a tick.
type clogAction struct {
	at       uint64
	from, to int
	clog     bool
}

// faultState is the fault phase's bookkeeping. Faults are injected from
// tick 0 until FaultTicks pass or the slowest honest node reaches two
// thirds of the target; then the network heals and the liveness bound
// starts.
type faultState struct {
	healed       bool
	healTick     uint64
	partitionEnd uint64 // tick the current partition heals; 0 = none
	round        int    // next scripted partition round
	clogs        []clogAction
	restartAt    []uint64 // per slot; 0 = running
	// Under FaultPartition: the tick the long outage starts, the tick it
	// ends (0 while none runs), and whether it ran.
	outageAt, outageEnd uint64
	outageDone          bool
	outageOver          uint64 // the tick the long outage ended
	healHeightMax       uint64 // highest honest height when the faults healed
	// Under FaultWithhold: from commitsLostAt until commitsLostEnd, commits
	// between honest validators are lost (a Byzantine one still gets them).
	commitsLostAt, commitsLostEnd uint64
	massCrashAt                   uint64   // a mass crash is due (after a NewView); 0 = none
	crashAt                       []uint64 // per slot: a crash is due (after a stable checkpoint in a view change); 0 = none
	execStallEnd                  uint64   // under FaultExec, no executor finishes a block before this tick
}

// setupNodeFaults fixes per-node properties for the whole run: clock skew
// and slow nodes. Twin slots get a distinct clock so that twins propose
// different blocks, as two real machines would.
func (s *Sim) setupNodeFaults() {
	s.fault.restartAt = make([]uint64, len(s.nodes))
	s.fault.crashAt = make([]uint64, len(s.nodes))
	if s.cfg.Faults.Has(FaultPartition) {
		s.fault.outageAt = s.rng.Uint64N(max(1, s.cfg.FaultTicks))
	}
	if s.cfg.Faults.Has(FaultWithhold) {
		s.fault.commitsLostAt = s.rng.Uint64N(max(1, s.cfg.FaultTicks/2))
		s.fault.commitsLostEnd = s.fault.commitsLostAt + 2*uint64(s.cfg.ViewChangeTimeoutMax)
	}
	if s.cfg.Faults.Has(FaultSkew) {
		span := int64(2*s.cfg.MaxSkewMs + 1)
		for _, n := range s.nodes {
			n.skewMs = s.rng.Int64N(span) - int64(s.cfg.MaxSkewMs)
		}
	}
	for _, n := range s.nodes {
		if n.twin {
			n.skewMs += twinClockOffsetMs
		}
	}
	if s.cfg.Faults.Has(FaultSlow) {
		slow := max(1, s.vs.F())
		for _, slot := range s.rng.Perm(len(s.nodes))[:min(slow, len(s.nodes))] {
			s.net.slow[slot] = s.cfg.SlowTicks
		}
	}
	if s.cfg.Faults.Has(FaultNet) {
		s.net.faults = netFaults{
			dropPercent:  s.cfg.DropPercent,
			dupPercent:   s.cfg.DupPercent,
			reorderTicks: s.cfg.ReorderTicks,
		}
	}
}

// twinClockOffsetMs separates a twin's clock from its sibling's.
const twinClockOffsetMs = 7

// faultTick injects, advances or heals faults for this tick.
func (s *Sim) faultTick() {
	if s.fault.healed {
		return
	}
	if s.fault.outageEnd != 0 {
		if s.now < s.fault.outageEnd {
			s.restartDue()
			return
		}
		s.endOutage()
	}
	if s.cfg.Faults.Has(FaultPartition) && !s.fault.outageDone && (s.now >= s.fault.outageAt || s.faultPhaseOver()) {
		s.startOutage()
		return
	}
	if !s.phased() || s.faultPhaseOver() {
		s.heal()
		return
	}
	s.restartDue()
	if s.cfg.Faults.Has(FaultCrash) {
		s.maybeCrash()
		if at := s.fault.massCrashAt; at != 0 && s.now >= at {
			s.fault.massCrashAt = 0
			s.massCrash()
		}
		s.crashDue()
	}
	s.partitionTick()
	if s.cfg.Faults.Has(FaultExec) {
		s.execStallTick()
	}
	if s.cfg.Faults.Has(FaultNet) {
		s.clogTick()
	}
}

// commitLost reports whether the network loses commit m from n to slot to:
// under FaultWithhold, for a while, commits between honest validators are
// lost, so that only a Byzantine validator collects certificates — the
// setting in which withholding them could stall the chain.
func (s *Sim) commitLost(n *node, to int, m *ordering.Message) bool {
	f := &s.fault
	return m.Type == ordering.MsgCommit && !f.healed && s.now >= f.commitsLostAt && s.now < f.commitsLostEnd &&
		n.honest && s.nodes[to].honest
}

// phased reports whether the run has faults that stop when the network
// heals; Byzantine validators, skew and slow nodes never stop.
func (s *Sim) phased() bool {
	return s.cfg.Faults&(FaultNet|FaultCrash|FaultTwins|FaultPartition|FaultWithhold) != 0 || len(s.cfg.Partitions) > 0
}

// faultPhaseOver reports whether the fault phase has run its course.
// Under FaultPartition it lasts at least 2 × ViewChangeTimeoutMax ticks
// past the long outage, so that crashes also find nodes recovering from it
// (syncing, adopting checkpoints, waiting in a view change).
func (s *Sim) faultPhaseOver() bool {
	if s.fault.outageDone && s.now < s.fault.outageOver+2*uint64(s.cfg.ViewChangeTimeoutMax) {
		return false
	}
	return s.now >= s.cfg.FaultTicks || s.minHonestHeight() >= s.healHeight()
}

// Kinds of long outage under FaultPartition.
const (
	outageNoQuorum = iota // groups no larger than q−1: no side can commit
	outageFull            // every node alone
	outageMinority        // f nodes cut off; the rest have a quorum
	outageKinds
)

// startOutage starts the run's long outage: a split with no quorum on any
// side, a full outage or a cut-off minority, lasting between
// RetransmitTicksMax and OutageTicksMax ticks. Other faults pause while it
// runs.
func (s *Sim) startOutage() {
	slots := len(s.nodes)
	groups := make([]int, slots)
	order := s.rng.Perm(slots)
	switch s.rng.IntN(outageKinds) {
	case outageNoQuorum:
		size := max(1, s.quorum()-1)
		for i, slot := range order {
			groups[slot] = i / size
		}
	case outageFull:
		for i := range groups {
			groups[i] = i
		}
	default:
		for _, slot := range order[:max(1, s.vs.F())] {
			groups[slot] = 1
		}
	}
	s.net.partition(groups)
	s.fault.partitionEnd = 0
	span := s.cfg.OutageTicksMax - min(s.cfg.OutageTicksMax, uint64(s.cfg.RetransmitTicksMax))
	s.fault.outageEnd = s.now + uint64(s.cfg.RetransmitTicksMax) + s.rng.Uint64N(span+1)
	s.stats.Outages++
}

// endOutage reconnects every slot; the fault phase goes on (or heals).
func (s *Sim) endOutage() {
	s.net.partition(make([]int, len(s.nodes)))
	s.fault.outageEnd, s.fault.outageDone, s.fault.outageOver = 0, true, s.now
}

// healHeight is the honest height at which the fault phase ends early, so
// that the last third of the target is reached on a healed network.
func (s *Sim) healHeight() uint64 { return s.cfg.Blocks * 2 / 3 }

// heal ends the fault phase: partitions, clogs and loss go, crashed nodes
// restart. Byzantine validators stay Byzantine; skew and slow nodes stay.
func (s *Sim) heal() {
	s.fault.healed, s.fault.healTick = true, s.now
	s.fault.execStallEnd, s.fault.massCrashAt = 0, 0
	clear(s.fault.crashAt)
	for _, n := range s.nodes {
		if n.honest {
			s.fault.healHeightMax = max(s.fault.healHeightMax, n.store.height())
		}
	}
	s.net.heal()
	s.fault.clogs = nil
	for _, n := range s.nodes {
		if !n.up {
			s.restart(n)
		}
	}
}

func (s *Sim) restart(n *node) {
	s.fault.restartAt[n.slot] = 0
	if err := s.start(n); err != nil {
		s.fail(err)
	}
}

func (s *Sim) restartDue() {
	for _, n := range s.nodes {
		if at := s.fault.restartAt[n.slot]; !n.up && at != 0 && s.now >= at {
			s.restart(n)
			s.endStep()
		}
	}
}

// maybeCrash crashes a random running node now and then, keeping at most
// max(1, f) nodes down at once.
func (s *Sim) maybeCrash() {
	if s.rng.IntN(s.cfg.CrashOneIn) != 0 {
		return
	}
	if s.rng.IntN(massCrashOneIn) == 0 {
		s.massCrash()
		return
	}
	if !s.mayCrashOne() {
		return
	}
	n := s.nodes[s.rng.IntN(len(s.nodes))]
	if !n.up {
		return
	}
	s.crash(n)
	s.scheduleRestart(n)
}

// execStallOneIn is how rarely, per tick of the fault phase under
// FaultExec, every executor stalls (slow storage) for between
// ViewChangeTimeout and ViewChangeTimeout + 3 × ViewChangeTimeoutMax ticks:
// long enough for view changes to run while committed blocks wait to be
// stored, so that crashes find them unstored.
const execStallOneIn = 150

func (s *Sim) execStallTick() {
	if s.now < s.fault.execStallEnd || s.rng.IntN(execStallOneIn) != 0 {
		return
	}
	s.fault.execStallEnd = s.now + uint64(s.cfg.ViewChangeTimeout+s.rng.IntN(3*s.cfg.ViewChangeTimeoutMax))
	s.stats.ExecStalls++
}

// massCrashOneIn is how rarely a crash takes a quorum or more at once.
const massCrashOneIn = 5

// noteNewView is called when a node enters a view by a NewView. Under
// FaultCrash, one time in newViewCrashOneIn a mass crash follows within
// a few ticks: the moment in which validators vote in the new view while
// the blocks it decided may still wait for their executor.
func (s *Sim) noteNewView() {
	if !s.cfg.Faults.Has(FaultCrash) || s.fault.healed || s.fault.massCrashAt != 0 || s.rng.IntN(newViewCrashOneIn) != 0 {
		return
	}
	s.fault.massCrashAt = s.now + 1 + uint64(s.rng.IntN(newViewCrashWithin))
}

// After a NewView, how rarely a mass crash follows, and within how many ticks.
const (
	newViewCrashOneIn  = 3
	newViewCrashWithin = 6
)

// noteStable is called when node n stores stable checkpoint p. Under
// FaultCrash, if n is in a view change or has not executed up to p (it
// adopted its peers' checkpoint), one time in stableCrashOneIn it crashes
// within a few ticks: the moment in which the checkpoint may prune every
// record that says which view n had reached, so that a restart must still
// find one.
func (s *Sim) noteStable(n *node, p *ordering.CheckpointProof) {
	lagging := p.Height > n.store.height()
	if !s.cfg.Faults.Has(FaultCrash) || s.fault.healed || !n.soft.InViewChange && !lagging || s.fault.crashAt[n.slot] != 0 ||
		s.rng.IntN(stableCrashOneIn) != 0 {
		return
	}
	s.fault.crashAt[n.slot] = s.now + 1 + uint64(s.rng.IntN(stableCrashWithin))
}

// After a stable checkpoint in a view change, how rarely the node crashes,
// and within how many ticks.
const (
	stableCrashOneIn  = 2
	stableCrashWithin = 4
)

// crashDue crashes the nodes whose crash noteStable scheduled, keeping at
// most max(1, f) nodes down at once.
func (s *Sim) crashDue() {
	for _, n := range s.nodes {
		if at := s.fault.crashAt[n.slot]; at == 0 || s.now < at {
			continue
		}
		s.fault.crashAt[n.slot] = 0
		if n.up && s.mayCrashOne() {
			s.crash(n)
			s.scheduleRestart(n)
			s.stats.StableCrashes++
		}
	}
}

// massCrash crashes between q and all nodes at once (a power failure of a
// shared site): safety must hold whatever crashes, and the run waits for
// them to restart. Nodes down already stay down until their restart.
func (s *Sim) massCrash() {
	k := s.quorum() + s.rng.IntN(len(s.nodes)-s.quorum()+1)
	for _, slot := range s.rng.Perm(len(s.nodes))[:k] {
		if n := s.nodes[slot]; n.up {
			s.crash(n)
			s.scheduleRestart(n)
		}
	}
	s.stats.MassCrashes++
}

// mayCrashOne reports whether one more node may go down: at most
// max(1, f) are down at once.
func (s *Sim) mayCrashOne() bool {
	down := 0
	for _, n := range s.nodes {
		if !n.up {
			down++
		}
	}
	return down < max(1, s.vs.F())
}

// scheduleRestart picks when a node that crashes now restarts.
func (s *Sim) scheduleRestart(n *node) {
	s.fault.restartAt[n.slot] = s.now + 10 + uint64(s.rng.IntN(s.cfg.MaxDownTicks))
}

// crashAtAppend decides, under FaultCrash during the fault phase, whether
// a consensus-log append crashes its node after the write and before the
// records' messages leave.
func (s *Sim) crashAtAppend() bool {
	if !s.cfg.Faults.Has(FaultCrash) || s.fault.healed {
		return false
	}
	return s.rng.IntN(s.cfg.AppendCrashOneIn) == 0 && s.mayCrashOne()
}

// partitionTick runs the partition schedule: scripted rounds when
// Config.Partitions is set, twin-splitting rounds under FaultTwins, random
// splits now and then under FaultNet.
func (s *Sim) partitionTick() {
	if s.fault.partitionEnd != 0 && s.now < s.fault.partitionEnd {
		return
	}
	if s.fault.partitionEnd != 0 {
		s.fault.partitionEnd = 0
		s.net.partition(make([]int, len(s.nodes)))
	}
	switch {
	case len(s.cfg.Partitions) > 0:
		if s.fault.round >= len(s.cfg.Partitions) {
			return
		}
		s.setPartition(s.cfg.Partitions[s.fault.round])
		s.fault.round++
	case s.twins():
		s.setPartition(s.twinSplit())
	case s.cfg.Faults.Has(FaultNet) && s.rng.IntN(s.cfg.PartitionOneIn) == 0:
		groups := make([]int, len(s.nodes))
		parts := 2 + s.rng.IntN(2)
		for i := range groups {
			groups[i] = s.rng.IntN(parts)
		}
		s.setPartition(groups)
	}
}

func (s *Sim) setPartition(groups []int) {
	s.net.partition(groups)
	s.fault.partitionEnd = s.now + uint64(s.cfg.PartitionTicks)
	s.stats.Partitions++
}

// twinSplit assigns every slot to one of two or three groups, always
// separating each pair of twins.
func (s *Sim) twinSplit() []int {
	groups := make([]int, len(s.nodes))
	parts := 2 + s.rng.IntN(2)
	for _, n := range s.nodes {
		if !n.twin {
			groups[n.slot] = s.rng.IntN(parts)
		}
	}
	for _, n := range s.nodes {
		if n.twin {
			g := groups[n.id] + 1 + s.rng.IntN(parts-1)
			groups[n.slot] = g % parts
		}
	}
	return groups
}

// clogTick runs swizzle-clogging: now and then pick a random subset of
// directed links, clog them one at a time, then unclog them one at a time
// in a different random order.
func (s *Sim) clogTick() {
	for len(s.fault.clogs) > 0 && s.fault.clogs[0].at <= s.now {
		a := s.fault.clogs[0]
		s.fault.clogs = s.fault.clogs[1:]
		s.net.clogged[a.from][a.to] = a.clog
	}
	if len(s.fault.clogs) > 0 || s.rng.IntN(s.cfg.ClogOneIn) != 0 {
		return
	}
	var links [][2]int
	for i := range s.nodes {
		for j := range s.nodes {
			if i != j {
				links = append(links, [2]int{i, j})
			}
		}
	}
	if len(links) == 0 {
		return
	}
	s.rng.Shuffle(len(links), func(i, j int) { links[i], links[j] = links[j], links[i] })
	links = links[:1+s.rng.IntN(len(links))]
	step := uint64(1 + s.rng.IntN(s.cfg.ClogStepTicks))
	at := s.now
	for _, l := range links {
		s.fault.clogs = append(s.fault.clogs, clogAction{at: at, from: l[0], to: l[1], clog: true})
		at += step
	}
	s.rng.Shuffle(len(links), func(i, j int) { links[i], links[j] = links[j], links[i] })
	for _, l := range links {
		s.fault.clogs = append(s.fault.clogs, clogAction{at: at, from: l[0], to: l[1], clog: false})
		at += step
	}
	s.stats.Clogs++
}
