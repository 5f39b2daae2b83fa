package e2e

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLongLagCatchUp is issue 7's long-lag test: a validator that was never
// started while the others committed at least BAFOMET_LONG_SYNC_BLOCKS
// blocks (default 5,000) under steady load catches up by block sync. It
// reports the network's commit rate and the catch-up rate. It takes minutes,
// so it runs only when BAFOMET_LONG_SYNC=1.
func TestLongLagCatchUp(t *testing.T) {
	if os.Getenv("BAFOMET_LONG_SYNC") != "1" {
		t.Skip("set BAFOMET_LONG_SYNC=1 to run the long-lag catch-up test")
	}
	lag := uint64(5000)
	if v := os.Getenv("BAFOMET_LONG_SYNC_BLOCKS"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			t.Fatalf("BAFOMET_LONG_SYNC_BLOCKS=%q: want a positive block count", v)
		}
		lag = n
	}
	c := newCluster(t, 4, 8, "kv")
	for i := range c.m.Nodes { // empty blocks too, so the chain grows fast
		path := c.m.Nodes[i].Home + "/config/config.toml"
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.Replace(string(data), "create_empty_blocks = false", "create_empty_blocks = true", 1)
		s = strings.Replace(s, `empty_block_interval = "1s"`, `empty_block_interval = "5ms"`, 1)
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		c.start(i)
	}
	sl := startSteadyLoad(c, []int{0, 1, 2}, 2*time.Millisecond, 0)
	defer sl.finish()
	built := c.waitHeight(0, lag, 15*time.Minute)
	netTxs := c.txsUpTo(0, lag)
	t.Logf("network: %d blocks, %d txs in %v: %.0f blocks/s, %.0f tx/s",
		lag, netTxs, built, float64(lag)/built.Seconds(), float64(netTxs)/built.Seconds())
	target := c.tip(0)
	c.start(3)
	took := c.waitHeight(3, target, 10*time.Minute)
	tipThen := c.tip(0) // before counting, which takes seconds of RPC calls
	txs := c.txsUpTo(3, target)
	meanwhile := c.txsBetween(0, target+1, tipThen)
	t.Logf("catch-up: %d blocks, %d txs in %v: %.0f blocks/s, %.0f tx/s; the network committed %.0f blocks/s, %.0f tx/s meanwhile",
		target, txs, took, float64(target)/took.Seconds(), float64(txs)/took.Seconds(),
		float64(tipThen-target)/took.Seconds(), float64(meanwhile)/took.Seconds())
	// Converged: node3 reaches the live tip and keeps up in consensus.
	live := c.tip(0)
	t.Logf("node3 at the live tip %d %v after reaching the catch-up target", live, c.waitHeight(3, live, 2*time.Minute))
	for h := uint64(1); h <= target; h += 97 {
		if a, b := c.block(0, h), c.block(3, h); a.Hash != b.Hash || a.AppHash != b.AppHash {
			t.Fatalf("height %d differs after catch-up", h)
		}
	}
}

// txsUpTo counts the transactions in node i's blocks 1..h.
func (c *cluster) txsUpTo(i int, h uint64) int { return c.txsBetween(i, 1, h) }

// txsBetween counts the transactions in node i's blocks from..to.
func (c *cluster) txsBetween(i int, from, to uint64) int {
	n := 0
	for k := from; k <= to; k++ {
		n += len(c.block(i, k).Transactions.Hashes)
	}
	return n
}
