package ordering

import (
	"fmt"
	"sort"

	"github.com/bafomet/bafomet/chain"
)

// Executed reports that the driver executed committed block height and the
// state after it has appHash. Heights must be reported in order; a repeat
// or a height not yet committed is ignored.
func (c *Core) Executed(height uint64, appHash chain.Hash) {
	if height <= c.executed || height > c.committed {
		return
	}
	c.executed = height
	c.appHashes[height] = appHash
	if keep := height + 1; keep > c.cfg.PipelineWindow {
		for _, x := range sortedKeys(c.appHashes) {
			if x >= keep-c.cfg.PipelineWindow {
				break
			}
			delete(c.appHashes, x)
		}
	}
	if height%c.cfg.CheckpointInterval == 0 && height > c.stable {
		c.signCheckpoint(height, appHash)
	}
	c.advance()
}

func (c *Core) signCheckpoint(h uint64, appHash chain.Hash) {
	m, err := c.signOwn(&Message{Type: MsgCheckpoint, View: c.view, Height: h, Digest: c.hashes[h], AppHash: appHash})
	if err != nil {
		return
	}
	c.ownCheckpoint = m
	c.send(Broadcast, m)
	c.addCheckpoint(m)
}

func (c *Core) stepCheckpoint(m *Message) error {
	if m.Height == 0 || m.Height%c.cfg.CheckpointInterval != 0 {
		return fmt.Errorf("%w: checkpoint at height %d, interval %d", ErrInvalidProof, m.Height, c.cfg.CheckpointInterval)
	}
	if m.Height <= c.stable {
		return fmt.Errorf("%w: checkpoint %d ≤ stable %d", ErrOutsideWindow, m.Height, c.stable)
	}
	if far := c.peerCheckpoints[m.From]; far == nil || far.Height < m.Height {
		c.peerCheckpoints[m.From] = m
	}
	if !c.inWindow(m.Height) {
		return fmt.Errorf("%w: checkpoint %d above %d (noted for catching up)", ErrOutsideWindow, m.Height, c.highWatermark())
	}
	if prev := c.checkpoints[m.Height][m.From]; prev != nil {
		if prev.Digest == m.Digest && prev.AppHash == m.AppHash {
			return fmt.Errorf("%w: checkpoint %d from %d", ErrDuplicate, m.Height, m.From)
		}
		c.addEvidence(prev, m)
		return fmt.Errorf("%w: checkpoint %d from %d", ErrConflict, m.Height, m.From)
	}
	c.addCheckpoint(m)
	return nil
}

// addCheckpoint stores a checkpoint vote and makes its height stable once a
// quorum matches.
func (c *Core) addCheckpoint(m *Message) {
	votes := c.checkpoints[m.Height]
	if votes == nil {
		votes = map[uint32]*Message{}
		c.checkpoints[m.Height] = votes
	}
	votes[m.From] = m
	var match []*Message
	for _, from := range sortedKeys(votes) {
		if v := votes[from]; v.Digest == m.Digest && v.AppHash == m.AppHash {
			match = append(match, v)
		}
	}
	if len(match) >= c.q {
		c.becomeStable(&CheckpointProof{Height: m.Height, BlockHash: m.Digest, AppHash: m.AppHash, Checkpoints: match})
	}
}

// becomeStable adopts a verified stable checkpoint above the current one and
// discards the log at and below it.
func (c *Core) becomeStable(p *CheckpointProof) {
	if p.Height <= c.stable {
		return
	}
	c.stable, c.stableProof = p.Height, p
	c.out.stable = p
	for _, h := range sortedKeys(c.slots) {
		if h <= p.Height {
			delete(c.slots, h)
		}
	}
	for k := range c.signed {
		if k.height <= p.Height {
			delete(c.signed, k)
		}
	}
	for _, h := range sortedKeys(c.checkpoints) {
		if h <= p.Height {
			delete(c.checkpoints, h)
		}
	}
	for _, h := range sortedKeys(c.hashes) {
		if h < p.Height && h < c.committed {
			delete(c.hashes, h)
		}
	}
	for _, h := range sortedKeys(c.certs) {
		if h <= p.Height {
			delete(c.certs, h)
		}
	}
	for _, from := range sortedKeys(c.peerCheckpoints) {
		if c.peerCheckpoints[from].Height <= p.Height {
			delete(c.peerCheckpoints, from)
		}
	}
	for _, h := range sortedKeys(c.decidedCerts) {
		if h <= p.Height {
			delete(c.decidedCerts, h)
		}
	}
	if c.pin != nil && c.pinKey <= p.Height && !c.cfg.Revert.Has(RevertViewPin) {
		c.repin()
	}
	c.reinstallOwn()
	c.progress()
	c.advance()
}

