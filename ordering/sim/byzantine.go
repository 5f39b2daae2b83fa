package sim

import (
	"strings"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
)

// Attack is one scripted Byzantine behaviour. A Byzantine validator runs a
// real core and a seeded subset of these attacks on what it sends.
type Attack uint8

// Attacks.
const (
	AttackEquivocate Attack = 1 << iota // as primary, different blocks to two halves of the network, and votes to match
	AttackWrongVote                     // prepares and commits for a hash that was never proposed
	AttackBadSig                        // messages with corrupted signatures
	AttackSilent                        // periods of sending nothing and serving no blocks
	AttackReplay                        // re-sends old messages, its own and its peers'
	AttackFlood                         // bursts of validly signed far-future views and heights
	AttackForgeSync                     // serves block sync with altered blocks under genuine certificates
	AttackWithhold                      // view changes that hold back or pick certificates, show stale checkpoints, drop contents
	attackAll        = AttackEquivocate | AttackWrongVote | AttackBadSig | AttackSilent | AttackReplay | AttackFlood | AttackForgeSync | AttackWithhold
)

var attackNames = []string{"equivocate", "wrong-vote", "bad-sig", "silent", "replay", "flood", "forge-sync", "withhold"}

// String lists the attacks, comma separated.
func (a Attack) String() string {
	var names []string
	for i, name := range attackNames {
		if a&(1<<i) != 0 {
			names = append(names, name)
		}
	}
	return strings.Join(names, ",")
}

// Far-future offsets used by the flood attack.
const (
	floodHeightOffset = 1 << 20
	floodViewOffset   = 1 << 10
)

type viewHeight struct{ view, height uint64 }

// byzantine is the attack state of one scripted Byzantine validator.
type byzantine struct {
	attacks     Attack
	signer      ordering.Signer
	silentNow   bool
	silentUntil uint64
	replay      []*ordering.Message // ring of remembered messages
	replayNext  int
	firstHalf   []bool                    // by validator index: receives the original proposal
	alt         map[viewHeight]chain.Hash // equivocated (view, height) → alternative block hash
	withheldFor uint64                    // highest view it sent a withholding view change for
	oldStable   *ordering.CheckpointProof // the first stable checkpoint it stored (a stale one later)
}

// newByzantine returns the attack state for a scripted Byzantine node, or
// nil for an honest node or a twin (twins run unmodified cores).
func (s *Sim) newByzantine(n *node) *byzantine {
	if n.honest || s.twins() || s.cfg.Faults&(FaultByzantine|FaultWithhold) == 0 {
		return nil
	}
	attacks := s.cfg.Attacks
	if attacks == 0 && s.cfg.Faults.Has(FaultByzantine) {
		attacks = Attack(1 + s.rng.IntN(int(attackAll)))
	}
	if s.cfg.Faults.Has(FaultWithhold) {
		attacks |= AttackWithhold
	}
	b := &byzantine{
		attacks:   attacks,
		signer:    ordering.NewKeySigner(s.keys[n.id]),
		firstHalf: make([]bool, s.cfg.Nodes),
		alt:       make(map[viewHeight]chain.Hash),
		replay:    make([]*ordering.Message, 0, s.cfg.ReplayBuffer),
	}
	for i, id := range s.rng.Perm(s.cfg.Nodes) {
		b.firstHalf[id] = i%2 == 0
	}
	return b
}

// remember keeps m for later replay.
func (b *byzantine) remember(m *ordering.Message) {
	if b.attacks&AttackReplay == 0 || m == nil {
		return
	}
	if len(b.replay) < cap(b.replay) {
		b.replay = append(b.replay, m)
		return
	}
	if len(b.replay) > 0 {
		b.replay[b.replayNext%len(b.replay)] = m
		b.replayNext++
	}
}

