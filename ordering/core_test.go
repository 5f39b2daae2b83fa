package ordering

import (
	"testing"
)

func TestSingleValidatorCommitsAlone(t *testing.T) {
	cl := newCluster(t, 1, nil)
	cl.run(25, 100)
	nd := cl.nodes[0]
	if got := nd.core.committed; got != 25 {
		t.Fatalf("committed %d, want 25", got)
	}
	if got := nd.core.stable; got != 20 {
		t.Fatalf("stable %d, want 20", got)
	}
	if len(nd.records) == 0 {
		t.Fatal("no records persisted")
	}
}

func TestNormalCaseCommitsInOrder(t *testing.T) {
	for _, w := range []uint64{1, 3} {
		cl := newCluster(t, 4, func(c *Config) { c.PipelineWindow = w })
		cl.run(12, 100)
		cl.checkAgreement()
		for i, nd := range cl.nodes {
			if nd.core.committed != 12 || nd.core.view != 0 {
				t.Fatalf("window %d node %d: committed %d view %d", w, i, nd.core.committed, nd.core.view)
			}
		}
	}
}