// reinstallOwn puts this node's own votes of the current view back into
// slots that entered the window (after a restore with an older stable
// checkpoint), so a primary continues after its own pre-prepares instead of
// offering a slot it already signed.
func (c *Core) reinstallOwn() {
	if c.inViewChange {
		return
	}
	for k, m := range c.signed { // each key touches its own slot: order is irrelevant
		if k.view != c.view || k.height <= c.committed || !c.inWindow(k.height) {
			continue
		}
		s := c.slotAt(k.height)
		switch k.t {
		case MsgPrePrepare:
			if s.pp == nil {
				s.pp = m
			}
		case MsgPrepare:
			s.prepares[c.self] = m
		case MsgCommit:
			s.commits[c.self] = m
		}
	}
}

// behind returns the height the node should block-sync to, or 0. It is the
// stable checkpoint when that is above the committed height, a height a
// quorum committed that this node has not delivered for RetransmitTicks
// ticks (it missed a pre-prepare or a block below), or the highest
// height that f+1 validators' checkpoints vouch for when it is more than a
// pipeline window above the committed height.
func (c *Core) behind() uint64 {
	var target uint64
	if c.stable > c.committed {
		target = c.stable
	}
	if c.lagTarget > c.committed && c.ticks >= c.lagSince+uint64(c.cfg.RetransmitTicks) {
		target = max(target, c.lagTarget)
	}
	var hs []uint64
	for _, m := range c.peerCheckpoints {
		if m.Height > c.committed {
			hs = append(hs, m.Height)
		}
	}
	if len(hs) >= c.f+1 {
		sort.Slice(hs, func(i, j int) bool { return hs[i] > hs[j] })
		if t := hs[c.f]; t > c.committed+c.cfg.PipelineWindow && t > target {
			target = t
		}
	}
	return target
}

// noteFarCommit tracks each validator's highest commit, in any view. When
// f+1 validators commit more than a pipeline window above this node (one of
// them honest), the chain moved on without it; if that lasts for
// RetransmitTicks, Behind asks the driver to sync. This also covers a node
// waiting alone in a view change, which ignores the view the others use.
func (c *Core) noteFarCommit(m *Message) {
	if m.Height <= c.peerCommitHeights[m.From] {
		return
	}
	c.peerCommitHeights[m.From] = m.Height
	if m.Height <= c.committed+c.cfg.PipelineWindow {
		return
	}
	var hs []uint64
	for _, h := range c.peerCommitHeights { // sorted below
		hs = append(hs, h)
	}
	if len(hs) < c.f+1 {
		return
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i] > hs[j] })
	if t := hs[c.f]; t > c.committed+c.cfg.PipelineWindow && t > c.lagTarget {
		if c.lagTarget <= c.committed {
			c.lagSince = c.ticks
		}
		c.lagTarget = t
	}
}

// verifyCheckpointProof checks a stable-checkpoint proof against this
// core's chain, validator set, interval and quorum.
func (c *Core) verifyCheckpointProof(p *CheckpointProof) error {
	return VerifyCheckpointProof(c.cfg.ChainID, c.vs, c.cfg.CheckpointInterval, c.q, p)
}

