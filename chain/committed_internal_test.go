package chain

import (
	"fmt"
	"testing"
)

// TestNonceCacheBound fills the cache past its limit: it never holds more
// than the limit, and the newest entry is always kept.
func TestNonceCacheBound(t *testing.T) {
	c := newCommittedCache(3)
	for i := range 5 {
		a := Address{byte(i + 1)}
		c.commit(uint64(i+1), map[Address]uint64{a: uint64(10 + i)})
		if got, want := c.len(), min(i+1, 3); got != want {
			t.Fatalf("after %d commits: %d entries, want %d", i+1, got, want)
		}
		if n, _, ok := c.nonce(a); !ok || n != uint64(10+i) {
			t.Fatalf("newest entry %d = %d, %v; want %d", i, n, ok, 10+i)
		}
	}
	if h := c.height.Load(); h != 5 {
		t.Fatalf("height = %d, want 5", h)
	}
}

// TestNonceCacheFillAfterCommit checks that a Badger read that raced with
// a commit is not cached: fill with a generation from before the commit
// is ignored, one from after it is kept.
func TestNonceCacheFillAfterCommit(t *testing.T) {
	c := newCommittedCache(10)
	a := Address{7}
	_, gen, ok := c.nonce(a)
	if ok {
		t.Fatal("empty cache hit")
	}
	c.commit(1, map[Address]uint64{a: 4})
	c.fill(a, 3, gen) // a stale read from before the commit
	if n, _, _ := c.nonce(a); n != 4 {
		t.Fatalf("stale fill replaced the committed nonce: %d, want 4", n)
	}
	b := Address{8}
	_, gen, _ = c.nonce(b)
	c.fill(b, 9, gen)
	if n, _, ok := c.nonce(b); !ok || n != 9 {
		t.Fatalf("fill without a commit in between: %d, %v; want 9, true", n, ok)
	}
}

// TestLtDeltaMatchesSequential checks the parallel LtHash update against
// one-at-a-time Add and Remove, below and above the parallel threshold.
func TestLtDeltaMatchesSequential(t *testing.T) {
	for _, n := range []int{0, 1, ltParallelMin - 1, ltParallelMin, 5 * ltParallelMin} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var base, want LtHash
			changes := make([]stateChange, n)
			for i := range changes {
				key := []byte(fmt.Sprintf("s/k%d", i))
				old := []byte(fmt.Sprintf("old%d", i))
				base.Add(key, old)
				c := stateChange{key: key, value: []byte(fmt.Sprintf("new%d", i)), old: old, hadOld: i%3 != 0, deleted: i%5 == 0}
				changes[i] = c
			}
			want = base
			for _, c := range changes {
				if c.hadOld {
					want.Remove(c.key, c.old)
				}
				if !c.deleted {
					want.Add(c.key, c.value)
				}
			}
			got := base
			got.Combine(ltDelta(changes))
			if got != want {
				t.Fatalf("parallel delta of %d changes gives %s, sequential %s", n, got.AppHash(), want.AppHash())
			}
		})
	}
}
