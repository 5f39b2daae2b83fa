package ordering

import "testing"

// A validator waiting in a view change that adopts a stable checkpoint
// far above its log window keeps the record of its view change: pruning at
// the checkpoint does not take it, so a restart resumes in that view, not
// in a lower one.
func TestViewChangeRecordSurvivesACheckpointJump(t *testing.T) {
	cl := newCluster(t, 4, nil) // checkpoint interval 10, log window 20
	lag := cl.nodes[3]
	lag.down = true
	cl.run(40, 200)
	lag.down = false
	lag.core.startViewChange(1)
	cl.process(3)
	cl.queue = nil
	if ss := lag.core.SoftState(); ss.View != 1 || !ss.InViewChange {
		t.Fatalf("lagging node not in the view change to 1: %+v", ss)
	}
	ahead := cl.nodes[0].core
	ahead.startViewChange(7)
	if err := lag.core.Step(ahead.ownViewChange); err != nil {
		t.Fatalf("view change with a checkpoint at %d: %v", ahead.stable, err)
	}
	cl.process(3)
	if lag.stable == nil || lag.stable.Height < 40 {
		t.Fatalf("lagging node did not adopt the checkpoint: %+v", lag.core.SoftState())
	}
	lag.down = true
	cl.restart(3)
	if ss := lag.core.SoftState(); ss.View < 1 {
		t.Fatalf("restarted in view %d, below the view change to 1 it signed", ss.View)
	}
}
