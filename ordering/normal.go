package ordering

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/bafomet/bafomet/chain"
)

// slot is the log entry of one height.
type slot struct {
	view     uint64              // the view the fields up to commits belong to
	pp       *Message            // the accepted pre-prepare in view
	fresh    bool                // pp is a fresh proposal, not re-proposed by a NewView
	prepares map[uint32]*Message // first prepare per sender in view
	commits  map[uint32]*Message // first commit per sender in view
	// proof is the highest-view prepared certificate this node holds for
	// the height. Invariant: proof == nil || proof.PrePrepare.View <= view.
	proof *PreparedProof
	// reproposed is the header-only pre-prepare the view's NewView
	// re-proposes at this height, while pp waits for its block.
	// Invariant: pp == nil || reproposed == nil || pp.Digest == reproposed.Digest.
	reproposed *Message
}

func newSlot(v uint64) *slot {
	return &slot{view: v, prepares: map[uint32]*Message{}, commits: map[uint32]*Message{}}
}

// resetView forgets the per-view state, keeping the prepared certificate.
func (s *slot) resetView(v uint64) {
	s.view, s.pp, s.fresh, s.reproposed = v, nil, false, nil
	clear(s.prepares)
	clear(s.commits)
}

// slotAt returns the slot of h in the current view, creating it. h must be
// in the window.
func (c *Core) slotAt(h uint64) *slot {
	s := c.slots[h]
	if s == nil {
		s = newSlot(c.view)
		c.slots[h] = s
	} else if s.view != c.view {
		s.resetView(c.view)
	}
	return s
}

// checkVoteHeader applies the checks common to the normal-case messages.
func (c *Core) checkVoteHeader(m *Message) error {
	switch {
	case m.View < c.view:
		return fmt.Errorf("%w: %s view %d < %d", ErrStaleView, m.Type, m.View, c.view)
	case m.View > c.view:
		return fmt.Errorf("%w: %s view %d > %d", ErrFutureView, m.Type, m.View, c.view)
	case !c.inWindow(m.Height):
		return fmt.Errorf("%w: %s height %d not in (%d, %d]", ErrOutsideWindow, m.Type, m.Height, c.stable, c.highWatermark())
	}
	return nil
}

func (c *Core) stepPrePrepare(m *Message) error {
	if err := c.checkVoteHeader(m); err != nil {
		return err
	}
	if m.From != c.primaryOf(m.View) {
		return fmt.Errorf("%w: pre-prepare from %d in view %d", ErrNotPrimary, m.From, m.View)
	}
	if m.Height <= c.committed || m.Height <= c.decided {
		return fmt.Errorf("%w: pre-prepare at %d", ErrCommitted, m.Height)
	}
	if s := c.slots[m.Height]; s != nil && s.view == c.view && s.pp == nil && s.reproposed != nil {
		return c.stepReproposedBlock(s, m)
	}
	if s := c.slots[m.Height]; s != nil && s.view == c.view && s.pp != nil {
		if s.pp.Digest == m.Digest {
			return fmt.Errorf("%w: pre-prepare view %d height %d", ErrDuplicate, m.View, m.Height)
		}
		c.addEvidence(s.pp, m)
		c.startViewChange(c.view + 1)
		return fmt.Errorf("%w: primary %d equivocated at view %d height %d", ErrConflict, m.From, m.View, m.Height)
	}
	if err := c.checkProposal(m); err != nil {
		c.startViewChange(c.view + 1)
		return fmt.Errorf("%w: %v", ErrInvalidProposal, err)
	}
	s := c.slotAt(m.Height)
	s.pp, s.fresh = m, true
	c.advance()
	return nil
}

