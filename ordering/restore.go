package ordering

import (
	"fmt"
)

// restore rebuilds the core from the driver's persisted state. Records are
// this node's own signed messages, the pre-prepares and prepares of the
// prepared certificates it committed on (persisted before its commits), and
// the NewViews it entered views by.
// After restore the node:
//   - never signs a different hash for a (type, view, height) it signed,
//   - never pre-prepares twice at one (view, height),
//   - resumes in a view ≥ every view it signed in (in view change unless it
//     already worked normally in that view),
//   - still carries its prepared certificates into view changes.
func (c *Core) restore(r Restore) error {
	c.committed, c.committedHash, c.committedTs = r.Height, r.BlockHash, r.BlockTimestamp
	c.executed = r.Height
	c.hashes[r.Height] = r.BlockHash
	for _, a := range r.AppHashes {
		if a.Height <= r.Height {
			c.appHashes[a.Height] = a.AppHash
		}
	}
	w := c.cfg.PipelineWindow
	for x := r.Height + 1 - min(r.Height+1, w); x <= r.Height; x++ {
		if _, ok := c.appHashes[x]; !ok {
			return fmt.Errorf("AppHashes lacks height %d: heights %d…%d are needed (0 = genesis state)",
				x, r.Height+1-min(r.Height+1, w), r.Height)
		}
	}
	c.noVoteThrough = r.NoVoteThroughHeight
	if r.Stable != nil {
		if err := c.verifyCheckpointProof(r.Stable); err != nil {
			return fmt.Errorf("stable checkpoint: %w", err)
		}
		c.stable, c.stableProof = r.Stable.Height, r.Stable
	}
	if err := c.restoreCertificates(r); err != nil {
		return err
	}
	st, err := c.scanRecords(r.Records)
	if err != nil {
		return err
	}
	view := max(r.MinView, st.maxView)
	needVC := false
	switch {
	case view == 0 && !st.signedVC:
		c.becomeNormal(0)
	case st.active && st.activeView == view:
		c.becomeNormal(view)
	case st.vc != nil && st.vc.View == view:
		c.becomeViewChange(view)
		c.ownViewChange, c.pin = st.vc, st.vc
		c.viewChanges[c.self] = st.vc
	default:
		c.becomeNormal(view) // left for a view change once the log is back
		needVC = true
	}
	c.installRecords(st)
	if nv := st.nv; nv != nil && nv.View == view && !c.inViewChange && !c.cfg.Revert.Has(RevertNewViewRecord) {
		c.pin = nv
		c.installNewView(nv)
	}
	if needVC {
		c.startViewChange(view)
	}
	return nil
}

// restoreCertificates checks the restored commit certificates — consecutive
// heights ending at the restored block — and keeps those inside the log
// window above the stable checkpoint.
func (c *Core) restoreCertificates(r Restore) error {
	certs := r.Certificates
	if len(certs) == 0 {
		return nil
	}
	if last := certs[len(certs)-1]; last.Height != r.Height || last.BlockHash != r.BlockHash {
		return fmt.Errorf("last certificate is for %d/%s, restored block %d/%s", last.Height, last.BlockHash, r.Height, r.BlockHash)
	}
	low := max(c.stable, r.Height-min(r.Height, c.cfg.LogWindow))
	for i, cert := range certs {
		if want := r.Height - uint64(len(certs)-1-i); cert.Height != want {
			return fmt.Errorf("certificate %d is for height %d, want %d (consecutive heights ending at %d)", i, cert.Height, want, r.Height)
		}
		if cert.Height <= low {
			continue
		}
		if err := c.verifyCertificate(cert); err != nil {
			return fmt.Errorf("certificate of %d: %w", cert.Height, err)
		}
		c.certs[cert.Height] = cert
	}
	return nil
}

// recordScan is what restore learned from the records.
type recordScan struct {
	maxView    uint64
	active     bool   // a vote or NewView was signed in activeView
	activeView uint64 // highest view of a signed vote or NewView
	signedVC   bool
	vc         *Message // latest own view change
	nv         *Message // latest NewView this node sent or entered its view by
	votes      []*Message
	others     []*Message // pre-prepares and prepares of prepared certificates
}

