package ordering

import (
	"errors"
	"testing"

	"github.com/bafomet/bafomet/chain"
)

// Tests named after the rules of Castro & Liskov (TOCS 2002) they check.

// "A replica that timed out waiting for a request to execute starts a view
// change": a silent primary is replaced and the chain continues with no gap.
func TestSilentPrimaryIsReplaced(t *testing.T) {
	cl := newCluster(t, 4, nil)
	cl.run(3, 50)
	cl.isolate(0)
	for i := 1; i < 4; i++ {
		cl.nodes[i].core.NotePending(true)
	}
	cl.tickAll(11)
	for i := 1; i < 4; i++ {
		ss := cl.nodes[i].core.SoftState()
		if ss.View != 1 || ss.InViewChange || ss.Primary != 1 {
			t.Fatalf("node %d after timeout: %+v", i, ss)
		}
	}
	cl.nodes[0].down = true
	cl.run(8, 50)
	cl.checkAgreement()
	for i := 1; i < 4; i++ {
		if got := cl.nodes[i].core.committed; got != 8 {
			t.Fatalf("node %d committed %d, want 8", i, got)
		}
	}
}

// "Prepared certificates are carried into the new view": a block prepared
// by a quorum but committed nowhere is re-proposed with the same hash.
func TestPreparedCertificateSurvivesViewChange(t *testing.T) {
	cl := newCluster(t, 4, nil)
	cl.run(2, 50)
	cl.filter = func(e envelope) bool { return e.msg.Type == MsgCommit }
	cl.propose(0, 1)
	cl.deliverAll()
	prepared := cl.nodes[1].core.slots[3].proof
	if prepared == nil {
		t.Fatal("node 1 did not prepare height 3")
	}
	want := prepared.PrePrepare.Digest
	cl.filter = func(e envelope) bool { return e.msg.Type == MsgCommit && e.msg.View == 0 }
	cl.nodes[0].down = true
	for i := 1; i < 4; i++ {
		cl.nodes[i].core.NotePending(true)
	}
	cl.tickAll(11)
	cl.run(4, 50)
	cl.checkAgreement()
	for i := 1; i < 4; i++ {
		nd := cl.nodes[i]
		var got chain.Hash
		for _, cm := range nd.committed {
			if cm.Block.Header.Height == 3 {
				got = cm.Block.Hash()
				if cm.Certificate.View != 1 {
					t.Fatalf("node %d: height 3 committed in view %d, want 1", i, cm.Certificate.View)
				}
			}
		}
		if got != want {
			t.Fatalf("node %d committed %s at 3, want the prepared %s", i, got, want)
		}
	}
}

// "A replica accepts a commit only if it is in the same view": a commit
// from an older view is ignored and counts toward nothing.
func TestStaleViewCommitIsIgnored(t *testing.T) {
	cl := newCluster(t, 4, nil)
	cl.run(1, 50)
	old := cl.nodes[1].records[len(cl.nodes[1].records)-1].Msg
	cl.isolate(0)
	for i := 1; i < 4; i++ {
		cl.nodes[i].core.NotePending(true)
	}
	cl.tickAll(11)
	c := cl.nodes[2].core
	stale := &Message{Type: MsgCommit, From: 1, View: 0, Height: 2, Digest: old.Digest}
	if err := SignMessage(NewKeySigner(cl.keys[1]), testChainID, stale); err != nil {
		t.Fatal(err)
	}
	if err := c.Step(stale); !errors.Is(err, ErrStaleView) {
		t.Fatalf("stale commit: got %v, want ErrStaleView", err)
	}
	if s := c.slots[2]; s != nil && len(s.commits) != 0 {
		t.Fatalf("stale commit was stored: %d commits", len(s.commits))
	}
}

// "A primary that sends two pre-prepares for one sequence number is faulty":
// the backup keeps the pair as evidence, votes for neither the second nor
// anything else in that view, and the primary is replaced.
func TestEquivocatingPrimaryIsReplaced(t *testing.T) {
	cl := newCluster(t, 4, nil)
	cl.run(1, 50)
	slot := cl.nodes[0].core.proposalSlot()
	a := cl.block(0, slot)
	b := cl.block(0, slot)
	b.Header.Timestamp++
	signer := NewKeySigner(cl.keys[0])
	ppA := &Message{Type: MsgPrePrepare, View: 0, Height: 2, Digest: a.Hash(), Block: a}
	ppB := &Message{Type: MsgPrePrepare, View: 0, Height: 2, Digest: b.Hash(), Block: b}
	for _, m := range []*Message{ppA, ppB} {
		if err := SignMessage(signer, testChainID, m); err != nil {
			t.Fatal(err)
		}
	}
	c := cl.nodes[1].core
	if err := c.Step(ppA); err != nil {
		t.Fatal(err)
	}
	if err := c.Step(ppB); !errors.Is(err, ErrConflict) {
		t.Fatalf("second pre-prepare: got %v, want ErrConflict", err)
	}
	rd := c.Ready()
	if len(rd.Evidence) != 1 || rd.Evidence[0].A != ppA || rd.Evidence[0].B != ppB {
		t.Fatalf("evidence %+v", rd.Evidence)
	}
	if ss := rd.SoftState; ss.View != 1 || !ss.InViewChange {
		t.Fatalf("soft state after equivocation %+v", ss)
	}
	for _, r := range rd.Persist {
		m := r.Msg
		if m.Type == MsgPrepare && m.Digest == b.Hash() {
			t.Fatal("backup prepared the second pre-prepare")
		}
	}
}