// stepReproposedBlock takes the block of a pre-prepare the view's NewView
// re-proposed by header: the primary's full pre-prepare for that height.
// The NewView fixed its hash, so the block is checked against it, not
// against the rules for a fresh proposal (its proposer is an earlier
// view's primary).
func (c *Core) stepReproposedBlock(s *slot, m *Message) error {
	if m.Digest != s.reproposed.Digest {
		c.addEvidence(s.reproposed, m)
		c.startViewChange(c.view + 1)
		return fmt.Errorf("%w: primary %d pre-prepared %s at view %d height %d, its NewView %s",
			ErrConflict, m.From, m.Digest, m.View, m.Height, s.reproposed.Digest)
	}
	if err := checkFullBlock(m); err != nil {
		return err
	}
	s.pp, s.fresh = m, false
	c.advance()
	return nil
}

// checkFullBlock checks that a pre-prepare carries its whole block: the
// block hashes to its digest, is for its height, and its transactions
// match the header's root.
func checkFullBlock(m *Message) error {
	b := m.Block
	if b.Hash() != m.Digest || b.Header.Height != m.Height {
		return fmt.Errorf("%w: block %s at %d in a pre-prepare for %s at %d", ErrInvalidProposal, b.Hash(), b.Header.Height, m.Digest, m.Height)
	}
	if err := b.CheckTxRoot(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidProposal, err)
	}
	return nil
}

// checkProposal checks what can be checked of a pre-prepare without its
// parent: hash, height, proposer, validator set, transactions and limits.
func (c *Core) checkProposal(m *Message) error {
	b := m.Block
	h := &b.Header
	switch {
	case b.Hash() != m.Digest:
		return fmt.Errorf("digest %s is not the block hash %s", m.Digest, b.Hash())
	case h.Height != m.Height:
		return fmt.Errorf("block height %d in a pre-prepare for %d", h.Height, m.Height)
	case h.Proposer != c.vs.Validator(int(c.primaryOf(m.View))).Address:
		return fmt.Errorf("proposer %s is not the primary of view %d", h.Proposer, m.View)
	case h.ValidatorsHash != c.vs.Hash():
		return fmt.Errorf("validators hash %s, want %s", h.ValidatorsHash, c.vs.Hash())
	case c.cfg.MaxBlockTxs > 0 && len(b.Txs) > c.cfg.MaxBlockTxs:
		return fmt.Errorf("%d transactions, limit %d", len(b.Txs), c.cfg.MaxBlockTxs)
	case c.cfg.MaxBlockBytes > 0 && b.Size() > c.cfg.MaxBlockBytes:
		return fmt.Errorf("%d bytes of transactions, limit %d", b.Size(), c.cfg.MaxBlockBytes)
	}
	if err := b.CheckTxRoot(); err != nil {
		return err
	}
	if c.cfg.Checker != nil {
		if err := c.cfg.Checker.CheckProposal(b); err != nil {
			return fmt.Errorf("checker: %w", err)
		}
	}
	return nil
}

// linkVerdict is the outcome of checking a proposal against its parent.
type linkVerdict int

const (
	linkOK linkVerdict = iota
	linkWait
	linkInvalid
)

// checkLinked checks a proposal against its parent (hash, timestamp) and
// this node's executed state (appHash after h−W). It waits while that
// appHash is unknown.
func (c *Core) checkLinked(b *chain.Block, fresh bool, parentHash chain.Hash, parentTs uint64) (linkVerdict, error) {
	h := &b.Header
	if h.ParentHash != parentHash {
		return linkInvalid, fmt.Errorf("parent %s, want %s", h.ParentHash, parentHash)
	}
	if h.Timestamp <= parentTs {
		return linkInvalid, fmt.Errorf("timestamp %d not after parent's %d", h.Timestamp, parentTs)
	}
	if fresh && c.nowMs > 0 && h.Timestamp > c.nowMs+c.cfg.MaxClockDriftMs {
		return linkInvalid, fmt.Errorf("timestamp %d more than %d ms ahead of local %d", h.Timestamp, c.cfg.MaxClockDriftMs, c.nowMs)
	}
	want, ok := c.appHashFor(h.Height)
	if !ok {
		return linkWait, nil
	}
	if h.AppHash != want {
		return linkInvalid, fmt.Errorf("appHash %s, local %s after height %d", h.AppHash, want, c.appHashHeight(h.Height))
	}
	return linkOK, nil
}

