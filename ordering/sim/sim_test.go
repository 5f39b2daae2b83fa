package sim

import (
	"bytes"

	"github.com/ethereum/go-ethereum/rlp"

	"fmt"
	"github.com/bafomet/bafomet/chain"
	"os"
	"strconv"
	"testing"
)

func mustRun(t *testing.T, cfg Config) *Result {
	t.Helper()
	r, err := Run(cfg, Options{})
	if err != nil {
		t.Fatalf("seed %d: %v", cfg.Seed, err)
	}
	return r
}

func requireOK(t *testing.T, r *Result) {
	t.Helper()
	if !r.OK() {
		var b bytes.Buffer
		_ = r.WriteText(&b)
		t.Fatalf("seed %d violated an invariant:\n%s", r.Seed, b.String())
	}
	if r.MinCommittedHeight < r.Blocks {
		t.Fatalf("seed %d: honest min height %d < target %d", r.Seed, r.MinCommittedHeight, r.Blocks)
	}
}

func TestSameSeedSameRunByteForByte(t *testing.T) {
	cfg := Config{Seed: 11, Nodes: 4, Byzantine: 1, Blocks: 12, Faults: DefaultFaults(1)}
	encode := func(r *Result) string {
		var b bytes.Buffer
		if err := r.WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		if err := r.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	a, b := encode(mustRun(t, cfg)), encode(mustRun(t, cfg))
	if a != b {
		t.Fatalf("same seed, different summaries:\n%s\n%s", a, b)
	}
	cfg.Seed = 12
	if c := encode(mustRun(t, cfg)); c == a {
		t.Fatal("different seeds produced identical summaries")
	}
}

func TestNoFaultsCommitsWithoutViewChange(t *testing.T) {
	for _, n := range []int{1, 2, 4, 7} {
		r := mustRun(t, Config{Seed: 1, Nodes: n, Blocks: 15})
		requireOK(t, r)
		if r.ViewChanges != 0 || r.Stats.Rejected != 0 && n == 1 {
			t.Fatalf("n=%d: %d view changes, %d rejected on a healthy network", n, r.ViewChanges, r.Stats.Rejected)
		}
		if r.Messages.Dropped != 0 || r.HealTick != 0 {
			t.Fatalf("n=%d: healthy network dropped %d, healed at %d", n, r.Messages.Dropped, r.HealTick)
		}
	}
}

// sweepSeeds returns how many seeds per n the sweep runs: a handful in a
// normal test run, BAFOMET_SIM_SEEDS when set (CI sets a few hundred).
func sweepSeeds(t *testing.T, normal int) int {
	if v := os.Getenv("BAFOMET_SIM_SEEDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("BAFOMET_SIM_SEEDS=%q is not a positive integer", v)
		}
		return n
	}
	if testing.Short() {
		return 1
	}
	return normal
}

func TestSweepWithFByzantine(t *testing.T) {
	for _, tc := range []struct{ n, seeds int }{{4, 6}, {7, 3}, {10, 1}} {
		f := (tc.n - 1) / 3
		for seed := 1; seed <= sweepSeeds(t, tc.seeds); seed++ {
			t.Run(fmt.Sprintf("n=%d/seed=%d", tc.n, seed), func(t *testing.T) {
				requireOK(t, mustRun(t, Config{Seed: uint64(seed), Nodes: tc.n, Byzantine: f, Blocks: 20, Faults: DefaultFaults(f)}))
			})
		}
	}
}

func TestEachAttackAlone(t *testing.T) {
	for i, name := range attackNames {
		a := Attack(1 << i)
		t.Run(name, func(t *testing.T) {
			for seed := uint64(1); seed <= 3; seed++ {
				r := mustRun(t, Config{Seed: seed, Nodes: 4, Byzantine: 1, Blocks: 15, Faults: FaultByzantine, Attacks: a})
				requireOK(t, r)
				quiet := a == AttackSilent || a == AttackEquivocate || a == AttackForgeSync || a == AttackWithhold // need a view change or a syncing peer
				if !quiet && r.Stats.ByzantineOut == 0 {
					t.Fatalf("seed %d: attack %s sent nothing", seed, a)
				}
			}
		})
	}
}

func TestSkewAndSlowNodesCauseNoStorm(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		r := mustRun(t, Config{Seed: seed, Nodes: 4, Blocks: 20, Faults: FaultSkew | FaultSlow, MaxSkewMs: 900})
		requireOK(t, r)
		if r.ViewChanges > 1 {
			t.Fatalf("seed %d: %d view changes with only skew and slow nodes", seed, r.ViewChanges)
		}
	}
}

