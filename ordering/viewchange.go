package ordering

import (
	"bytes"
	"fmt"

	"github.com/bafomet/bafomet/chain"
)

// startViewChange moves this node to view v (> current, or the current view
// if it is still in normal operation there) and broadcasts its ViewChange:
// its stable checkpoint and the highest-view prepared certificate of every
// height above it.
func (c *Core) startViewChange(v uint64) {
	if v < c.view || (v == c.view && c.inViewChange) {
		return
	}
	c.becomeViewChange(v)
	c.newView = nil
	c.offered = nil
	clear(c.carried) // blocks wanted for an earlier view's NewView
	c.elapsed, c.sinceResend, c.resends = 0, 0, 0
	body := &ViewChange{Checkpoint: c.stableProof}
	above := c.stable
	for _, h := range sortedKeys(c.certs) {
		if h > c.stable && h <= c.highWatermark() {
			body.Committed, above = append(body.Committed, c.certs[h]), h
		}
	}
	for _, h := range sortedKeys(c.slots) {
		if s := c.slots[h]; s.proof != nil && h > above {
			if c.cfg.Revert.Has(RevertHeaderOnly) {
				body.Prepared = append(body.Prepared, s.proof)
			} else {
				body.Prepared = append(body.Prepared, headerOnlyProof(s.proof))
			}
		}
	}
	m, err := c.signOwn(&Message{Type: MsgViewChange, View: v, Height: c.highWatermark(), ViewChange: body})
	if err != nil {
		return
	}
	c.ownViewChange = m
	c.pinView(m, m.Height)
	c.viewChanges[c.self] = m
	c.send(Broadcast, m)
	c.sendCarriedBlocks()
	c.tryNewView()
}

// sendCarriedBlocks sends the new primary the whole blocks of the prepared
// certificates this node's view change carries by header: the original
// pre-prepares, one block to a message.
func (c *Core) sendCarriedBlocks() {
	primary := c.primaryOf(c.view)
	if c.ownViewChange == nil || primary == c.self || c.cfg.Revert.Has(RevertHeaderOnly) {
		return
	}
	for _, p := range c.ownViewChange.ViewChange.Prepared {
		if s := c.slots[p.PrePrepare.Height]; s != nil && s.proof != nil && s.proof.PrePrepare.Digest == p.PrePrepare.Digest {
			c.send(int(primary), s.proof.PrePrepare)
		}
	}
}

// stepCarriedBlock takes a pre-prepare of an earlier view whose block this
// node, as the primary of the view it changes to, needs to re-propose: one
// of the view changes it holds carries that block's prepared certificate
// by header. Any other pre-prepare of an earlier view is stale.
func (c *Core) stepCarriedBlock(m *Message) error {
	if !c.wantsCarriedBlock(m) {
		return fmt.Errorf("%w: pre-prepare view %d, node in view %d", ErrStaleView, m.View, c.view)
	}
	if m.From != c.primaryOf(m.View) {
		return fmt.Errorf("%w: pre-prepare from %d in view %d", ErrNotPrimary, m.From, m.View)
	}
	if err := checkFullBlock(m); err != nil {
		return err
	}
	c.carried[m.Digest] = m.Block
	c.tryNewView()
	return nil
}

// wantsCarriedBlock reports whether this node waits, as the next primary,
// for the block of pre-prepare m: a view change for its view carries m's
// prepared certificate and the node does not hold the block yet.
func (c *Core) wantsCarriedBlock(m *Message) bool {
	if !c.inViewChange || c.primaryOf(c.view) != c.self || !c.inWindow(m.Height) || c.fullBlock(m.Height, m.Digest) != nil {
		return false
	}
	for _, from := range sortedKeys(c.viewChanges) {
		vc := c.viewChanges[from]
		if vc.View != c.view {
			continue
		}
		for _, p := range vc.ViewChange.Prepared {
			if p.PrePrepare.Height == m.Height && p.PrePrepare.Digest == m.Digest && p.PrePrepare.View == m.View {
				return true
			}
		}
	}
	return false
}

