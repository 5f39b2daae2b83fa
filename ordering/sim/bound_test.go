package sim

import "testing"

// TestPersistedRecordsStayBounded runs 150 heights and checks that the
// driver's pruning at each stable checkpoint keeps a node's persisted
// records flat: on a healthy network a checkpoint is at most two intervals
// behind, and each height holds at most a pre-prepare, a prepare, a commit
// and a checkpoint.
func TestPersistedRecordsStayBounded(t *testing.T) {
	cfg := Config{Seed: 1, Nodes: 4, Blocks: 150}.WithDefaults()
	bound := 4 * int(2*cfg.CheckpointInterval+cfg.PipelineWindow)
	s, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	maxRecords := 0
	for s.Tick() {
		for _, n := range s.nodes {
			maxRecords = max(maxRecords, len(n.store.records))
		}
	}
	if s.minHonestHeight() < 150 {
		t.Fatalf("reached %d of 150", s.minHonestHeight())
	}
	if maxRecords > bound || maxRecords == 0 {
		t.Fatalf("max persisted records %d, want 1..%d", maxRecords, bound)
	}
	for _, n := range s.nodes {
		if n.store.stable == nil || n.store.stable.Height < 140 {
			t.Fatalf("slot %d: stable checkpoint %v, want ≥ 140", n.slot, n.store.stable)
		}
	}
}