// "A replica never sends two different prepares for one (view, sequence
// number), even across a crash": restored from its records, a backup
// refuses a conflicting pre-prepare at a height it prepared.
func TestRestoredNodeDoesNotDoubleSign(t *testing.T) {
	cl := newCluster(t, 4, nil)
	cl.run(1, 50)
	cl.propose(0, 1)
	cl.deliverAll()
	nd := cl.nodes[1]
	var prepared *Message
	for _, r := range nd.records {
		if m := r.Msg; m.Type == MsgPrepare && m.Height == 2 {
			prepared = m
		}
	}
	if prepared == nil {
		t.Fatal("node 1 persisted no prepare at height 2")
	}
	nd.committed = nd.committed[:1] // crash before executing height 2
	cl.restart(1)
	c := nd.core
	if c.committed != 1 || c.view != 0 || c.inViewChange {
		t.Fatalf("restored at committed %d view %d in-view-change %v", c.committed, c.view, c.inViewChange)
	}
	slot := &ProposalSlot{View: 0, Height: 2, ParentHash: nd.committed[0].Block.Hash(),
		ParentTimestamp: nd.committed[0].Block.Header.Timestamp, AppHash: nd.appHashes[0]}
	other := cl.block(0, slot)
	other.Header.Timestamp += 5
	pp := &Message{Type: MsgPrePrepare, View: 0, Height: 2, Digest: other.Hash(), Block: other}
	if err := SignMessage(NewKeySigner(cl.keys[0]), testChainID, pp); err != nil {
		t.Fatal(err)
	}
	if err := c.Step(pp); err != nil {
		t.Fatalf("step: %v", err)
	}
	for _, r := range c.Ready().Persist {
		m := r.Msg
		if m.Type == MsgPrepare && m.Height == 2 && m.View == 0 {
			t.Fatalf("restored node signed a second prepare at (0, 2): %s", short(m.Digest))
		}
	}
}

// "A node with no records does not vote where it may have voted before."
func TestWipedNodeWaitsPastNoVoteHeight(t *testing.T) {
	vs, keys := testValidators(t, 4)
	cfg := Config{ChainID: testChainID, Validators: vs, Self: 2, Signer: NewKeySigner(keys[2]), CheckpointInterval: 10}
	c, err := New(cfg, Restore{BlockHash: genesisHash, BlockTimestamp: genesisTs,
		AppHashes: []AppHashAt{{0, genesisApp}}, NoVoteThroughHeight: 5, MinView: 3})
	if err != nil {
		t.Fatal(err)
	}
	if ss := c.SoftState(); ss.View != 3 || !ss.InViewChange {
		t.Fatalf("wiped node starts at %+v, want view change to 3", ss)
	}
	if _, err := c.signOwn(&Message{Type: MsgPrepare, View: 3, Height: 5}); !errors.Is(err, ErrAlreadySigned) {
		t.Fatalf("vote at the no-vote height: %v", err)
	}
	if _, err := c.signOwn(&Message{Type: MsgPrepare, View: 3, Height: 6}); err != nil {
		t.Fatalf("vote above the no-vote height: %v", err)
	}
}

// "The log is discarded below a stable checkpoint": memory stays flat.
func TestCheckpointGarbageCollectsTheLog(t *testing.T) {
	heights := uint64(10_000)
	if testing.Short() {
		heights = 1_000
	}
	cl := newCluster(t, 4, func(c *Config) { c.PipelineWindow = 2 })
	cl.skipCertCheck, cl.trimCommitted = true, true
	cl.run(heights, int(heights)+100)
	cl.checkAgreement()
	for i, nd := range cl.nodes {
		if nd.core.stable != heights {
			t.Fatalf("node %d stable %d, want %d", i, nd.core.stable, heights)
		}
		if len(nd.records) > 200 {
			t.Fatalf("node %d keeps %d records after pruning", i, len(nd.records))
		}
	}
	// 2 windows of 20 heights: slots, own votes (3 per height), checkpoints.
	if cl.maxLogs > 150 {
		t.Fatalf("log grew to %d entries", cl.maxLogs)
	}
}