// fullBlock returns the whole block with hash digest at height h if this
// node holds it — pre-prepared, prepared, proposed by itself in this view,
// or received for a view change — or nil.
func (c *Core) fullBlock(h uint64, digest chain.Hash) *chain.Block {
	var candidates []*Message
	if s := c.slots[h]; s != nil {
		candidates = append(candidates, s.pp)
		if s.proof != nil {
			candidates = append(candidates, s.proof.PrePrepare)
		}
	}
	candidates = append(candidates, c.signed[voteKey{MsgPrePrepare, c.view, h}])
	for _, m := range candidates {
		if m != nil && m.Digest == digest && m.Block.CheckTxRoot() == nil {
			return m.Block
		}
	}
	if b := c.carried[digest]; b != nil && b.Header.Height == h {
		return b
	}
	return nil
}

// headerOnly returns a copy of pre-prepare m whose block keeps only its
// header. The signature still verifies (it covers the block hash, which
// is the header's), the header still names the parent, and the copy
// weighs a few hundred bytes however large the block is.
func headerOnly(m *Message) *Message {
	cp := *m
	cp.Block = &chain.Block{Header: m.Block.Header}
	return &cp
}

// headerOnlyProof returns p with a header-only pre-prepare.
func headerOnlyProof(p *PreparedProof) *PreparedProof {
	return &PreparedProof{PrePrepare: headerOnly(p.PrePrepare), Prepares: p.Prepares}
}

// withBlock returns a copy of header-only pre-prepare m carrying block b
// (whose hash is m's digest).
func withBlock(m *Message, b *chain.Block) *Message {
	cp := *m
	cp.Block = b
	return &cp
}

func (c *Core) stepViewChange(m *Message) error {
	if m.View < c.view || (m.View == c.view && !c.inViewChange) {
		if m.View == c.view && c.isPrimary() && c.newView != nil {
			c.send(int(m.From), c.newView) // the sender missed this view's NewView
		}
		return fmt.Errorf("%w: view change to %d, node in view %d", ErrStaleView, m.View, c.view)
	}
	if prev := c.viewChanges[m.From]; prev != nil && prev.View >= m.View {
		return fmt.Errorf("%w: view change to %d from %d (holds %d)", ErrDuplicate, m.View, m.From, prev.View)
	}
	if err := c.verifyViewChangeBody(m); err != nil {
		return err
	}
	c.viewChanges[m.From] = m
	if m.View == c.view && c.inViewChange {
		c.resends = 0 // a peer joined this view change: keep re-sending
	}
	c.adoptCheckpoint(m.ViewChange.Checkpoint)
	c.syncView()
	c.tryNewView()
	return nil
}

// syncView joins the smallest higher view once f+1 validators are in views
// above this node's (view synchronisation).
func (c *Core) syncView() {
	var higher []uint64
	for _, from := range sortedKeys(c.viewChanges) {
		if from != c.self && c.viewChanges[from].View > c.view {
			higher = append(higher, c.viewChanges[from].View)
		}
	}
	if len(higher) < c.f+1 {
		return
	}
	target := higher[0]
	for _, v := range higher[1:] {
		target = min(target, v)
	}
	c.startViewChange(target)
}

// adoptCheckpoint makes a verified stable-checkpoint proof learned from a
// view change this node's stable checkpoint if it is higher.
func (c *Core) adoptCheckpoint(p *CheckpointProof) {
	if p != nil && p.Height > c.stable {
		c.becomeStable(p)
	}
}

