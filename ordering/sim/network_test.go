package sim

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func testNet(seed uint64, slots, maxDelay int) *network {
	return newNetwork(rand.New(rand.NewPCG(seed, 1)), slots, maxDelay)
}

// drainNet delivers everything due up to tick last and returns the
// payloads' first bytes in delivery order.
func drainNet(nw *network, last uint64) []byte {
	var got []byte
	for now := uint64(0); now <= last; now++ {
		for p := nw.next(now); p != nil; p = nw.next(now) {
			got = append(got, p.payload[0])
		}
	}
	return got
}

func TestNetworkDeliversInTimeThenSendOrder(t *testing.T) {
	nw := testNet(1, 3, 1) // delay exactly 1 tick
	nw.send(0, 0, 1, kindConsensus, []byte{'a'})
	nw.send(0, 2, 1, kindConsensus, []byte{'b'})
	nw.send(1, 0, 1, kindConsensus, []byte{'c'})
	if p := nw.next(0); p != nil {
		t.Fatalf("packet delivered with zero delay: %+v", p)
	}
	if got := string(drainNet(nw, 5)); got != "abc" {
		t.Fatalf("delivery order %q, want %q", got, "abc")
	}
	want := NetStats{Sent: 3, Delivered: 3}
	if nw.stats != want {
		t.Fatalf("stats %+v, want %+v", nw.stats, want)
	}
}

func TestNetworkDelayBounds(t *testing.T) {
	nw := testNet(2, 2, 3)
	nw.slow[1] = 4
	seen := map[uint64]bool{}
	for range 200 {
		d := nw.delay(0, 1)
		if d < 5 || d > 7 {
			t.Fatalf("delay %d outside [1+4, 3+4]", d)
		}
		seen[d] = true
	}
	if len(seen) != 3 {
		t.Fatalf("delays %v, want all of 5, 6, 7", seen)
	}
}

func TestNetworkLossAndDuplication(t *testing.T) {
	tests := []struct {
		name      string
		faults    netFaults
		delivered int
		stats     NetStats
	}{
		{"healthy", netFaults{}, 10, NetStats{Sent: 10, Delivered: 10}},
		{"all dropped", netFaults{dropPercent: 100}, 0, NetStats{Sent: 10, Dropped: 10}},
		{"all duplicated", netFaults{dupPercent: 100}, 20, NetStats{Sent: 10, Delivered: 20, Duplicated: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw := testNet(3, 2, 2)
			nw.faults = tt.faults
			for i := range 10 {
				nw.send(0, 0, 1, kindConsensus, []byte{byte(i)})
			}
			if got := len(drainNet(nw, 10)); got != tt.delivered {
				t.Fatalf("delivered %d, want %d", got, tt.delivered)
			}
			if nw.stats != tt.stats {
				t.Fatalf("stats %+v, want %+v", nw.stats, tt.stats)
			}
		})
	}
}

func TestNetworkReorders(t *testing.T) {
	nw := testNet(4, 2, 1)
	nw.faults.reorderTicks = 5
	for i := range 50 {
		nw.send(0, 0, 1, kindConsensus, []byte{byte(i)})
	}
	got := drainNet(nw, 20)
	if len(got) != 50 {
		t.Fatalf("delivered %d of 50", len(got))
	}
	if slices.IsSorted(got) {
		t.Fatal("reorder fault delivered every packet in send order")
	}
}

func TestNetworkPartitionDropsAcrossGroups(t *testing.T) {
	nw := testNet(5, 3, 1)
	nw.partition([]int{0, 0, 1})
	if !nw.partitioned() {
		t.Fatal("partitioned() = false after a split")
	}
	nw.send(0, 0, 1, kindConsensus, []byte{'a'}) // same group
	nw.send(0, 0, 2, kindConsensus, []byte{'b'}) // across
	nw.send(0, 2, 1, kindConsensus, []byte{'c'}) // across
	if got := string(drainNet(nw, 3)); got != "a" {
		t.Fatalf("delivered %q, want %q", got, "a")
	}
	if nw.stats.Dropped != 2 {
		t.Fatalf("dropped %d, want 2", nw.stats.Dropped)
	}
	nw.heal()
	if nw.partitioned() {
		t.Fatal("partitioned() = true after heal")
	}
	nw.send(4, 0, 2, kindConsensus, []byte{'d'})
	if got := string(drainNet(nw, 6)); got != "d" {
		t.Fatalf("after heal delivered %q, want %q", got, "d")
	}
}

func TestNetworkClogHoldsUntilUnclogged(t *testing.T) {
	nw := testNet(6, 2, 1)
	nw.clogged[0][1] = true
	nw.send(0, 0, 1, kindConsensus, []byte{'a'})
	nw.send(0, 1, 0, kindConsensus, []byte{'b'}) // the reverse link is open
	if got := string(drainNet(nw, 10)); got != "b" {
		t.Fatalf("delivered %q while clogged, want %q", got, "b")
	}
	if nw.inFlight() != 1 {
		t.Fatalf("in flight %d, want the held packet", nw.inFlight())
	}
	nw.clogged[0][1] = false
	p := nw.next(11)
	if p == nil || p.payload[0] != 'a' {
		t.Fatalf("after unclogging got %+v, want packet a", p)
	}
	if nw.stats.Dropped != 0 {
		t.Fatalf("clogging dropped %d packets", nw.stats.Dropped)
	}
}

func TestNetworkIsDeterministic(t *testing.T) {
	run := func() []byte {
		nw := testNet(9, 4, 3)
		nw.faults = netFaults{dropPercent: 20, dupPercent: 20, reorderTicks: 3}
		for i := range 100 {
			nw.send(uint64(i/10), i%4, (i+1)%4, kindConsensus, []byte{byte(i)})
		}
		return drainNet(nw, 40)
	}
	a, b := run(), run()
	if !slices.Equal(a, b) {
		t.Fatal("same seed, different delivery")
	}
}