// appHashHeight is the height whose appHash block h carries: h − W, or 0
// (the genesis state) while h ≤ W.
func (c *Core) appHashHeight(h uint64) uint64 {
	if h <= c.cfg.PipelineWindow {
		return 0
	}
	return h - c.cfg.PipelineWindow
}

func (c *Core) appHashFor(h uint64) (chain.Hash, bool) {
	x := c.appHashHeight(h)
	if x > c.executed {
		return chain.Hash{}, false
	}
	a, ok := c.appHashes[x]
	return a, ok
}

func (c *Core) stepPrepare(m *Message) error {
	if err := c.checkVoteHeader(m); err != nil {
		return err
	}
	if m.From == c.primaryOf(m.View) {
		return fmt.Errorf("%w: the primary %d does not prepare", ErrInvalidProof, m.From)
	}
	return c.stepVote(m, func(s *slot) map[uint32]*Message { return s.prepares })
}

func (c *Core) stepCommit(m *Message) error {
	if err := c.checkVoteHeader(m); err != nil {
		return err
	}
	return c.stepVote(m, func(s *slot) map[uint32]*Message { return s.commits })
}

// stepVote stores a prepare or commit (one per sender per slot and view).
// A prepare at a height this node committed is answered with this node's
// own commit (at most once per RetransmitTicks per peer), so a peer that
// lost commits and re-sends its prepare catches up.
func (c *Core) stepVote(m *Message, votes func(*slot) map[uint32]*Message) error {
	if m.Height <= c.committed {
		own := c.signed[voteKey{MsgCommit, m.View, m.Height}]
		last, replied := c.replied[m.From]
		if m.Type == MsgPrepare && own != nil && (!replied || c.ticks >= last+uint64(c.cfg.RetransmitTicks)) {
			c.replied[m.From] = c.ticks
			c.send(int(m.From), own)
		}
		return fmt.Errorf("%w: %s at %d", ErrCommitted, m.Type, m.Height)
	}
	s := c.slotAt(m.Height)
	vm := votes(s)
	if prev := vm[m.From]; prev != nil {
		if prev.Digest == m.Digest {
			return fmt.Errorf("%w: %s from %d at view %d height %d", ErrDuplicate, m.Type, m.From, m.View, m.Height)
		}
		c.addEvidence(prev, m)
		return fmt.Errorf("%w: %s from %d at view %d height %d", ErrConflict, m.Type, m.From, m.View, m.Height)
	}
	vm[m.From] = m
	if m.Type == MsgCommit && (s.pp == nil || m.Height > c.committed+1) {
		c.noteCommitsAhead(m.Height, s)
	}
	c.advance()
	return nil
}

// noteCommitsAhead handles commits for a height this node cannot deliver
// yet: it lacks the pre-prepare or a block below. f+1 matching commits show
// the view is alive, so the gap is this node's problem, not the primary's:
// the view-change timer restarts. A quorum proves the height committed;
// if the gap persists for RetransmitTicks, Behind asks the driver to sync.
func (c *Core) noteCommitsAhead(h uint64, s *slot) {
	count := map[chain.Hash]int{}
	for _, from := range sortedKeys(s.commits) {
		count[s.commits[from].Digest]++
	}
	for _, n := range count {
		if n >= c.f+1 {
			c.elapsed = 0
		}
		if n >= c.q && h > c.lagTarget {
			if c.lagTarget <= c.committed {
				c.lagSince = c.ticks
			}
			c.lagTarget = h
		}
	}
}

// advance moves the normal case forward after any input: prepare, commit
// and deliver whatever the log now allows.
func (c *Core) advance() {
	c.deliver()
	if c.inViewChange {
		return
	}
	if !c.prepareChain() {
		return
	}
	c.commitChain()
	c.deliver()
}