// verifyViewChangeBody checks a view change's checkpoint proof, commit
// certificate and prepared certificates: the commit certificate above the
// checkpoint and inside its window, each prepared certificate from a view
// below the new one, at increasing heights above both, inside the window.
func (c *Core) verifyViewChangeBody(m *Message) error {
	vc := m.ViewChange
	var base uint64
	if vc.Checkpoint != nil {
		if err := c.verifyCheckpointProof(vc.Checkpoint); err != nil {
			return err
		}
		base = vc.Checkpoint.Height
	}
	if uint64(len(vc.Prepared)) > c.cfg.LogWindow {
		return fmt.Errorf("%w: %d prepared certificates", ErrInvalidProof, len(vc.Prepared))
	}
	if uint64(len(vc.Committed)) > c.cfg.LogWindow {
		return fmt.Errorf("%w: %d commit certificates", ErrInvalidProof, len(vc.Committed))
	}
	last := base
	for _, cert := range vc.Committed {
		if cert == nil || cert.Height <= last || cert.Height > base+c.cfg.LogWindow {
			return fmt.Errorf("%w: commit certificate out of order or outside the window above %d", ErrInvalidProof, base)
		}
		if err := c.verifyCertificate(cert); err != nil {
			return err
		}
		last = cert.Height
	}
	for _, p := range vc.Prepared {
		h := p.PrePrepare.Height
		if h <= last || h > base+c.cfg.LogWindow || p.PrePrepare.View >= m.View {
			return fmt.Errorf("%w: prepared certificate at view %d height %d", ErrInvalidProof, p.PrePrepare.View, h)
		}
		if err := c.verifyPreparedProof(p); err != nil {
			return err
		}
		last = h
	}
	return nil
}

// verifyPreparedProof checks a pre-prepare by its view's primary for its
// block and quorum−1 matching prepares from distinct backups.
func (c *Core) verifyPreparedProof(p *PreparedProof) error {
	pp := p.PrePrepare
	if pp.From != c.primaryOf(pp.View) || pp.Block.Hash() != pp.Digest || pp.Block.Header.Height != pp.Height {
		return fmt.Errorf("%w: prepared certificate pre-prepare", ErrInvalidProof)
	}
	if len(p.Prepares) < c.q-1 || len(p.Prepares) > c.n {
		return fmt.Errorf("%w: prepared certificate with %d prepares", ErrInvalidProof, len(p.Prepares))
	}
	if err := verifySig(c.cfg.ChainID, c.vs, pp); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidProof, err)
	}
	seen := map[uint32]bool{}
	for _, m := range p.Prepares {
		if m.View != pp.View || m.Height != pp.Height || m.Digest != pp.Digest || m.From == pp.From || seen[m.From] {
			return fmt.Errorf("%w: prepare does not match its pre-prepare", ErrInvalidProof)
		}
		seen[m.From] = true
		if err := verifySig(c.cfg.ChainID, c.vs, m); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidProof, err)
		}
	}
	return nil
}

// decidedBase returns the highest height a quorum of view changes shows
// decided, with its block hash: the highest stable checkpoint among them,
// raised through every next height for which one of them carries a commit
// certificate. A certificate above a height none of them certifies does not
// count: every decided height must be one whose block f+1 honest validators
// can produce (an honest view change certifies every height it committed
// above its checkpoint, and the q signers of a certificate include f+1
// honest validators that persisted the block's prepared certificate), so a
// validator that shows a high certificate and withholds the ones below it
// cannot leave the new view waiting for blocks nobody honest holds. ok is
// false when none shows any (the chain from genesis).
func decidedBase(vcs []*Message, gapFree bool) (height uint64, hash chain.Hash, ok bool) {
	certs := map[uint64]*chain.Certificate{}
	for _, m := range vcs {
		if cp := m.ViewChange.Checkpoint; cp != nil && (!ok || cp.Height > height) {
			height, hash, ok = cp.Height, cp.BlockHash, true
		}
		for _, cert := range m.ViewChange.Committed {
			certs[cert.Height] = cert
		}
	}
	if !gapFree {
		for _, cert := range certs { // the maximum: order is irrelevant
			if !ok || cert.Height > height {
				height, hash, ok = cert.Height, cert.BlockHash, true
			}
		}
		return height, hash, ok
	}
	for cert := certs[height+1]; cert != nil; cert = certs[height+1] {
		height, hash, ok = cert.Height, cert.BlockHash, true
	}
	return height, hash, ok
}

