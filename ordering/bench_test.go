package ordering

import (
	"testing"
)

// BenchmarkRound measures one PBFT round for n = 4 in the core: the
// primary proposes, every message is delivered and verified, and all four
// nodes commit (signing, verification and certificate assembly included).
func BenchmarkRound(b *testing.B) {
	cl := newCluster(b, 4, nil)
	cl.skipCertCheck, cl.trimCommitted = true, true
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cl.propose(0, 1)
		cl.deliverAll()
	}
	b.StopTimer()
	if got := cl.nodes[3].core.committed; got != uint64(b.N) {
		b.Fatalf("committed %d of %d", got, b.N)
	}
}