// prepareChain sends Prepare for each pre-prepared height above the
// committed one, in order, stopping at the first it cannot prepare yet.
// SAFETY: this node prepares (v, h, B) only if B's parent is its committed
// tip or the block it prepared at h−1 in the same view v. It returns false
// when a proposal proved invalid and a view change started.
func (c *Core) prepareChain() bool {
	parentHash, parentTs := c.committedHash, c.committedTs
	primary := c.isPrimary()
	for h := c.committed + 1; h <= c.highWatermark(); h++ {
		s := c.slots[h]
		if s == nil || s.view != c.view || s.pp == nil {
			return true
		}
		if !primary && c.signed[voteKey{MsgPrepare, c.view, h}] == nil {
			// An invalid link replaces the primary; the reason is not kept.
			verdict, _ := c.checkLinked(s.pp.Block, s.fresh, parentHash, parentTs)
			if verdict == linkWait {
				return true
			}
			if verdict == linkInvalid {
				c.startViewChange(c.view + 1)
				return false
			}
			p, err := c.signOwn(&Message{Type: MsgPrepare, View: c.view, Height: h, Digest: s.pp.Digest})
			if err != nil {
				return true
			}
			s.prepares[c.self] = p
			c.send(Broadcast, p)
		}
		parentHash, parentTs = s.pp.Digest, s.pp.Block.Header.Timestamp
	}
	return true
}

// commitChain sends Commit for each height whose block and every
// uncommitted ancestor are prepared in the current view, in order.
// Before the commit leaves, the prepared certificate is persisted so that a
// restarted node still carries it into view changes.
func (c *Core) commitChain() {
	for h := c.committed + 1; h <= c.highWatermark(); h++ {
		s := c.slots[h]
		if s == nil || s.view != c.view || s.pp == nil {
			return
		}
		if !c.isPrimary() && c.signed[voteKey{MsgPrepare, c.view, h}] == nil {
			return
		}
		if !c.notePrepared(s) {
			return
		}
		if c.signed[voteKey{MsgCommit, c.view, h}] != nil {
			continue
		}
		c.persistProof(s.proof)
		cm, err := c.signOwn(&Message{Type: MsgCommit, View: c.view, Height: h, Digest: s.pp.Digest})
		if err != nil {
			return
		}
		s.commits[c.self] = cm
		c.send(Broadcast, cm)
	}
}

// notePrepared reports whether s holds a prepared certificate in its view
// (pre-prepare + quorum−1 matching prepares from backups), recording it.
func (c *Core) notePrepared(s *slot) bool {
	if s.proof != nil && s.proof.PrePrepare.View == s.view && s.proof.PrePrepare.Digest == s.pp.Digest {
		return true
	}
	need := c.q - 1
	var ps []*Message
	for _, from := range sortedKeys(s.prepares) {
		if p := s.prepares[from]; p.Digest == s.pp.Digest && len(ps) < need {
			ps = append(ps, p)
		}
	}
	if len(ps) < need {
		return false
	}
	s.proof = &PreparedProof{PrePrepare: s.pp, Prepares: ps}
	return true
}

// persistProof queues the other validators' messages of a prepared
// certificate for persisting (this node's own are already there).
func (c *Core) persistProof(p *PreparedProof) {
	if p.PrePrepare.From != c.self {
		c.persist(p.PrePrepare)
	}
	for _, m := range p.Prepares {
		if m.From != c.self {
			c.persist(m)
		}
	}
}

// deliver hands out, in height order, every block with a commit
// certificate whose parent is the committed tip: decided heights with the
// NewView's certificates, then heights committed in the current view.
func (c *Core) deliver() {
	for {
		if c.committed < c.decided {
			before := c.committed
			c.commitDecided()
			if c.committed == before {
				return
			}
			continue
		}
		h := c.committed + 1
		s := c.slots[h]
		if s == nil || s.pp == nil || s.view != c.view {
			return
		}
		cert := c.certificate(h, s)
		if cert == nil || s.pp.Block.Header.ParentHash != c.committedHash {
			return
		}
		c.commitBlock(s.pp.Block, cert)
	}
}