// byzSend sends one outbound message of a Byzantine node through its
// attacks.
func (s *Sim) byzSend(n *node, o ordering.Outbound) {
	b := n.byz
	if b.silentNow {
		return
	}
	b.remember(o.Msg)
	targets := s.targets(n, o.To)
	m := o.Msg
	switch {
	case b.attacks&AttackWithhold != 0 && m.Type == ordering.MsgViewChange:
		s.sendSigned(n, s.withhold(n, m), targets)
	case b.attacks&AttackEquivocate != 0 && m.Type == ordering.MsgPrePrepare && m.Block != nil:
		s.equivocate(n, m, targets)
	case b.attacks&AttackEquivocate != 0 && isVote(m) && b.hasAlt(m):
		s.splitVote(n, m, targets)
	case b.attacks&AttackWrongVote != 0 && isVote(m) && s.rng.IntN(2) == 0:
		s.sendSigned(n, withDigest(m, s.randomHash()), targets)
	case b.attacks&AttackBadSig != 0 && s.rng.IntN(3) == 0:
		bad := *m
		bad.Signature = append([]byte(nil), m.Signature...)
		if len(bad.Signature) > 5 {
			bad.Signature[5] ^= 0x5a
		}
		s.stats.ByzantineOut++
		s.sendMsg(n, &bad, targets)
	default:
		s.check.observe(m)
		s.sendMsg(n, m, targets)
	}
}

func isVote(m *ordering.Message) bool {
	return m.Type == ordering.MsgPrepare || m.Type == ordering.MsgCommit
}

func (b *byzantine) hasAlt(m *ordering.Message) bool {
	_, ok := b.alt[viewHeight{m.View, m.Height}]
	return ok
}

// equivocate sends the core's proposal to one half of the validators and a
// different block for the same (view, height) to the other half.
func (s *Sim) equivocate(n *node, m *ordering.Message, targets []int) {
	altBlock := *m.Block
	altBlock.Header.Timestamp++
	alt := *m
	alt.Block = &altBlock
	alt.Digest = altBlock.Hash()
	n.byz.alt[viewHeight{m.View, m.Height}] = alt.Digest
	first, second := s.halves(n, targets)
	s.check.observe(m)
	s.sendMsg(n, m, first)
	s.sendSigned(n, &alt, second)
}

// splitVote votes for the core's block to the first half and for the
// equivocated alternative to the second.
func (s *Sim) splitVote(n *node, m *ordering.Message, targets []int) {
	first, second := s.halves(n, targets)
	s.check.observe(m)
	s.sendMsg(n, m, first)
	s.sendSigned(n, withDigest(m, n.byz.alt[viewHeight{m.View, m.Height}]), second)
}

func (s *Sim) halves(n *node, targets []int) (first, second []int) {
	for _, slot := range targets {
		if n.byz.firstHalf[s.nodes[slot].id] {
			first = append(first, slot)
		} else {
			second = append(second, slot)
		}
	}
	return first, second
}

func withDigest(m *ordering.Message, d chain.Hash) *ordering.Message {
	c := *m
	c.Digest = d
	return &c
}

// sendSigned signs m with the Byzantine node's own key and sends it.
func (s *Sim) sendSigned(n *node, m *ordering.Message, targets []int) {
	m.From = uint32(n.id)
	if err := ordering.SignMessage(n.byz.signer, ChainID, m); err != nil {
		s.fail(err)
		return
	}
	s.stats.ByzantineOut++
	s.check.observe(m)
	s.sendMsg(n, m, targets)
}

func (s *Sim) randomHash() chain.Hash {
	var h chain.Hash
	for i := 0; i < len(h); i += 8 {
		v := s.rng.Uint64()
		for j := range 8 {
			h[i+j] = byte(v >> (8 * j))
		}
	}
	return h
}

// byzTick runs a Byzantine node's timed attacks: toggling silence,
// replaying an old message, flooding far-future messages.
func (s *Sim) byzTick(n *node) {
	b := n.byz
	if b.attacks&AttackSilent != 0 && s.now >= b.silentUntil {
		b.silentNow = !b.silentNow
		b.silentUntil = s.now + 20 + uint64(s.rng.IntN(100))
	}
	if b.silentNow {
		return
	}
	peers := s.targets(n, ordering.Broadcast)
	if len(peers) == 0 {
		return
	}
	if b.attacks&AttackReplay != 0 && len(b.replay) > 0 && s.rng.IntN(4) == 0 {
		m := b.replay[s.rng.IntN(len(b.replay))]
		s.stats.ByzantineOut++
		s.sendMsg(n, m, []int{peers[s.rng.IntN(len(peers))]})
	}
	if b.attacks&AttackFlood != 0 && s.rng.IntN(10) == 0 {
		for i := range s.cfg.FloodBatch {
			s.sendSigned(n, s.floodMessage(n, i), peers)
		}
	}
}