// decidedCerts returns the commit certificates the view changes carry for
// heights in (from, to].
func decidedCerts(vcs []*Message, from, to uint64) map[uint64]*chain.Certificate {
	certs := map[uint64]*chain.Certificate{}
	for _, m := range vcs {
		for _, cert := range m.ViewChange.Committed {
			if cert.Height > from && cert.Height <= to {
				certs[cert.Height] = cert
			}
		}
	}
	return certs
}

// carriedChain computes, from a quorum of view changes, the chain a new
// view must re-propose: above the highest decided height among them (stable
// checkpoint or commit certificate), for each height the prepared
// certificate with the highest view, stopping at the first gap or the first
// block whose parent is not the carried block below it. Every node computes
// the same chain from the same view changes.
//
// Heights up to the decided base are not re-proposed. That is safe: a block
// committed at some height was prepared by q validators, so an honest one
// among the quorum either carries its prepared certificate (it had not
// committed that height, or lost the commit in a crash before storing it)
// or certifies that height and every one below it down to its checkpoint,
// which makes the height decided.
func carriedChain(vcs []*Message, gapFree bool) []*PreparedProof {
	baseHeight, baseHash, haveBase := decidedBase(vcs, gapFree)
	best := map[uint64]*PreparedProof{}
	for _, m := range vcs {
		for _, p := range m.ViewChange.Prepared {
			h := p.PrePrepare.Height
			if h <= baseHeight {
				continue
			}
			if cur := best[h]; cur == nil || betterProof(p, cur) {
				best[h] = p
			}
		}
	}
	var chainOut []*PreparedProof
	for h := baseHeight + 1; ; h++ {
		p := best[h]
		if p == nil {
			return chainOut
		}
		parent := p.PrePrepare.Block.Header.ParentHash
		if n := len(chainOut); n > 0 && parent != chainOut[n-1].PrePrepare.Digest {
			return chainOut
		} else if n == 0 && haveBase && parent != baseHash {
			return chainOut
		}
		chainOut = append(chainOut, p)
	}
}

// betterProof orders certificates at one height: higher view first, then
// the lower digest (two certificates in one view for different blocks need
// more than f faulty validators; the tie-break only keeps the choice
// deterministic).
func betterProof(a, b *PreparedProof) bool {
	if a.PrePrepare.View != b.PrePrepare.View {
		return a.PrePrepare.View > b.PrePrepare.View
	}
	return bytes.Compare(a.PrePrepare.Digest[:], b.PrePrepare.Digest[:]) < 0
}

// tryNewView sends NewView once this node is the primary of the view it
// changes to and holds a quorum of view changes for it.
func (c *Core) tryNewView() {
	if !c.inViewChange || c.primaryOf(c.view) != c.self {
		return
	}
	var vcs []*Message
	for _, from := range sortedKeys(c.viewChanges) {
		if m := c.viewChanges[from]; m.View == c.view && len(vcs) < c.q {
			vcs = append(vcs, m)
		}
	}
	if len(vcs) < c.q {
		return
	}
	carried := carriedChain(vcs, c.gapFree())
	blocks := make([]*chain.Block, len(carried))
	for i, p := range carried {
		blocks[i] = c.fullBlock(p.PrePrepare.Height, p.PrePrepare.Digest)
		if blocks[i] == nil && p.PrePrepare.Block.CheckTxRoot() == nil {
			blocks[i] = p.PrePrepare.Block // whole in the view change: no transactions, or RevertHeaderOnly
		}
		if blocks[i] == nil {
			return // its sender's view change brings it (see sendCarriedBlocks)
		}
	}
	var pps, headers []*Message
	for i, p := range carried {
		pp, err := c.signOwn(&Message{Type: MsgPrePrepare, View: c.view, Height: p.PrePrepare.Height,
			Digest: p.PrePrepare.Digest, Block: blocks[i]})
		if err != nil {
			return
		}
		pps, headers = append(pps, pp), append(headers, headerOnly(pp))
	}
	if c.cfg.Revert.Has(RevertHeaderOnly) {
		headers, pps = pps, nil
	}
	nv, err := c.signOwn(&Message{Type: MsgNewView, View: c.view, Height: c.highWatermark(),
		NewView: &NewView{ViewChanges: vcs, PrePrepares: headers}})
	if err != nil {
		return
	}
	c.send(Broadcast, nv)
	for _, pp := range pps {
		c.send(Broadcast, pp)
	}
	c.enterNewView(nv)
}

