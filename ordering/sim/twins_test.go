package sim

import (
	"fmt"
	"testing"
)

// twinSplits lists every split of n validators plus one twin slot (the
// last) into two groups that separates the twin from the validator id it
// shares a key with. Group labels are fixed by putting id in group 0.
func twinSplits(n, id int) [][]int {
	var out [][]int
	others := n - 1
	for mask := range 1 << others {
		groups := make([]int, n+1)
		bit := 0
		for v := range n {
			if v == id {
				continue
			}
			groups[v] = (mask >> bit) & 1
			bit++
		}
		groups[n] = 1
		out = append(out, groups)
	}
	return out
}

// TestTwinsOneTwinEveryPartition runs n = 4 with one Byzantine validator
// modelled as twins — two unmodified cores with one key — over every
// two-way partition that separates the twins, for each choice of the
// twinned validator. f = 1, so no split may break an invariant.
func TestTwinsOneTwinEveryPartition(t *testing.T) {
	for id := range 4 {
		for _, split := range twinSplits(4, id) {
			t.Run(fmt.Sprintf("twin=%d/split=%v", id, split), func(t *testing.T) {
				r := mustRun(t, Config{
					Seed: uint64(10 + id), Nodes: 4, Byzantine: 1, Blocks: 12, Faults: FaultTwins,
					ByzantineIDs: []int{id}, Partitions: [][]int{split}, PartitionTicks: 150,
				})
				requireOK(t, r)
			})
		}
	}
}

// TestTwinsRandomPartitions lets the seed pick varied two- and three-way
// partitions, changing every PartitionTicks, with network faults on top.
func TestTwinsRandomPartitions(t *testing.T) {
	for seed := uint64(1); seed <= uint64(sweepSeeds(t, 4)); seed++ {
		r := mustRun(t, Config{Seed: seed, Nodes: 4, Byzantine: 1, Blocks: 15, Faults: FaultTwins | FaultNet, PartitionTicks: 40})
		requireOK(t, r)
		if r.Stats.Partitions < 2 {
			t.Fatalf("seed %d: %d twin partitions, want varied rounds", seed, r.Stats.Partitions)
		}
	}
}

// TestTwinsFPlusOneForks is the negative test: with f+1 = 2 twinned
// validators in n = 4, each side of the split holds a quorum of
// identities, both sides commit, and the checker must report a fork.
func TestTwinsFPlusOneForks(t *testing.T) {
	r := mustRun(t, Config{
		Seed: 1, Nodes: 4, Byzantine: 2, Blocks: 10, Faults: FaultTwins, AllowExcessByzantine: true,
		ByzantineIDs: []int{0, 1},
		// slots: v0 v1 v2 v3 twin(v0) twin(v1)
		Partitions: [][]int{{0, 0, 0, 1, 1, 1}}, PartitionTicks: 200,
	})
	if r.OK() {
		t.Fatalf("f+1 twins forked nothing: heights %v", r.CommittedHeights)
	}
	if v := r.Violations[0]; v.Kind != KindAgreement {
		t.Fatalf("first violation %v, want agreement", v)
	}
}

// TestWeakenedQuorumIsCaught proves the agreement checker can fail: with
// the quorum lowered to f+1 and a Byzantine validator, some seed within a
// few hundred forks two honest nodes, and the checker says so.
func TestWeakenedQuorumIsCaught(t *testing.T) {
	const maxSeeds = 300
	for seed := uint64(1); seed <= maxSeeds; seed++ {
		r := mustRun(t, Config{Seed: seed, Nodes: 4, Byzantine: 1, Blocks: 20, Faults: DefaultFaults(1), WeakenQuorum: true})
		if r.OK() {
			continue
		}
		if v := r.Violations[0]; v.Kind != KindAgreement && v.Kind != KindEquivocate {
			t.Fatalf("seed %d: first violation %v, want a fork", seed, v)
		}
		for _, v := range r.Violations {
			if v.Kind == KindAgreement {
				t.Logf("weakened quorum forked at seed %d: %s", seed, v)
				return
			}
		}
	}
	t.Fatalf("no agreement violation in %d seeds with a weakened quorum", maxSeeds)
}
