package ordering

import "testing"

// Heights a NewView shows decided stay decided across a crash. n = 4,
// pipeline window 4, asynchronous execution: 1..8 commit in view 0; node 0
// (honest) is cut off; nodes 1–3 form view 1, whose view changes carry
// commit certificates through 8, and vote at 9. They crash having stored
// only height 5 and restart from intact records. Restarted, they must not
// accept a fresh block at 6–8 in view 1: node 0 committed view 0's blocks
// there.
func TestNoForkWhenValidatorsRestartBelowDecidedHeight(t *testing.T) {
	cl := newCluster(t, 4, func(c *Config) { c.PipelineWindow = 4; c.CheckpointInterval = 50 })
	cl.asyncExec = true
	for i := 1; i < 4; i++ {
		cl.capExecution(i, 5)
	}
	cl.run(8, 100)
	for i := range cl.nodes {
		cl.nodes[i].toPropose = 0
	}
	if got := len(cl.nodes[0].committed); got < 8 {
		t.Fatalf("node 0 executed %d blocks, want ≥ 8", got)
	}
	view0 := map[uint64]string{}
	for _, cm := range cl.nodes[0].committed {
		view0[cm.Block.Header.Height] = short(cm.Block.Hash())
	}

	cl.isolate(0)
	for i := 1; i < 4; i++ {
		cl.nodes[i].core.NotePending(true)
	}
	for k := 0; k < 60 && cl.nodes[1].core.SoftState().View == 0 || cl.nodes[1].core.SoftState().InViewChange; k++ {
		cl.tickAll(1)
	}
	if ss := cl.nodes[1].core.SoftState(); ss.View != 1 || ss.InViewChange {
		t.Fatalf("nodes 1-3 did not form view 1: %s", cl.status())
	}
	cl.propose(1, 1)
	cl.deliverAll()
	for i := 1; i < 4; i++ {
		if cl.nodes[i].core.signed[voteKey{MsgCommit, 1, 9}] == nil {
			t.Fatalf("node %d did not vote at 9 in view 1: %s", i, cl.status())
		}
	}

	for i := 1; i < 4; i++ {
		cl.nodes[i].down = true
	}
	for i := 1; i < 4; i++ {
		if got := len(cl.nodes[i].committed); got != 5 {
			t.Fatalf("node %d stored %d blocks before the crash, want 5", i, got)
		}
		cl.nodes[i].execCap = nil
		cl.restart(i)
	}
	cl.deliverAll()
	for r := 0; r < 40; r++ {
		for i := 1; i < 4; i++ {
			if ss := cl.nodes[i].core.SoftState(); ss.Primary == i && !ss.InViewChange {
				cl.nodes[i].toPropose = 1
			}
			cl.nodes[i].core.NotePending(true)
		}
		cl.tickAll(1)
		cl.checkAgreement()
	}
	for i := 1; i < 4; i++ {
		for _, cm := range cl.nodes[i].committed {
			h := cm.Block.Header.Height
			if want, ok := view0[h]; ok && want != short(cm.Block.Hash()) {
				t.Fatalf("node %d committed %s at %d, node 0 committed %s", i, short(cm.Block.Hash()), h, want)
			}
		}
		if got := len(cl.nodes[i].committed); got < 8 {
			t.Errorf("node %d stored %d blocks after restart, want ≥ 8 (the decided heights)", i, got)
		}
	}
}

// A restarted validator's view change certifies every height it committed
// above its checkpoint, not only the last one: decidedBase counts only
// heights certified without a gap, so a restarted honest validator that
// certified just its tip would let a new view skip the prepared
// certificates of heights it committed.
func TestRestartedViewChangeCertifiesEveryCommittedHeight(t *testing.T) {
	cl := newCluster(t, 4, func(c *Config) { c.CheckpointInterval = 50 })
	cl.run(6, 100)
	cl.nodes[1].down = true
	cl.restart(1)
	c := cl.nodes[1].core
	c.startViewChange(1)
	vc := c.ownViewChange.ViewChange
	var got []uint64
	for _, cert := range vc.Committed {
		got = append(got, cert.Height)
	}
	if len(got) != 6 || got[0] != 1 || got[5] != 6 {
		t.Fatalf("view change certifies heights %v, want 1..6", got)
	}
}
