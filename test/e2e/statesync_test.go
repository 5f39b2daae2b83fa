package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/rlp"
	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/bafomet/bafomet/chain/snapshot"
	"github.com/bafomet/bafomet/genesis"
	"github.com/bafomet/bafomet/node/statesync"
	"github.com/bafomet/bafomet/rpc"
)

// State sync end to end: real processes join a running chain from the
// snapshots their peers keep, past a Byzantine chunk server, or fall back
// to block sync when no peer keeps one; a restoring node killed at random
// moments always restarts restored or as it was.

// setGenesis rewrites every node's genesis before the first start.
func (c *cluster) setGenesis(mod func(g *genesis.Consensus)) {
	c.t.Helper()
	g := c.genesisOf(0)
	mod(&g.Consensus)
	data, err := g.Marshal()
	if err != nil {
		c.t.Fatal(err)
	}
	for i := range c.m.Nodes {
		if err := os.WriteFile(filepath.Join(c.m.Nodes[i].Home, "config", "genesis.json"), data, 0o644); err != nil {
			c.t.Fatal(err)
		}
	}
}

// setAll applies setConfig to every node.
func (c *cluster) setAll(key, oldValue, newValue string) {
	for i := range c.m.Nodes {
		c.setConfig(i, key, oldValue, newValue)
	}
}

// stateSyncCluster is an n-validator kv testnet with a checkpoint every 10
// blocks, empty blocks every 100 ms, and a snapshot every snapshotEvery
// checkpoints on every node.
func stateSyncCluster(t *testing.T, n int, snapshotEvery int) *cluster {
	c := newCluster(t, n, 8, "kv")
	c.setGenesis(func(g *genesis.Consensus) { g.CheckpointInterval = 10 })
	c.setAll("snapshot_interval", "10", fmt.Sprint(snapshotEvery))
	c.setAll("state_sync_discovery", `"15s"`, `"5s"`)
	c.setAll("create_empty_blocks", "false", "true")
	c.setAll("empty_block_interval", `"1s"`, `"100ms"`)
	return c
}

// checkSameChain compares node a's and node b's blocks (hash and appHash)
// at every height from `from` through `to`.
func (c *cluster) checkSameChain(a, b int, from, to uint64) {
	c.t.Helper()
	for h := from; h <= to; h++ {
		x, y := c.block(a, h), c.block(b, h)
		if x == nil || y == nil || x.Hash != y.Hash || x.AppHash != y.AppHash {
			c.t.Fatalf("height %d differs between %s and %s", h, c.m.Nodes[a].Name, c.m.Nodes[b].Name)
		}
	}
}

// checkSameHeldChain is checkSameChain for nodes that prune while it runs:
// it compares from `to` down and stops at the first height either node no
// longer holds, having compared at least min(to-from+1, 10) heights.
func (c *cluster) checkSameHeldChain(a, b int, from, to uint64) {
	c.t.Helper()
	compared := uint64(0)
	for h := to; h >= from && h > 0; h-- {
		x, y := c.blockOrNil(a, h), c.blockOrNil(b, h)
		if x == nil || y == nil {
			break
		}
		if x.Hash != y.Hash || x.AppHash != y.AppHash {
			c.t.Fatalf("height %d differs between %s and %s", h, c.m.Nodes[a].Name, c.m.Nodes[b].Name)
		}
		compared++
	}
	if compared < min(to-from+1, 10) {
		c.t.Fatalf("%s and %s compared at only %d heights of %d…%d", c.m.Nodes[a].Name, c.m.Nodes[b].Name, compared, from, to)
	}
}

// blockOrNil returns node i's block at h, or nil when it has none (or
// refuses: a pruned height).
func (c *cluster) blockOrNil(i int, h uint64) *rpc.Block {
	var b *rpc.Block
	if err := c.call(i, &b, "chain_getBlockByNumber", h, false); err != nil {
		return nil
	}
	return b
}

// waitAllNonces waits until node i has committed n transactions of every
// account.
func (c *cluster) waitAllNonces(i int, n uint64, timeout time.Duration) {
	c.t.Helper()
	c.waitFor("every account's transactions committed", timeout, func() bool {
		for a := range c.keys {
			if c.nonce(i, a, false) < n {
				return false
			}
		}
		return true
	})
}

