package ordering

import "testing"

// A 2–2 partition (no side has a quorum) that outlasts every retransmit
// budget, then heals: validators waiting in a view change keep re-sending
// (backed off, never given up), so the view change completes and the
// chain moves again by itself.
func TestChainMovesAfterAPartitionWithNoQuorumHeals(t *testing.T) {
	cl := newCluster(t, 4, nil)
	cl.run(2, 50)
	for _, a := range []int{0, 1} {
		for _, b := range []int{2, 3} {
			cl.cut[[2]int{a, b}], cl.cut[[2]int{b, a}] = true, true
		}
	}
	for k := 0; k < 400; k++ {
		for i := range cl.nodes {
			cl.nodes[i].core.NotePending(true)
		}
		cl.tickAll(1)
	}
	cl.heal()
	cl.run(4, 3000)
	cl.checkAgreement()
}
