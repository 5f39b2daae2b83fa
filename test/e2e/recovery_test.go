package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/rpc"
)

// steadyLoad submits kv transactions from every account, one account per
// goroutine, to the nodes in targets (round-robin, skipping nodes that do
// not answer), until stop. It records every accepted transaction.
type steadyLoad struct {
	c        *cluster
	mu       sync.Mutex
	l        load
	stop     chan struct{}
	wg       sync.WaitGroup
	targets  []int
	pause    time.Duration // between submissions of one account
	accounts int           // accounts in use: the first this many (all when 0)
}

// startSteadyLoad runs the load from the first accounts accounts (all of
// them when accounts is 0).
func startSteadyLoad(c *cluster, targets []int, pause time.Duration, accounts int) *steadyLoad {
	s := &steadyLoad{c: c, stop: make(chan struct{}), targets: targets, pause: pause, accounts: accounts,
		l: load{hashes: make(map[chain.Hash]string), counts: make([]uint64, len(c.keys))}}
	for a := range c.keys {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.account(a)
		}()
	}
	return s
}

func (s *steadyLoad) account(a int) {
	if s.accounts > 0 && a >= s.accounts {
		return
	}
	var nonce uint64
	for try := 0; ; try++ {
		select {
		case <-s.stop:
			return
		case <-time.After(s.pause):
		}
		kv := fmt.Sprintf("load%d-%d=v%d", a, nonce, nonce)
		tx := s.c.signTx(a, nonce, kv)
		i := s.targets[(a+try)%len(s.targets)]
		cl, err := gethrpc.Dial(s.c.m.Nodes[i].RPC)
		if err != nil {
			continue
		}
		err = sendWithRetry(cl, tx)
		cl.Close()
		if err != nil {
			continue // node down or refusing: try the next node with the same nonce
		}
		s.mu.Lock()
		s.l.hashes[tx.Hash()] = kv
		s.l.counts[a] = nonce + 1
		s.mu.Unlock()
		nonce++
	}
}

// finish stops the load and returns what was accepted.
func (s *steadyLoad) finish() load {
	close(s.stop)
	s.wg.Wait()
	return s.l
}

