package sim

import (
	"fmt"
	"testing"

	"github.com/bafomet/bafomet/ordering"
)

// regressions are seeds that once broke an invariant (or the simulator).
// Each stays here for good: add a row, with what it found, whenever a sweep
// or a CI run reports a failing seed, then fix the cause.
var regressions = []struct {
	found string // what the seed exposed when it failed
	cfg   Config
}{
	{
		found: "n = 1: the primary's pre-prepare is persisted but never sent (no peers), so the validity checker must learn proposals from Persist too",
		cfg:   Config{Seed: 1, Nodes: 1, Blocks: 15},
	},
	{
		found: "core liveness (core before bdff6be): Byzantine v3 (wrong-vote, bad-sig, replay, forge-sync) was " +
			"the only node that committed heights 1-2; v0 escalated view changes alone while v1, v2 and v3 formed " +
			"lower views without it, and v3 ignored prepares at heights it had committed, so the honest nodes " +
			"stayed at height 0 for 3000 ticks after healing",
		cfg: Config{Seed: 1119, Nodes: 4, Byzantine: 1, Blocks: 20, Faults: DefaultFaults(1)},
	},
	{
		found: "core liveness (core before bdff6be): n = 7, every node stuck at height 2 through 17 views " +
			"for 3000 ticks after healing",
		cfg: Config{Seed: 216, Nodes: 7, Byzantine: 2, Blocks: 20, Faults: DefaultFaults(2)},
	},
	{
		found: "core liveness (a first version of view changes carrying commit certificates, only the highest " +
			"one): honest nodes had prepared height 2 but only Byzantine v3 held its certificate; the new view " +
			"took height 2 as decided, nobody could commit or serve it, and every honest node stayed at height 1",
		cfg: Config{Seed: 24, Nodes: 7, Byzantine: 2, Blocks: 20, Faults: DefaultFaults(2)},
	},
}

func TestRegressionSeeds(t *testing.T) {
	for i, rg := range regressions {
		t.Run(fmt.Sprintf("%d/seed=%d/n=%d", i, rg.cfg.Seed, rg.cfg.Nodes), func(t *testing.T) {
			r := mustRun(t, rg.cfg)
			if !r.OK() {
				t.Logf("regression first found: %s", rg.found)
			}
			requireOK(t, r)
		})
	}
}

// caught are seeds on which a fix switched off (Config.Revert) or a
// weakened quorum breaks an invariant: each proves that the simulator
// sees the defect the fix prevents, and that the same seed passes with
// the fix on.
var caught = []struct {
	defect string
	cfg    Config
	kind   string // the violation the defect shows as
}{
	{"a certificate withheld below the top one stalls the chain (issue 23, defect 2)",
		Config{Seed: 2, Nodes: 4, Byzantine: 1, Blocks: 20, Faults: FaultWithhold | FaultNet, Revert: ordering.RevertGapFreeDecided}, KindLiveness},
	{"re-sends that stop after a budget deadlock after a long partition with no quorum (defect 3)",
		Config{Seed: 1, Nodes: 4, Blocks: 20, Faults: FaultPartition, Revert: ordering.RevertEndlessRetransmit}, KindLiveness},
	{"view changes and NewViews carrying whole blocks exceed the frame limit (defect 4)",
		Config{Seed: 1, Nodes: 4, Blocks: 20, Faults: FaultBigBlocks | FaultPartition | FaultNet, Revert: ordering.RevertHeaderOnly}, KindLiveness},
	{"backups that neither persist nor restore the NewView of their view fork after a restart below its decided heights (defect 1)",
		Config{Seed: 313, Nodes: 4, Byzantine: 1, Blocks: 20, Faults: FaultAll, Revert: ordering.RevertNewViewRecord}, KindAgreement},
	{"a view change record pruned by a checkpoint jump lets a restart resume in a lower view (defect 5)",
		Config{Seed: 91, Nodes: 4, Byzantine: 1, Blocks: 20, Faults: FaultAll, Revert: ordering.RevertViewPin}, KindViewRegress},
	{"a weakened quorum forks",
		Config{Seed: 2, Nodes: 4, Byzantine: 1, Blocks: 20, Faults: FaultAll, WeakenQuorum: true}, KindAgreement},
}

func TestSwitchedOffFixesAreCaught(t *testing.T) {
	for _, c := range caught {
		t.Run(c.defect, func(t *testing.T) {
			r := mustRun(t, c.cfg)
			if r.OK() || r.Violations[0].Kind != c.kind {
				t.Fatalf("seed %d with %s: violations %v, want a %s violation", c.cfg.Seed, r.Reverted, r.Violations, c.kind)
			}
			fixed := c.cfg
			fixed.Revert, fixed.WeakenQuorum = 0, false
			requireOK(t, mustRun(t, fixed))
		})
	}
}