// certificate assembles the commit certificate of s from a quorum of
// commits matching its pre-prepare, sorted by validator index.
func (c *Core) certificate(h uint64, s *slot) *chain.Certificate {
	cert := &chain.Certificate{Height: h, View: s.view, BlockHash: s.pp.Digest}
	for _, from := range sortedKeys(s.commits) {
		if m := s.commits[from]; m.Digest == s.pp.Digest && len(cert.Signatures) < c.q {
			cert.Signatures = append(cert.Signatures, chain.CommitSig{Validator: from, Signature: m.Signature})
		}
	}
	if len(cert.Signatures) < c.q {
		return nil
	}
	return cert
}

// commitBlock appends b to the committed chain and queues it for the driver.
// Invariant: b.Header.Height == committed+1 and its parent is committedHash.
func (c *Core) commitBlock(b *chain.Block, cert *chain.Certificate) {
	c.committed = b.Header.Height
	c.committedHash = b.Hash()
	c.committedTs = b.Header.Timestamp
	c.certs[c.committed] = cert
	delete(c.decidedCerts, c.committed)
	c.hashes[c.committed] = c.committedHash
	c.out.committed = append(c.out.committed, Committed{Block: b, Certificate: cert})
	c.progress()
}

// proposalSlot returns the slot this node may propose now, or nil.
func (c *Core) proposalSlot() *ProposalSlot {
	if !c.isPrimary() || c.inViewChange || c.committed < c.stable || c.committed < c.decided {
		return nil
	}
	h, parent, ts := c.committed, c.committedHash, c.committedTs
	for {
		s := c.slots[h+1]
		if s == nil || s.view != c.view || s.pp == nil {
			break
		}
		h, parent, ts = h+1, s.pp.Digest, s.pp.Block.Header.Timestamp
	}
	next := h + 1
	if next > c.committed+c.cfg.PipelineWindow || next > c.highWatermark() || next <= c.noVoteThrough {
		return nil
	}
	app, ok := c.appHashFor(next)
	if !ok {
		return nil
	}
	return &ProposalSlot{View: c.view, Height: next, ParentHash: parent, ParentTimestamp: ts, AppHash: app}
}

// Propose pre-prepares b, built by the driver for the slot Ready.Propose
// offered. The block must match the slot exactly.
func (c *Core) Propose(b *chain.Block) error {
	slot := c.proposalSlot()
	if slot == nil {
		return ErrNoSlot
	}
	h := &b.Header
	switch {
	case h.Height != slot.Height:
		return fmt.Errorf("%w: height %d, slot %d", ErrInvalidProposal, h.Height, slot.Height)
	case h.ParentHash != slot.ParentHash || h.AppHash != slot.AppHash:
		return fmt.Errorf("%w: parent or appHash differ from the slot", ErrInvalidProposal)
	case h.Timestamp <= slot.ParentTimestamp:
		return fmt.Errorf("%w: timestamp %d not after parent's %d", ErrInvalidProposal, h.Timestamp, slot.ParentTimestamp)
	}
	m := &Message{Type: MsgPrePrepare, View: c.view, Height: h.Height, Digest: b.Hash(), Block: b}
	if err := c.checkProposal(m); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidProposal, err)
	}
	pp, err := c.signOwn(m)
	if err != nil {
		return err
	}
	s := c.slotAt(h.Height)
	s.pp, s.fresh = pp, true
	c.offered = nil
	c.send(Broadcast, pp)
	c.advance()
	return nil
}

// sortMessages orders messages by sender, then digest, for deterministic output.
func sortMessages(ms []*Message) {
	sort.Slice(ms, func(i, j int) bool {
		if ms[i].From != ms[j].From {
			return ms[i].From < ms[j].From
		}
		return bytes.Compare(ms[i].Digest[:], ms[j].Digest[:]) < 0
	})
}