// sendNext submits payload from account a to node i with the node's
// committed next nonce, re-reading it while the node is still catching up
// (nonce too low), and returns the nonce used.
func (c *cluster) sendNext(i, a int, payload string) (uint64, error) {
	addr := crypto.PubkeyToAddress(c.keys[a].PublicKey)
	cl, err := gethrpc.Dial(c.m.Nodes[i].RPC)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var next uint64
		if err := cl.Call(&next, "chain_getNonce", addr); err != nil {
			return 0, err
		}
		err := sendWithRetry(cl, c.signTx(a, next, payload))
		var rerr gethrpc.Error
		if err == nil || !errors.As(err, &rerr) || rerr.ErrorCode() != rpc.CodeNonceTooLow || time.Now().After(deadline) {
			return next, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitConverged waits until every node reports the same latest block
// (no load may be running).
func (c *cluster) waitConverged(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var first *chain.Hash
		same := true
		for i := range c.m.Nodes {
			b := c.block(i, c.tip(i))
			if b == nil {
				same = false
				break
			}
			if first == nil {
				first = &b.Hash
			} else if *first != b.Hash {
				same = false
			}
		}
		if same {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("nodes did not converge on one tip within %v", timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// tip returns node i's latest height.
func (c *cluster) tip(i int) uint64 {
	c.t.Helper()
	var h uint64
	c.mustCall(i, &h, "chain_blockNumber")
	return h
}

// waitHeight waits until node i reaches height h.
func (c *cluster) waitHeight(i int, h uint64, timeout time.Duration) time.Duration {
	c.t.Helper()
	start := time.Now()
	for c.tip(i) < h {
		if time.Since(start) > timeout {
			c.t.Fatalf("%s at height %d, want %d after %v", c.m.Nodes[i].Name, c.tip(i), h, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

// TestLaggingValidatorCatchesUp stops one validator with SIGKILL under
// steady load, keeps the load going, and restarts it: it catches up by
// block sync and its chain matches the others' at every height.
func TestLaggingValidatorCatchesUp(t *testing.T) {
	testRejoin(t, false)
}

// TestWipedValidatorRebuilds does the same with the validator's data
// directory deleted before the restart (its key kept): it rebuilds the
// whole chain from its peers.
func TestWipedValidatorRebuilds(t *testing.T) {
	testRejoin(t, true)
}

func testRejoin(t *testing.T, wipe bool) {
	c := newCluster(t, 4, 4, "kv")
	c.startAll()
	sl := startSteadyLoad(c, []int{0, 1, 2}, 5*time.Millisecond, 0)
	c.waitHeight(0, 5, 30*time.Second)
	c.kill(3)
	if wipe {
		data := filepath.Join(c.m.Nodes[3].Home, "data")
		if err := os.RemoveAll(data); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(data, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	missed := c.tip(0) + 30
	c.waitHeight(0, missed, 60*time.Second)
	c.start(3)
	took := c.waitHeight(3, missed, 60*time.Second)
	t.Logf("restarted validator caught up %d blocks in %v", missed, took)
	l := sl.finish()
	c.checkCommitted(l, []int{0, 1, 2, 3})
	if wipe && !strings.Contains(c.log(3), "lost its consensus records: not voting until") {
		t.Errorf("wiped validator did not hold back its votes:\n%s", tail(c.log(3), 30))
	}
	for i := range c.m.Nodes {
		var ev []any
		c.mustCall(i, &ev, "chain_evidence")
		if len(ev) != 0 {
			t.Errorf("%s reports evidence on an honest network: %v", c.m.Nodes[i].Name, ev)
		}
	}
}

// TestAllValidatorsKilledMidLoad kills all four validators at once while
// transactions flow and restarts them. Every transaction committed before
// the kill is still committed, at the same height, on every node; the
// chain continues (fresh accounts' transactions commit); the nodes agree at
// every height. Transactions accepted but not yet committed at the kill may
// still commit afterwards (a prepared block is carried into the next view),
// which is why the post-restart traffic uses accounts the load never used.
func TestAllValidatorsKilledMidLoad(t *testing.T) {
	c := newCluster(t, 4, 6, "kv")
	c.startAll()
	sl := startSteadyLoad(c, []int{0, 1, 2, 3}, 2*time.Millisecond, 4)
	c.waitHeight(0, 10, 30*time.Second)
	before := c.tip(0)
	committed := map[chain.Hash]uint64{} // tx → height, as node 0 reported before the kill
	for h := uint64(1); h <= before; h++ {
		for _, tx := range c.block(0, h).Transactions.Hashes {
			committed[tx] = h
		}
	}
	for i := range c.m.Nodes {
		c.kill(i)
	}
	sl.finish()
	c.startAll()
	for i := range c.m.Nodes {
		c.waitHeight(i, before, 30*time.Second)
	}
	fresh := load{hashes: map[chain.Hash]string{}, counts: make([]uint64, len(c.keys))}
	for a := 4; a < 6; a++ {
		kv := fmt.Sprintf("after%d=restart", a)
		tx := c.signTx(a, 0, kv)
		cl, err := gethrpc.Dial(c.m.Nodes[a%4].RPC)
		if err != nil {
			t.Fatal(err)
		}
		if err := sendWithRetry(cl, tx); err != nil {
			t.Fatalf("account %d after restart: %v", a, err)
		}
		cl.Close()
		fresh.hashes[tx.Hash()] = kv
		fresh.counts[a] = 1
	}
	for a := 0; a < 4; a++ {
		fresh.counts[a] = ^uint64(0) // not checked
	}
	c.waitFreshNonces(fresh, 60*time.Second)
	c.waitConverged(30 * time.Second)
	for tx, h := range committed {
		for i := range c.m.Nodes {
			var got map[string]any
			c.mustCall(i, &got, "chain_getTransaction", tx)
			if got == nil || got["status"] != "committed" || got["height"] != float64(h) {
				t.Fatalf("%s: tx %s committed at %d before the kill is now %v", c.m.Nodes[i].Name, tx, h, got)
			}
		}
	}
	top := c.tip(0)
	for h := uint64(1); h <= top; h++ {
		ref := c.block(0, h)
		for i := 1; i < len(c.m.Nodes); i++ {
			if b := c.block(i, h); b == nil || b.Hash != ref.Hash || b.AppHash != ref.AppHash {
				t.Fatalf("height %d: %s and %s differ", h, c.m.Nodes[0].Name, c.m.Nodes[i].Name)
			}
		}
	}
}

// waitFreshNonces waits until every node has committed the accounts'
// counts, skipping accounts whose count is the all-ones marker.
func (c *cluster) waitFreshNonces(l load, timeout time.Duration) {
	c.t.Helper()
	sub := load{hashes: l.hashes}
	var idx []int
	for a, n := range l.counts {
		if n != ^uint64(0) {
			idx = append(idx, a)
			sub.counts = append(sub.counts, n)
		}
	}
	deadline := time.Now().Add(timeout)
	for _, i := range idx {
		addr := crypto.PubkeyToAddress(c.keys[i].PublicKey)
		for node := range c.m.Nodes {
			for {
				var n uint64
				c.mustCall(node, &n, "chain_getNonce", addr)
				if n >= l.counts[i] {
					break
				}
				if time.Now().After(deadline) {
					c.t.Fatalf("%s: account %d nonce %d, want %d", c.m.Nodes[node].Name, i, n, l.counts[i])
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
}