func (c *Core) stepNewView(m *Message) error {
	if m.From != c.primaryOf(m.View) {
		return fmt.Errorf("%w: new view %d from %d", ErrNotPrimary, m.View, m.From)
	}
	if m.View < c.view {
		return fmt.Errorf("%w: new view %d, node in view %d", ErrStaleView, m.View, c.view)
	}
	if m.View == c.view && !c.inViewChange {
		return fmt.Errorf("%w: new view %d, node already in it", ErrDuplicate, m.View)
	}
	if err := c.verifyNewView(m); err != nil {
		return err
	}
	for _, vc := range m.NewView.ViewChanges {
		c.adoptCheckpoint(vc.ViewChange.Checkpoint)
	}
	c.enterNewView(m)
	return nil
}

// verifyNewView checks a quorum of valid view changes for the view and that
// the pre-prepares re-propose exactly the chain they carry.
func (c *Core) verifyNewView(m *Message) error {
	nv := m.NewView
	if len(nv.ViewChanges) < c.q || len(nv.ViewChanges) > c.n {
		return fmt.Errorf("%w: new view with %d view changes", ErrInvalidProof, len(nv.ViewChanges))
	}
	seen := map[uint32]bool{}
	for _, vc := range nv.ViewChanges {
		if vc.View != m.View || seen[vc.From] {
			return fmt.Errorf("%w: new view %d holds a view change for %d from %d", ErrInvalidProof, m.View, vc.View, vc.From)
		}
		seen[vc.From] = true
		if err := verifySig(c.cfg.ChainID, c.vs, vc); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidProof, err)
		}
		if err := c.verifyViewChangeBody(vc); err != nil {
			return err
		}
	}
	want := carriedChain(nv.ViewChanges, c.gapFree())
	if len(want) != len(nv.PrePrepares) {
		return fmt.Errorf("%w: new view re-proposes %d blocks, the view changes carry %d", ErrInvalidProof, len(nv.PrePrepares), len(want))
	}
	for i, pp := range nv.PrePrepares {
		w := want[i].PrePrepare
		if pp.From != m.From || pp.View != m.View || pp.Height != w.Height || pp.Digest != w.Digest || pp.Block.Hash() != w.Digest {
			return fmt.Errorf("%w: new view pre-prepare %d differs from the carried chain", ErrInvalidProof, i)
		}
		if err := verifySig(c.cfg.ChainID, c.vs, pp); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidProof, err)
		}
	}
	return nil
}

// enterNewView starts normal operation in nv's view: per-view state of the
// log is reset (prepared certificates are kept), the re-proposed chain is
// installed, and proposals not on it are void. A NewView from the primary is
// persisted before this node votes in the view, so that a restart still
// knows which heights the view decided.
func (c *Core) enterNewView(nv *Message) {
	c.becomeNormal(nv.View)
	c.elapsed, c.sinceResend, c.resends = 0, 0, 0
	switch {
	case nv.From == c.self:
		c.pinView(nv, nv.Height) // signOwn persisted it
	case c.cfg.Revert.Has(RevertNewViewRecord):
		c.pin = nil
	default:
		c.pinView(nv, 0)
	}
	for _, from := range sortedKeys(c.viewChanges) {
		if c.viewChanges[from].View <= c.view {
			delete(c.viewChanges, from)
		}
	}
	c.ownViewChange = nil
	for _, h := range sortedKeys(c.slots) {
		c.slots[h].resetView(c.view)
	}
	c.installNewView(nv)
	c.reaffirmCommitted(nv.NewView.PrePrepares)
	c.advance()
}