// corruptingSnapshotServer answers state sync from dir like an honest
// node, but flips one byte of every chunk it serves; it answers block sync
// with an error.
func corruptingSnapshotServer(dir *snapshot.Dir, corrupted *atomic.Int64) func(context.Context, int, []byte) ([]byte, error) {
	honest := statesync.NewServer(dir)
	return func(ctx context.Context, from int, req []byte) ([]byte, error) {
		if !statesync.IsRequest(req) {
			return nil, fmt.Errorf("no blocks here")
		}
		resp, err := honest.Handle(ctx, from, req)
		if err != nil {
			return nil, err
		}
		r, err := statesync.DecodeRequest(req)
		if err != nil || r.Kind != statesync.KindChunk {
			return resp, err
		}
		var cr statesync.ChunkResponse
		if err := rlp.DecodeBytes(resp, &cr); err != nil {
			return nil, err
		}
		cr.Chunk[len(cr.Chunk)/2] ^= 0x55
		corrupted.Add(1)
		return rlp.EncodeToBytes(&cr)
	}
}

// TestJoinByStateSync: seven validators, five of them running under load
// past several snapshot heights. Validator 0's key is held by a Byzantine
// server (this test) that offers the same snapshots as the others but
// corrupts every chunk. Validator 6 starts with an empty home: it restores
// the newest snapshot the others agree on — every chunk it got from the
// Byzantine server refused and fetched again from an honest peer — holds no
// block below it, reaches the tip and then agrees with the others on every
// block hash and appHash.
func TestJoinByStateSync(t *testing.T) {
	c := stateSyncCluster(t, 7, 2)
	for i := 1; i <= 5; i++ {
		c.setConfig(i, "retain_blocks", "0", "30")
		c.start(i)
	}
	load := startSteadyLoad(c, []int{1, 2, 3, 4, 5}, 5*time.Millisecond, 0)
	c.waitHeight(1, 90, 3*time.Minute)

	byz, _ := c.byzantineHost(0)
	dir, err := snapshot.OpenDir(filepath.Join(c.m.Nodes[1].Home, "data", "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	var corrupted atomic.Int64
	byz.SetRequestHandler(corruptingSnapshotServer(dir, &corrupted))

	c.start(6)
	deadline := time.Now().Add(2 * time.Minute)
	var sawProgress bool
	for !strings.Contains(c.log(6), "consensus started") {
		var st rpc.Status
		if err := c.call(6, &st, "chain_status"); err == nil && st.Sync != nil && st.Sync.Mode == "state" && st.Sync.State != nil {
			sawProgress = true
		}
		if time.Now().After(deadline) {
			t.Fatalf("validator 6 never started consensus\n%s", tail(c.log(6), 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
	log := c.log(6)
	if !strings.Contains(log, "state sync: snapshot restored") {
		t.Fatalf("validator 6 did not restore a snapshot\n%s", tail(log, 40))
	}
	if corrupted.Load() == 0 || !strings.Contains(log, "bad chunk from peer") {
		t.Fatalf("the Byzantine server corrupted %d chunks; validator 6 logged no bad chunk", corrupted.Load())
	}
	t.Logf("chunks corrupted by the Byzantine server: %d; chain_status showed the restore: %v", corrupted.Load(), sawProgress)

	var earliest uint64
	for h := uint64(1); ; h++ {
		if b := c.blockOrNil(6, h); b != nil {
			earliest = h
			break
		}
		if h > c.tip(6) {
			t.Fatal("validator 6 holds no block")
		}
	}
	if earliest < 21 || (earliest-1)%20 != 0 {
		t.Fatalf("validator 6's earliest block is %d: want the block after a snapshot height (a multiple of 20) above 20", earliest)
	}
	// The validators pruned what they need not keep: blocks more than
	// 30 below the tip, never above their oldest snapshot.
	c.waitFor("validator 1 to prune", time.Minute, func() bool {
		var st rpc.Status
		return c.call(1, &st, "chain_status") == nil && st.EarliestHeight > 1
	})
	load.finish()
	tip := c.tip(1)
	c.waitHeight(6, tip, time.Minute)
	c.checkSameHeldChain(1, 6, earliest, tip)
	// It follows the chain from now on, in consensus.
	if _, err := c.sendNext(6, 0, "after=join"); err != nil {
		t.Fatal(err)
	}
	later := c.tip(1) + 3
	c.waitHeight(6, later, time.Minute)
	c.waitHeight(1, later, time.Minute)
	c.checkSameHeldChain(1, 6, tip, later)
}

// TestRestoreFromExportedSnapshot is the backup and restore procedure of
// operations.md: export a validator's newest snapshot to a file while it
// runs, verify the file against the genesis alone, import it into the
// fresh home of another validator, and start that one: it fetches the
// blocks after the snapshot from its peers and follows the chain.
func TestRestoreFromExportedSnapshot(t *testing.T) {
	c := stateSyncCluster(t, 4, 1)
	for i := 0; i < 3; i++ {
		c.start(i)
	}
	load := startSteadyLoad(c, []int{0, 1, 2}, 5*time.Millisecond, 0)
	c.waitHeight(0, 45, 2*time.Minute)
	file := filepath.Join(t.TempDir(), "backup.snap")
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(c.bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("bafomet %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("snapshot", "export", "--home", c.m.Nodes[0].Home, "--out", file)
	run("snapshot", "verify", file, "--genesis", filepath.Join(c.m.Nodes[3].Home, "config", "genesis.json"))
	run("snapshot", "import", "--home", c.m.Nodes[3].Home, file)
	c.start(3)
	load.finish()
	tip := c.tip(0)
	c.waitHeight(3, tip, 2*time.Minute)
	var st rpc.Status
	c.mustCall(3, &st, "chain_status")
	if st.EarliestHeight < 11 || (st.EarliestHeight-1)%10 != 0 {
		t.Fatalf("restored validator's earliest height %d: want the block after a snapshot height", st.EarliestHeight)
	}
	c.checkSameChain(0, 3, st.EarliestHeight, tip)
	if _, err := c.sendNext(3, 0, "after=restore"); err != nil {
		t.Fatal(err)
	}
	later := c.tip(0) + 2
	c.waitHeight(3, later, time.Minute)
	c.checkSameChain(0, 3, tip, later)
}

// TestStateSyncFallsBackToBlockSync: when no peer keeps snapshots, a
// fresh validator says so and replays the chain by block sync.
func TestStateSyncFallsBackToBlockSync(t *testing.T) {
	c := stateSyncCluster(t, 4, 0)
	for i := 0; i < 3; i++ {
		c.start(i)
	}
	load := startSteadyLoad(c, []int{0, 1, 2}, 5*time.Millisecond, 0)
	c.waitHeight(0, 30, 2*time.Minute)
	c.start(3)
	c.waitHeight(3, c.tip(0), 2*time.Minute)
	load.finish()
	if !strings.Contains(c.log(3), "falling back to block sync") {
		t.Fatalf("validator 3 did not log the fall-back\n%s", tail(c.log(3), 30))
	}
	tip := c.tip(0)
	c.waitHeight(3, tip, time.Minute)
	c.checkSameChain(0, 3, 1, tip)
}

// TestStateSyncKillLoop kills a validator with SIGKILL at random moments
// while it restores a snapshot of a few megabytes, and restarts it. Each
// time it comes back it holds either no block (as before the restore) or a
// chain whose latest block is the network's at that height; the last run
// completes and the node agrees with the others.
func TestStateSyncKillLoop(t *testing.T) {
	c := stateSyncCluster(t, 4, 1)
	for i := 0; i < 3; i++ {
		c.start(i)
	}
	// A few megabytes of state, so that a restore takes a while.
	value := strings.Repeat("x", 4000)
	clients := []*gethrpc.Client{c.dial(0, false), c.dial(1, false), c.dial(2, false)}
	const txs = 2000
	for k := 0; k < txs; k++ {
		a := k % len(c.keys)
		if err := sendWithRetry(clients[k%3], c.signTx(a, uint64(k/len(c.keys)), fmt.Sprintf("big%d=%s", k, value))); err != nil {
			t.Fatal(err)
		}
	}
	c.waitAllNonces(0, uint64(txs/len(c.keys)), 2*time.Minute)
	c.waitHeight(0, c.tip(0)+30, time.Minute) // past the next snapshot
	restored := 0
	for round := 0; round < 8; round++ {
		before := len(c.log(3))
		c.start(3)
		h := c.tip(3)
		if h > 0 {
			restored++
			mine, theirs := c.block(3, h), c.block(0, h)
			if mine == nil || theirs == nil || mine.Hash != theirs.Hash || mine.AppHash != theirs.AppHash {
				t.Fatalf("round %d: validator 3 restarted at height %d with a block the network does not have", round, h)
			}
		} else {
			// Back where it started: the next restore starts over. Kill
			// it while that runs, at a random moment of its chunk
			// imports, tail blocks or swap.
			c.waitFor("a restore to begin", time.Minute, func() bool {
				return strings.Contains(c.log(3)[before:], "state sync: restoring snapshot")
			})
		}
		time.Sleep(time.Duration(rand.IntN(250)) * time.Millisecond)
		c.kill(3)
	}
	c.start(3)
	tip := c.tip(0)
	c.waitHeight(3, tip, 2*time.Minute)
	var earliest uint64 = 1
	for c.blockOrNil(3, earliest) == nil {
		earliest++
	}
	c.checkSameChain(0, 3, earliest, tip)
	data := filepath.Join(c.m.Nodes[3].Home, "data")
	for _, p := range []string{data + ".statesync", data + ".statesync.complete"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left behind after a finished restore", p)
		}
	}
	t.Logf("rounds that restarted on a restored store: %d of 8; earliest block %d", restored, earliest)

}