// "The primary never assigns one sequence number to two requests in a
// view", across a crash: restored, it continues after its own pre-prepare.
func TestRestoredPrimaryDoesNotProposeTwice(t *testing.T) {
	cl := newCluster(t, 4, nil)
	cl.run(1, 50)
	cl.filter = func(e envelope) bool { return true } // nothing leaves the primary
	cl.propose(0, 1)
	cl.queue = nil
	cl.filter = nil
	nd := cl.nodes[0]
	cl.restart(0)
	c := nd.core
	if p := c.proposalSlot(); p != nil {
		t.Fatalf("restored primary offers slot %+v although it pre-prepared height 2", p)
	}
	if s := c.slots[2]; s == nil || s.pp == nil || s.pp.From != 0 {
		t.Fatal("restored primary lost its pre-prepare at height 2")
	}
	cl.tick(0, 3) // RetransmitTicks: the pre-prepare is re-sent
	cl.deliverAll()
	for i, n := range cl.nodes {
		if n.core.committed != 2 {
			t.Fatalf("node %d committed %d, want 2", i, n.core.committed)
		}
	}
}

// A node restored from a view-change record resumes in that view change,
// and rejoins when the view's primary answers its re-sent view change.
func TestRestoredNodeResumesItsView(t *testing.T) {
	cl := newCluster(t, 4, nil)
	cl.run(2, 50)
	cl.isolate(0)
	for i := 0; i < 4; i++ {
		cl.nodes[i].core.NotePending(true)
	}
	cl.tickAll(11)
	cl.nodes[0].down = true
	cl.run(4, 50)
	cl.restart(3)
	if ss := cl.nodes[3].core.SoftState(); ss.View != 1 || ss.InViewChange {
		t.Fatalf("restored node 3 in %+v, want normal in view 1", ss)
	}
	cl.nodes[0].down = false
	cl.heal()
	cl.restart(0)
	if ss := cl.nodes[0].core.SoftState(); ss.View != 1 || !ss.InViewChange {
		t.Fatalf("restored node 0 in %+v, want view change to 1", ss)
	}
	cl.tickAll(4) // node 0 re-sends its view change; primary 1 answers with the NewView
	if ss := cl.nodes[0].core.SoftState(); ss.View != 1 || ss.InViewChange {
		t.Fatalf("node 0 did not rejoin view 1: %+v", ss)
	}
}

// A view change carries the commit certificates of the sender's committed
// heights above the stable checkpoint instead of a prepared certificate with
// its block for each, so it costs a few hundred bytes per height however big
// the blocks: with about 60 heights committed and none stable, each view
// change holds those certificates and no block, and the new view continues
// above them.
func TestViewChangeCarriesCommitCertificateNotCommittedBlocks(t *testing.T) {
	cl := newCluster(t, 4, func(c *Config) { c.CheckpointInterval, c.PipelineWindow = 100, 4 })
	cl.run(57, 200)
	var vcs []*Message
	cl.filter = func(e envelope) bool {
		if e.msg.Type == MsgViewChange {
			vcs = append(vcs, e.msg)
		}
		return false
	}
	cl.isolate(0)
	for i := 1; i < 4; i++ {
		cl.nodes[i].core.NotePending(true)
	}
	cl.tickAll(11)
	if len(vcs) == 0 {
		t.Fatal("no view change sent")
	}
	for _, m := range vcs {
		vc := m.ViewChange
		if m.From == 0 {
			continue
		}
		want := cl.nodes[m.From].core.committed
		if n := len(vc.Committed); want < 57 || n != int(want) || vc.Committed[n-1].Height != want || len(vc.Prepared) != 0 || vc.Checkpoint != nil {
			t.Fatalf("view change from %d: %d certificates, %d prepared, checkpoint %v; want the certificates of 1…%d and nothing else",
				m.From, n, len(vc.Prepared), vc.Checkpoint, want)
		}
		enc, err := EncodeMessage(m)
		if err != nil || len(enc) > 300*int(want) {
			t.Fatalf("view change from %d encodes to %d bytes (%v)", m.From, len(enc), err)
		}
	}
	cl.filter = nil
	cl.nodes[0].down = true
	cl.run(65, 200)
	cl.checkAgreement()
}

// A validator that missed decided heights learns them from the new view's
// commit certificate: it neither proposes nor accepts blocks at or below
// that height and reports itself behind at once, so block sync fetches them.
func TestNewViewAboveCommittedMakesNodeBehind(t *testing.T) {
	cl := newCluster(t, 4, func(c *Config) { c.CheckpointInterval, c.PipelineWindow = 100, 4 })
	cl.run(5, 50)
	cl.isolate(3)
	cl.nodes[3].down = true
	cl.run(30, 200)
	cl.nodes[3].down = false
	cl.heal()
	lag := cl.nodes[3].core
	if lag.committed >= 30 {
		t.Fatalf("node 3 committed %d while down", lag.committed)
	}
	cl.isolate(0)
	for i := 1; i < 4; i++ {
		cl.nodes[i].core.NotePending(true)
	}
	cl.tickAll(11)
	cl.deliverAll()
	if lag.decided < 30 {
		t.Fatalf("node 3 decided %d after the new view, want ≥ 30", lag.decided)
	}
	if b := lag.behind(); b < 30 {
		t.Fatalf("node 3 behind() = %d, want ≥ 30", b)
	}
	if lag.proposalSlot() != nil {
		t.Fatal("a node below the decided height offers a proposal slot")
	}
}