func (c *Core) scanRecords(records []*Message) (*recordScan, error) {
	st := &recordScan{}
	for i, m := range records {
		if err := VerifyMessage(c.cfg.ChainID, c.vs, m); err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		if m.From != c.self {
			switch m.Type {
			case MsgPrePrepare, MsgPrepare:
				st.others = append(st.others, m)
			case MsgNewView:
				if err := c.verifyNewView(m); err != nil {
					return nil, fmt.Errorf("record %d: %w", i, err)
				}
				st.noteNewView(m)
			default:
				return nil, fmt.Errorf("record %d: %s from validator %d", i, m.Type, m.From)
			}
			continue
		}
		st.maxView = max(st.maxView, m.View)
		switch m.Type {
		case MsgPrePrepare, MsgPrepare, MsgCommit:
			st.votes = append(st.votes, m)
			st.noteActive(m.View)
		case MsgNewView:
			st.noteNewView(m)
		case MsgViewChange:
			st.signedVC = true
			if st.vc == nil || m.View >= st.vc.View {
				st.vc = m
			}
		case MsgCheckpoint:
			if c.ownCheckpoint == nil || m.Height > c.ownCheckpoint.Height {
				c.ownCheckpoint = m
			}
		}
	}
	return st, nil
}

// noteNewView notes a NewView this node sent or entered its view by.
func (st *recordScan) noteNewView(m *Message) {
	st.maxView = max(st.maxView, m.View)
	st.noteActive(m.View)
	if st.nv == nil || m.View >= st.nv.View {
		st.nv = m
	}
}

func (st *recordScan) noteActive(v uint64) {
	if !st.active || v >= st.activeView {
		st.active, st.activeView = true, v
	}
}

// installRecords puts restored votes and prepared certificates back in the
// log: own votes guard against double-signing and are re-sent while stuck;
// own pre-prepares of the current view let the primary continue after them.
func (c *Core) installRecords(st *recordScan) {
	type vh struct{ view, height uint64 }
	pps := map[vh]*Message{}
	prepares := map[vh][]*Message{}
	add := func(m *Message) {
		k := vh{m.View, m.Height}
		if m.Type == MsgPrePrepare {
			pps[k] = m
		} else if m.Type == MsgPrepare {
			prepares[k] = append(prepares[k], m)
		}
	}
	for _, m := range st.votes {
		if m.Height <= c.stable {
			continue
		}
		c.signed[voteKey{m.Type, m.View, m.Height}] = m
		add(m)
		if m.View != c.view || m.Height <= c.committed || !c.inWindow(m.Height) || c.inViewChange {
			continue
		}
		s := c.slotAt(m.Height)
		switch m.Type {
		case MsgPrePrepare:
			s.pp = m
		case MsgPrepare:
			s.prepares[c.self] = m
		case MsgCommit:
			s.commits[c.self] = m
		}
	}
	for _, m := range st.others {
		add(m)
	}
	for k, pp := range pps {
		if !c.inWindow(k.height) {
			continue
		}
		p := c.restoredProof(pp, prepares[k])
		if p == nil {
			continue
		}
		s := c.slots[k.height]
		if s == nil {
			s = newSlot(c.view)
			c.slots[k.height] = s
		}
		if s.proof == nil || p.PrePrepare.View > s.proof.PrePrepare.View {
			s.proof = p
		}
	}
}

// restoredProof rebuilds a prepared certificate from persisted messages.
func (c *Core) restoredProof(pp *Message, prepares []*Message) *PreparedProof {
	if pp.From != c.primaryOf(pp.View) {
		return nil
	}
	sortMessages(prepares)
	seen := map[uint32]bool{}
	var ps []*Message
	for _, m := range prepares {
		if m.Digest == pp.Digest && m.From != pp.From && !seen[m.From] && len(ps) < c.q-1 {
			seen[m.From] = true
			ps = append(ps, m)
		}
	}
	if len(ps) < c.q-1 {
		return nil
	}
	return &PreparedProof{PrePrepare: pp, Prepares: ps}
}