// floodMessage builds the i-th message of a flood burst: prepares and
// checkpoints at far-future heights, commits and view changes in far-future
// views.
func (s *Sim) floodMessage(n *node, i int) *ordering.Message {
	height := n.store.height() + floodHeightOffset + uint64(s.rng.IntN(1<<16))
	view := n.maxView + floodViewOffset + uint64(s.rng.IntN(1<<16))
	switch i % 4 {
	case 0:
		return &ordering.Message{Type: ordering.MsgPrepare, View: n.soft.View, Height: height, Digest: s.randomHash()}
	case 1:
		return &ordering.Message{Type: ordering.MsgCheckpoint, View: n.soft.View, Height: height, Digest: s.randomHash(), AppHash: s.randomHash()}
	case 2:
		return &ordering.Message{Type: ordering.MsgCommit, View: view, Height: n.store.height() + 1, Digest: s.randomHash()}
	default:
		return &ordering.Message{Type: ordering.MsgViewChange, View: view, Height: height, ViewChange: &ordering.ViewChange{}}
	}
}

// forgeBlocks returns copies of blocks with altered timestamps, so that no
// genuine certificate matches them.
func forgeBlocks(blocks []*chain.Block) []*chain.Block {
	out := make([]*chain.Block, len(blocks))
	for i, b := range blocks {
		c := *b
		c.Header.Timestamp++
		out[i] = &c
	}
	return out
}

// withhold returns a copy of the Byzantine core's view change m with
// contents held back, one way chosen by the seed: only the highest commit
// certificate (the ones below it withheld), a random subset of the
// certificates, no prepared certificates, or a stale checkpoint with the
// certificates that still fit its window.
func (s *Sim) withhold(n *node, m *ordering.Message) *ordering.Message {
	vc := *m.ViewChange
	certs := vc.Committed
	switch s.rng.IntN(4) {
	case 0:
		if len(certs) > 0 {
			vc.Committed = certs[len(certs)-1:]
		}
	case 1:
		var kept []*chain.Certificate
		for _, c := range certs {
			if s.rng.IntN(2) == 0 {
				kept = append(kept, c)
			}
		}
		vc.Committed = kept
	case 2:
		vc.Prepared = nil
	default:
		old := n.byz.oldStable
		vc.Checkpoint, vc.Prepared = old, nil
		vc.Committed = certsInWindow(certs, old, s.logWindow())
	}
	s.stats.ByzantineOut++
	out := *m
	out.ViewChange = &vc
	return &out
}

// certsInWindow keeps the certificates above checkpoint cp and inside the
// log window above it.
func certsInWindow(certs []*chain.Certificate, cp *ordering.CheckpointProof, window uint64) []*chain.Certificate {
	var base uint64
	if cp != nil {
		base = cp.Height
	}
	var kept []*chain.Certificate
	for _, c := range certs {
		if c.Height > base && c.Height <= base+window {
			kept = append(kept, c)
		}
	}
	return kept
}

func (s *Sim) logWindow() uint64 {
	return ordering.DefaultLogWindowFactor * s.cfg.CheckpointInterval
}

// withholdEarly answers a view change for a view above every one this
// Byzantine node sent for: at once, before its own timer, it sends a view
// change for that view built from its store that shows only its highest
// commit certificate — the attack of a validator that collected
// certificates honest validators lack and withholds all but the top one.
func (s *Sim) withholdEarly(n *node, m *ordering.Message) {
	b := n.byz
	if b == nil || b.attacks&AttackWithhold == 0 || b.silentNow || m.Type != ordering.MsgViewChange || m.View <= b.withheldFor {
		return
	}
	b.withheldFor = m.View
	cp := n.store.stable
	if b.oldStable == nil {
		b.oldStable = cp
	}
	body := &ordering.ViewChange{Checkpoint: cp}
	if certs := certsInWindow(n.store.certs, cp, s.logWindow()); len(certs) > 0 {
		body.Committed = certs[len(certs)-1:]
	}
	vc := &ordering.Message{Type: ordering.MsgViewChange, View: m.View, Height: s.logWindow(), ViewChange: body}
	if cp != nil {
		vc.Height += cp.Height
	}
	s.sendSigned(n, vc, s.targets(n, ordering.Broadcast))
}
