package node

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/bafomet/bafomet/genesis"
)

// configure rewrites node i's config file through mod.
func (tn *testNet) configure(i int, mod func(*Config)) {
	tn.t.Helper()
	cfg, err := LoadConfig(tn.homes[i])
	must(tn.t, err)
	mod(cfg)
	must(tn.t, cfg.WriteConfig(tn.homes[i]+"/"+ConfigFile))
}

// stateSyncNet is a 4-validator network with a checkpoint every 5 blocks
// whose validators keep a snapshot every snapshotEvery checkpoints; the
// first three run and commit past height 40, the fourth has not started.
func stateSyncNet(t *testing.T, snapshotEvery uint64) (*testNet, uint64) {
	cons := genesis.DefaultConsensus()
	cons.CheckpointInterval = 5
	tn := newTestNetWith(t, 4, cons)
	for i := range tn.homes {
		tn.configure(i, func(c *Config) {
			c.Node.SnapshotInterval = snapshotEvery
			c.Node.StateSyncDiscovery = 3 * time.Second
		})
	}
	for i := range 3 {
		tn.start(i)
	}
	var nonce uint64
	for tn.nodes[0].Height() < 40 {
		tn.send(int(nonce)%3, nonce, fmt.Sprintf("k%d=%d", nonce, nonce))
		nonce++
		waitNonceOn(t, tn, []int{0, 1, 2}, nonce)
	}
	return tn, nonce
}

// waitConsensus waits until n runs consensus (its state sync is over).
func waitConsensus(t *testing.T, n *Node, timeout time.Duration) {
	t.Helper()
	select {
	case <-n.ConsensusStarted():
	case err := <-n.Fatal():
		t.Fatal(err)
	case <-time.After(timeout):
		t.Fatalf("consensus not started after %v", timeout)
	}
}

// checkAgree checks that nodes a and b hold the same block hash and appHash
// at every height from `from` through `to`.
func checkAgree(t *testing.T, a, b *Node, from, to uint64) {
	t.Helper()
	for h := from; h <= to; h++ {
		ba, err := a.store().Block(h)
		must(t, err)
		bb, err := b.store().Block(h)
		must(t, err)
		if ba.Hash() != bb.Hash() {
			t.Fatalf("height %d: block %s vs %s", h, ba.Hash(), bb.Hash())
		}
		x, err := a.store().AppHashAt(h)
		must(t, err)
		y, err := b.store().AppHashAt(h)
		must(t, err)
		if x != y {
			t.Fatalf("height %d: appHash %s vs %s", h, x, y)
		}
	}
}

// TestFreshValidatorJoinsByStateSync: a validator that starts with an
// empty data directory restores its peers' newest common snapshot instead
// of replaying the chain, holds no block below it, and then follows the
// chain with the same blocks and appHashes as the others.
func TestFreshValidatorJoinsByStateSync(t *testing.T) {
	tn, nonce := stateSyncNet(t, 2)
	n3 := tn.start(3)
	waitConsensus(t, n3, 60*time.Second)
	if got := n3.stateSyncRestored.Load(); got != 1 {
		t.Fatalf("state syncs restored: %d, want 1", got)
	}
	first := n3.Height() - tn.gen.Consensus.PipelineWindow // the snapshot height
	if first%10 != 0 || first < 20 {
		t.Fatalf("restored at height %d: want a snapshot height (multiple of 10) of at least 20", first)
	}
	if _, err := n3.store().Block(first); err == nil {
		t.Fatalf("restored node holds block %d, the snapshot's own", first)
	}
	for k := 0; k < 5; k++ {
		tn.send(k%4, nonce, fmt.Sprintf("after%d=x", k))
		nonce++
	}
	waitNonceOn(t, tn, []int{0, 1, 2, 3}, nonce)
	tip := tn.nodes[0].Height()
	tn.waitHeight(tip, 30*time.Second)
	checkAgree(t, tn.nodes[0], n3, first+1, tip)
	// The restored state answers queries like the others'.
	out, err := n3.exec().Query("get", []byte("k3"))
	must(t, err)
	want, err := tn.nodes[0].exec().Query("get", []byte("k3"))
	must(t, err)
	if string(out) != string(want) {
		t.Fatalf("kv get k3 on the restored node: %s, want %s", out, want)
	}
	// Restarting it keeps the restored store.
	tn.stop(3)
	n3 = tn.start(3)
	waitConsensus(t, n3, 30*time.Second)
	if n3.Height() < tip {
		t.Fatalf("restarted restored node at %d, want ≥ %d", n3.Height(), tip)
	}
	if _, err := os.Stat(n3.cfg.DataPath() + ".old"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the replaced data directory is still there: %v", err)
	}
}

// TestFreshValidatorFallsBackToBlockSync: when no peer keeps snapshots, a
// fresh validator looks for node.state_sync_discovery and then replays
// every block from height 1.
func TestFreshValidatorFallsBackToBlockSync(t *testing.T) {
	tn, _ := stateSyncNet(t, 0)
	n3 := tn.start(3)
	waitConsensus(t, n3, 60*time.Second)
	if got := n3.stateSyncRestored.Load(); got != 0 {
		t.Fatalf("state syncs restored: %d, want 0", got)
	}
	tip := tn.nodes[0].Height()
	tn.waitHeight(tip, 40*time.Second)
	checkAgree(t, tn.nodes[0], n3, 1, tip)
}

// TestRecoverStateSyncSwap: every point a crash can interrupt the swap at
// ends, after recoverStateSync, with exactly one data directory — the
// restored one once the marker was written, the old one before.
func TestRecoverStateSyncSwap(t *testing.T) {
	write := func(dir, what string) {
		must(t, os.MkdirAll(dir, 0o700))
		must(t, os.WriteFile(dir+"/id", []byte(what), 0o600))
	}
	read := func(dir string) string {
		b, err := os.ReadFile(dir + "/id")
		if err != nil {
			return "none"
		}
		return string(b)
	}
	for _, tc := range []struct {
		name                     string
		data, staging, old, mark bool
		want                     string
	}{
		{"restoring", true, true, false, false, "old"},
		{"marked", true, true, false, true, "new"},
		{"set aside", false, true, true, true, "new"},
		{"renamed in", true, false, true, true, "new"},
		{"marker gone", true, false, true, false, "new"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir() + "/data"
			staging, complete, old := stagingPaths(data)
			if tc.data {
				if tc.staging || !tc.old {
					write(data, "old")
				} else {
					write(data, "new")
				}
			}
			if tc.staging {
				write(staging, "new")
			}
			if tc.old {
				write(old, "old")
			}
			if tc.mark {
				must(t, writeMarker(complete))
			}
			must(t, recoverStateSync(data))
			if got := read(data); got != tc.want {
				t.Fatalf("data directory holds %q, want %q", got, tc.want)
			}
			for _, p := range []string{staging, complete, old} {
				if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s left behind", p)
				}
			}
		})
	}
}