// TestCrashedNodeCatchesUpBySync crashes one validator for long enough
// that the others move past a checkpoint, then restarts it: it must catch
// up by block sync.
func TestCrashedNodeCatchesUpBySync(t *testing.T) {
	for _, perResponse := range []int{DefaultMaxSyncBlocks, 4} {
		t.Run(fmt.Sprintf("MaxSyncBlocks=%d", perResponse), func(t *testing.T) { crashAndSync(t, perResponse) })
	}
}

func crashAndSync(t *testing.T, perResponse int) {
	s, err := New(Config{Seed: 5, Nodes: 4, Blocks: 40, MaxSyncBlocks: perResponse}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Tick() || !s.fault.healed {
		t.Fatal("a run without phased faults did not heal at tick 0")
	}
	victim := s.nodes[2]
	s.crash(victim)
	for s.nodes[0].store.height() < 30 {
		if !s.Tick() {
			t.Fatalf("run ended at tick %d before the others reached 30", s.now)
		}
	}
	if victim.store.height() != 0 {
		t.Fatalf("crashed node executed %d blocks", victim.store.height())
	}
	s.restart(victim)
	r, err := s.Run()
	if err != nil {
		t.Fatal(err)
	}
	requireOK(t, r)
	if r.Stats.SyncedBlocks < 20 {
		t.Fatalf("restarted node synced %d blocks, want ≥ 20", r.Stats.SyncedBlocks)
	}
	// No response carries more than the limit, so catching up takes at
	// least synced/limit requests.
	if least := r.Stats.SyncedBlocks / uint64(perResponse); r.Stats.SyncRequests < least {
		t.Fatalf("%d blocks synced in %d requests of at most %d", r.Stats.SyncedBlocks, r.Stats.SyncRequests, perResponse)
	}
}

func TestLivenessViolationReported(t *testing.T) {
	// Crashes for 100 ticks, then a 1-tick bound: the run cannot finish.
	r := mustRun(t, Config{Seed: 2, Nodes: 4, Blocks: 30, Faults: FaultCrash, CrashOneIn: 1, FaultTicks: 5, LivenessTicks: 1})
	if r.OK() || r.Violations[0].Kind != KindLiveness {
		t.Fatalf("violations %v, want liveness", r.Violations)
	}
}

// TestForgedSyncIsRejected makes the only peer a lagging node can sync from
// serve altered blocks under genuine certificates: the core must refuse
// them (a certificate for another hash), and the node must still finish by
// syncing from honest peers.
func TestForgedSyncIsRejected(t *testing.T) {
	s, err := New(Config{Seed: 5, Nodes: 4, Byzantine: 1, Blocks: 40, Faults: FaultByzantine, Attacks: AttackForgeSync}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Tick() {
		t.Fatal("run ended at tick 0")
	}
	var victim, forger *node
	for _, n := range s.nodes {
		switch {
		case n.byz != nil:
			forger = n
		case victim == nil && n.honest && n.slot != 0:
			victim = n
		}
	}
	s.crash(victim)
	for s.nodes[0].store.height() < 30 && s.Tick() {
	}
	s.restart(victim)
	// Ask the forger directly, once, and deliver its answer.
	victim.lastSync = s.now
	blocks, certs := forger.store.certified(0, s.cfg.MaxSyncBlocks)
	if len(blocks) == 0 {
		t.Fatal("forger holds no blocks")
	}
	resp := mustEncodeSync(t, forgeBlocks(blocks), certs)
	s.applySync(victim, resp)
	if victim.store.height() != 0 {
		t.Fatalf("node executed %d forged blocks", victim.store.height())
	}
	r, err := s.Run()
	if err != nil {
		t.Fatal(err)
	}
	requireOK(t, r)
}

func mustEncodeSync(t *testing.T, blocks []*chain.Block, certs []*chain.Certificate) []byte {
	t.Helper()
	b, err := rlp.EncodeToBytes(&syncResponse{Blocks: blocks, Certs: certs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The withhold fault: with view changes forced by a long outage, the
// Byzantine validator sends withholding view changes, and the honest
// validators still commit past the target after healing.
func TestWithholdingViewChangesAreSentAndSurvived(t *testing.T) {
	sent := false
	for seed := uint64(1); seed <= 6; seed++ {
		r := mustRun(t, Config{Seed: seed, Nodes: 4, Byzantine: 1, Blocks: 15, Faults: FaultWithhold | FaultPartition})
		requireOK(t, r)
		sent = sent || r.Stats.ByzantineOut > 0
	}
	if !sent {
		t.Fatal("no run sent a withholding view change")
	}
}
