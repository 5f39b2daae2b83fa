package sim

import (
	"testing"

	"github.com/bafomet/bafomet/ordering"
)

func TestReplayBufferIsBounded(t *testing.T) {
	const limit = 4
	b := &byzantine{attacks: AttackReplay, replay: make([]*ordering.Message, 0, limit)}
	for h := uint64(1); h <= 10; h++ {
		b.remember(&ordering.Message{Height: h})
	}
	if len(b.replay) != limit {
		t.Fatalf("replay holds %d, want the limit %d", len(b.replay), limit)
	}
	var got []uint64
	for _, m := range b.replay {
		got = append(got, m.Height)
	}
	// 1..4 filled the ring; 5..10 overwrote slots 0,1,2,3,0,1.
	want := []uint64{9, 10, 7, 8}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("replay ring %v, want %v", got, want)
		}
	}
	quiet := &byzantine{attacks: AttackFlood, replay: make([]*ordering.Message, 0, limit)}
	quiet.remember(&ordering.Message{})
	if len(quiet.replay) != 0 {
		t.Fatal("a node without the replay attack remembered a message")
	}
}

func TestAttackNames(t *testing.T) {
	if got := (AttackEquivocate | AttackFlood | AttackForgeSync).String(); got != "equivocate,flood,forge-sync" {
		t.Fatalf("String() = %q", got)
	}
	if len(attackNames) != 8 || attackAll != 1<<8-1 {
		t.Fatalf("%d attack names for mask %b", len(attackNames), attackAll)
	}
}

func TestEquivocatingPrimarySplitsTheNetwork(t *testing.T) {
	// v0 leads view 0 and equivocates from the first block.
	s, err := New(Config{Seed: 3, Nodes: 4, Byzantine: 1, ByzantineIDs: []int{0}, Blocks: 10,
		Faults: FaultByzantine, Attacks: AttackEquivocate}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Run()
	if err != nil {
		t.Fatal(err)
	}
	requireOK(t, r)
	if len(s.nodes[0].byz.alt) == 0 {
		t.Fatal("the primary never equivocated")
	}
}