// VerifyCheckpointProof checks a stable-checkpoint proof: at least quorum
// and at most n checkpoint messages, from distinct validators, each validly
// signed and naming exactly the proof's height, block hash and appHash, at
// a non-zero height that is a multiple of interval (any height when
// interval is 0). Block sync uses it for the proofs peers serve. Errors
// wrap ErrInvalidProof.
func VerifyCheckpointProof(chainID string, vs *chain.ValidatorSet, interval uint64, quorum int, p *CheckpointProof) error {
	if p.Height == 0 || (interval > 0 && p.Height%interval != 0) {
		return fmt.Errorf("%w: checkpoint proof at height %d, interval %d", ErrInvalidProof, p.Height, interval)
	}
	if len(p.Checkpoints) < quorum || len(p.Checkpoints) > vs.Size() {
		return fmt.Errorf("%w: checkpoint proof with %d messages, quorum %d of %d", ErrInvalidProof, len(p.Checkpoints), quorum, vs.Size())
	}
	seen := make(map[uint32]bool, len(p.Checkpoints))
	for _, m := range p.Checkpoints {
		if m == nil || m.Type != MsgCheckpoint || m.Height != p.Height || m.Digest != p.BlockHash || m.AppHash != p.AppHash {
			return fmt.Errorf("%w: checkpoint proof at %d holds a message that does not match it", ErrInvalidProof, p.Height)
		}
		if seen[m.From] {
			return fmt.Errorf("%w: checkpoint proof at %d has a duplicate signer %d", ErrInvalidProof, p.Height, m.From)
		}
		seen[m.From] = true
		if err := verifySig(chainID, vs, m); err != nil {
			return fmt.Errorf("%w: checkpoint proof at %d: %v", ErrInvalidProof, p.Height, err)
		}
	}
	return nil
}

// StepCertified feeds a block learned by block sync with its commit
// certificate. It must extend the committed chain (height committed+1 and
// parent the committed tip); it is then delivered in Ready.Committed exactly
// as if this node had committed it.
func (c *Core) StepCertified(b *chain.Block, cert *chain.Certificate) error {
	h := c.committed + 1
	switch {
	case b == nil || cert == nil:
		return fmt.Errorf("%w: nil block or certificate", ErrInvalidProof)
	case b.Header.Height != h:
		return fmt.Errorf("%w: certified block %d, next is %d", ErrOutsideWindow, b.Header.Height, h)
	case b.Header.ParentHash != c.committedHash:
		return fmt.Errorf("%w: certified block %d parent %s, committed tip %s", ErrInvalidProof, h, b.Header.ParentHash, c.committedHash)
	case cert.Height != h || cert.BlockHash != b.Hash():
		return fmt.Errorf("%w: certificate is for %d/%s, block %d/%s", ErrInvalidProof, cert.Height, cert.BlockHash, h, b.Hash())
	}
	if err := b.CheckTxRoot(); err != nil {
		return fmt.Errorf("%w: certified block %d: %v", ErrInvalidProof, h, err)
	}
	if err := c.verifyCertificate(cert); err != nil {
		return err
	}
	c.commitBlock(b, cert)
	c.advance()
	return nil
}

// verifyCertificate checks cert against the validator set with this core's
// quorum (chain.Certificate.Verify, or f+1 in the weakened simulator mode).
func (c *Core) verifyCertificate(cert *chain.Certificate) error {
	if !c.cfg.WeakenQuorum {
		if err := cert.Verify(c.cfg.ChainID, c.vs); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidProof, err)
		}
		return nil
	}
	if len(cert.Signatures) < c.q || len(cert.Signatures) > c.n {
		return fmt.Errorf("%w: %d signatures", ErrInvalidProof, len(cert.Signatures))
	}
	digest := chain.CommitDigest(c.cfg.ChainID, cert.Height, cert.View, cert.BlockHash)
	seen := map[uint32]bool{}
	for _, s := range cert.Signatures {
		if int64(s.Validator) >= int64(c.n) || seen[s.Validator] {
			return fmt.Errorf("%w: signer %d", ErrInvalidProof, s.Validator)
		}
		seen[s.Validator] = true
		if err := c.vs.VerifySignature(int(s.Validator), digest, s.Signature); err != nil {
			return fmt.Errorf("%w: signer %d: %v", ErrInvalidProof, s.Validator, err)
		}
	}
	return nil
}