// installNewView installs nv, a NewView for the current view, in the log:
// the re-proposed pre-prepares and the heights its view changes decided. A
// re-proposed pre-prepare carries only its block's header; the node takes
// the block from what it holds, or from the primary's full pre-prepare.
func (c *Core) installNewView(nv *Message) {
	c.newView = nv
	for _, pp := range nv.NewView.PrePrepares {
		if !c.inWindow(pp.Height) || pp.Height <= c.committed {
			continue
		}
		s := c.slotAt(pp.Height)
		s.reproposed, s.fresh = pp, false
		if b := c.fullBlock(pp.Height, pp.Digest); b != nil {
			s.pp = withBlock(pp, b)
		} else if pp.Block.CheckTxRoot() == nil {
			s.pp = pp // a block without transactions is whole in its header
		}
	}
	clear(c.carried)
	c.noteDecided(nv.NewView.ViewChanges)
}

// noteDecided records the height the view changes show decided and their
// certificates of the heights up to it. Nothing is proposed or accepted at
// or below it. The node commits every next decided height whose block it
// holds (it prepared it) with its certificate — now, or later once block
// sync filled the heights below (see deliver); while it has not reached the
// decided height it is behind and fetches the rest by block sync.
func (c *Core) noteDecided(vcs []*Message) {
	h, _, ok := decidedBase(vcs, c.gapFree())
	if !ok || h <= c.decided {
		return
	}
	c.decided = h
	for height, cert := range decidedCerts(vcs, c.committed, h) { // each key is its own entry: order is irrelevant
		c.decidedCerts[height] = cert
	}
	c.commitDecided()
	if h > c.committed && h > c.lagTarget {
		c.lagTarget = h
		c.lagSince = c.ticks - min(c.ticks, uint64(c.cfg.RetransmitTicks))
	}
}

// commitDecided commits, in order, every next decided height whose block
// this node holds, with the certificate the view changes carried.
func (c *Core) commitDecided() {
	for c.committed < c.decided {
		cert, b := c.decidedCerts[c.committed+1], c.heldBlock(c.committed+1)
		if cert == nil || b == nil || b.Hash() != cert.BlockHash || b.Header.ParentHash != c.committedHash || b.CheckTxRoot() != nil {
			return
		}
		c.commitBlock(b, cert)
	}
}

// reaffirmCommitted votes again, in the new view, for re-proposed blocks
// this node already committed, so that a validator that missed them can
// gather a quorum of commits in this view. Voting for a committed block
// cannot help a conflicting one: the block is already on every honest
// node's chain at that height.
func (c *Core) reaffirmCommitted(pps []*Message) {
	for _, pp := range pps {
		h := pp.Height
		if h > c.committed || !c.inWindow(h) || c.hashes[h] != pp.Digest {
			continue
		}
		types := []MsgType{MsgPrepare, MsgCommit}
		if c.isPrimary() {
			types = types[1:]
		}
		for _, t := range types {
			m, err := c.signOwn(&Message{Type: t, View: c.view, Height: h, Digest: pp.Digest})
			if err != nil {
				return
			}
			c.send(Broadcast, m)
		}
	}
}

// heldBlock returns the block this node holds for height h — pre-prepared in
// the current view or carried by its prepared certificate — or nil.
func (c *Core) heldBlock(h uint64) *chain.Block {
	s := c.slots[h]
	switch {
	case s == nil:
		return nil
	case s.pp != nil:
		return s.pp.Block
	case s.proof != nil:
		return s.proof.PrePrepare.Block
	}
	return nil
}
