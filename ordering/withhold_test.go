package ordering

import "testing"

// A Byzantine validator that holds the commit certificates of heights 1
// and 2 and, in its view change, shows only the one for 2 cannot stall the
// chain. Honest validators lost each other's commits, so none of them
// committed 1 or 2 and none holds a certificate for 1: a new view that
// took height 2 as decided would leave them waiting for blocks nobody
// honest stored. The decided height counts only heights certified without
// a gap, so the new view re-proposes 1 and 2 from the honest validators'
// prepared certificates instead.
func TestWithheldCertificateDoesNotStallTheChain(t *testing.T) {
	cl := newCluster(t, 4, func(c *Config) { c.PipelineWindow = 2; c.CheckpointInterval = 50 })
	const byz = 3
	cl.filter = func(e envelope) bool { return e.msg.Type == MsgCommit && e.to != byz }
	cl.propose(0, 2)
	cl.deliverAll()
	certs := cl.nodes[byz].committed
	if len(certs) != 2 {
		t.Fatalf("the Byzantine validator holds %d certificates, want 2", len(certs))
	}
	for i := 0; i < 3; i++ {
		if ss := cl.nodes[i].core.SoftState(); ss.Committed != 0 {
			t.Fatalf("node %d committed %d, want 0", i, ss.Committed)
		}
	}
	cl.filter = func(e envelope) bool { return e.msg.Type == MsgCommit && e.msg.View == 0 }
	cl.nodes[byz].down = true
	// In every view change it shows the new primary only the certificate
	// for 2, before anyone else's view change arrives.
	withheld := map[uint64]bool{}
	withhold := func() {
		for i := 0; i < 3; i++ {
			ss := cl.nodes[i].core.SoftState()
			if !ss.InViewChange || withheld[ss.View] || ss.Primary == byz {
				continue
			}
			withheld[ss.View] = true
			vc := signed(t, byz, &Message{Type: MsgViewChange, View: ss.View, Height: 100,
				ViewChange: &ViewChange{Committed: certs[1:2].certificates()}})
			if err := cl.nodes[ss.Primary].core.Step(vc); err != nil {
				t.Fatalf("the withholding view change is well-formed, got %v", err)
			}
			cl.process(ss.Primary)
		}
	}
	for r := 0; r < 300; r++ {
		for i := 0; i < 3; i++ {
			nd := cl.nodes[i]
			if ss := nd.core.SoftState(); ss.Primary == i && !ss.InViewChange && nd.toPropose == 0 {
				nd.toPropose = 2
			}
			nd.core.NotePending(true)
			cl.tick(i, 1)
			withhold()
		}
		cl.nowMs += 10
		cl.deliverAll()
	}
	cl.checkAgreement()
	for i := 0; i < 3; i++ {
		if ss := cl.nodes[i].core.SoftState(); ss.Committed < 10 {
			t.Errorf("node %d committed %d after the view change, want ≥ 10: %s", i, ss.Committed, cl.status())
		}
	}
}
