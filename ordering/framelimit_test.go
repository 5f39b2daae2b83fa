package ordering

import (
	"testing"

	"github.com/bafomet/bafomet/chain"
)

// Every message a view change needs fits the frame limit that fits one
// block (block limit + 64 KiB), at n = 4, 7 and 10 with four blocks near
// the limit prepared and uncommitted when the primary fails: view changes
// and NewViews carry block headers, and the blocks travel one to a
// message. The chain then commits the carried blocks in the new view.
func TestViewChangeWithPreparedBlocksNearTheLimitFitsTheFrame(t *testing.T) {
	const blockBytes = 1_200_000
	for _, n := range []int{4, 7, 10} {
		cl := newCluster(t, n, func(c *Config) {
			c.PipelineWindow, c.CheckpointInterval, c.MaxBlockBytes = 4, 50, blockBytes+1000
		})
		cl.txBytes = blockBytes
		cl.frameLimit = blockBytes + 64<<10
		cl.filter = func(e envelope) bool { return e.msg.Type == MsgCommit && e.msg.View == 0 }
		cl.propose(0, 4)
		cl.deliverAll()
		for i := 1; i < n; i++ {
			if s := cl.nodes[i].core.slots[4]; s == nil || s.proof == nil {
				t.Fatalf("n=%d: node %d did not prepare height 4", n, i)
			}
		}
		cl.nodes[0].down = true
		for r := 0; r < 400 && cl.nodes[1].core.SoftState().Committed < 4; r++ {
			for i := 1; i < n; i++ {
				cl.nodes[i].core.NotePending(true)
			}
			cl.tickAll(1)
		}
		if cl.oversize > 0 {
			t.Errorf("n=%d: %d messages exceeded the %d-byte frame limit", n, cl.oversize, cl.frameLimit)
		}
		for i := 1; i < n; i++ {
			if got := cl.nodes[i].core.SoftState().Committed; got < 4 {
				t.Errorf("n=%d: node %d committed %d, want the 4 carried blocks: %s", n, i, got, cl.status())
			}
		}
		cl.checkAgreement()
		logWindow := cl.nodes[1].core.cfg.LogWindow
		if got, bound := cl.largest[MsgViewChange], MaxViewChangeBytes(n, logWindow); got == 0 || got > bound {
			t.Errorf("n=%d: largest view change %d bytes, bound %d", n, got, bound)
		}
		if got, bound := cl.largest[MsgNewView], MaxNewViewBytes(n, logWindow); got == 0 || got > bound {
			t.Errorf("n=%d: largest NewView %d bytes, bound %d", n, got, bound)
		}
	}
}

// Blocks a primary collected for one view's NewView are dropped when it
// moves on to another view change, so they cannot pile up across views.
func TestViewChangeDropsBlocksCollectedForAnEarlierView(t *testing.T) {
	c := newTestCore(t, 1, nil)
	c.startViewChange(1)
	b := &chain.Block{Header: chain.Header{Height: 1}}
	c.carried[b.Hash()] = b
	c.startViewChange(2)
	if len(c.carried) != 0 {
		t.Fatalf("%d blocks still held after the view change to 2", len(c.carried))
	}
}
