package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/rpc"
)

// TestCommitEndToEnd is the node issue's acceptance test: four validator
// processes, 1,000 kv transactions from ten senders submitted over JSON-RPC
// to every node, each committed exactly once, identical chains, and the
// written values readable on every node.
func TestCommitEndToEnd(t *testing.T) {
	c := newCluster(t, 4, 10, "kv")
	c.startAll()
	load := c.submitLoad(10, 100, []int{0, 1, 2, 3})
	c.checkCommitted(load, []int{0, 1, 2, 3})
	for i := range c.m.Nodes {
		c.stop(i)
	}
}

// TestCommitWithValidatorKilled kills one of four validators with SIGKILL
// before the load: the other three, a quorum, still commit everything.
func TestCommitWithValidatorKilled(t *testing.T) {
	c := newCluster(t, 4, 10, "kv")
	c.startAll()
	c.kill(3)
	live := []int{0, 1, 2}
	load := c.submitLoad(10, 100, live)
	c.checkCommitted(load, live)
	for _, i := range live {
		c.stop(i)
	}
}

// load is what was submitted and accepted.
type load struct {
	hashes map[chain.Hash]string // tx hash → "key=value"
	counts []uint64              // per account: transactions accepted (nonces 0 … count-1)
}

// submitLoad sends perAcc transactions from each of accs accounts, nonces
// in order, spreading them round-robin over the nodes. Refusals for
// capacity are retried; any other refusal fails the test.
func (c *cluster) submitLoad(accs int, perAcc uint64, nodes []int) load {
	c.t.Helper()
	l := load{hashes: make(map[chain.Hash]string), counts: make([]uint64, accs)}
	for a := range l.counts {
		l.counts[a] = perAcc
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, accs)
	for a := 0; a < accs; a++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.submitAccount(a, perAcc, nodes, func(h chain.Hash, kv string) {
				mu.Lock()
				l.hashes[h] = kv
				mu.Unlock()
			}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		c.t.Fatal(err)
	}
	return l
}

func (c *cluster) submitAccount(a int, perAcc uint64, nodes []int, sent func(chain.Hash, string)) error {
	clients := make([]*gethrpc.Client, len(nodes))
	for j, i := range nodes {
		cl, err := gethrpc.Dial(c.m.Nodes[i].RPC)
		if err != nil {
			return err
		}
		defer cl.Close()
		clients[j] = cl
	}
	for nonce := uint64(0); nonce < perAcc; nonce++ {
		kv := fmt.Sprintf("acc%d-key%d=value-%d-%d", a, nonce, a, nonce)
		tx := c.signTx(a, nonce, kv)
		cl := clients[(a+int(nonce))%len(clients)]
		if err := sendWithRetry(cl, tx); err != nil {
			return fmt.Errorf("account %d nonce %d: %w", a, nonce, err)
		}
		sent(tx.Hash(), kv)
	}
	return nil
}

// sendWithRetry submits tx, retrying for up to 30 s while the refusal is
// transient: capacity (the sender's or the pool's limit), or a nonce too far
// ahead of what this node has seen (the sender's earlier transactions went
// to another node and are still travelling by gossip).
func sendWithRetry(cl *gethrpc.Client, tx *chain.Tx) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var h chain.Hash
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := cl.CallContext(ctx, &h, "chain_sendTransaction", hexutil.Encode(tx.Bytes()))
		cancel()
		if err == nil {
			if h != tx.Hash() {
				return fmt.Errorf("node returned hash %s, want %s", h, tx.Hash())
			}
			return nil
		}
		var rerr gethrpc.Error
		retry := errors.As(err, &rerr) && (rerr.ErrorCode() == rpc.CodeMempoolFull || rerr.ErrorCode() == rpc.CodeSenderFull ||
			rerr.ErrorCode() == rpc.CodeNonceTooFarAhead)
		if !retry || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkCommitted waits until every account's committed nonce reaches the
// load on every node, then checks that the nodes hold identical chains
// containing each submitted transaction exactly once, with a successful
// receipt, and that every written value reads back on every node.
func (c *cluster) checkCommitted(l load, nodes []int) {
	c.t.Helper()
	c.waitNonces(l, nodes, 90*time.Second)
	var height uint64
	c.mustCall(nodes[0], &height, "chain_blockNumber")
	seen := make(map[chain.Hash]int)
	for h := uint64(1); h <= height; h++ {
		ref := c.block(nodes[0], h)
		if ref == nil {
			c.t.Fatalf("%s has no block %d of %d", c.m.Nodes[nodes[0]].Name, h, height)
		}
		for _, i := range nodes[1:] {
			b := c.block(i, h)
			if b == nil || b.Hash != ref.Hash || b.AppHash != ref.AppHash {
				c.t.Fatalf("height %d: %s has %+v, %s has %+v", h, c.m.Nodes[nodes[0]].Name, ref, c.m.Nodes[i].Name, b)
			}
		}
		for _, tx := range ref.Transactions.Hashes {
			seen[tx]++
		}
	}
	for h := range l.hashes {
		if seen[h] != 1 {
			c.t.Errorf("tx %s committed %d times, want once", h, seen[h])
		}
	}
	if len(seen) != len(l.hashes) {
		c.t.Errorf("chain holds %d distinct transactions, %d were submitted", len(seen), len(l.hashes))
	}
	c.checkReceiptsAndValues(l, nodes)
}

func (c *cluster) waitNonces(l load, nodes []int, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for _, i := range nodes {
		for a, want := range l.counts {
			addr := crypto.PubkeyToAddress(c.keys[a].PublicKey)
			for {
				var n uint64
				c.mustCall(i, &n, "chain_getNonce", addr)
				if n == want {
					break
				}
				if time.Now().After(deadline) {
					c.t.Fatalf("%s: account %d committed nonce %d, want %d after %v", c.m.Nodes[i].Name, a, n, want, timeout)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
}

func (c *cluster) checkReceiptsAndValues(l load, nodes []int) {
	c.t.Helper()
	for _, i := range nodes {
		cl, err := gethrpc.Dial(c.m.Nodes[i].RPC)
		if err != nil {
			c.t.Fatal(err)
		}
		var batch []gethrpc.BatchElem
		var want []string
		for h, kv := range l.hashes {
			key, value, _ := strings.Cut(kv, "=")
			batch = append(batch,
				gethrpc.BatchElem{Method: "chain_getTransaction", Args: []any{h}, Result: new(map[string]any)},
				gethrpc.BatchElem{Method: "kv_get", Args: []any{key}, Result: new(map[string]any)})
			want = append(want, value)
		}
		for start := 0; start < len(batch); start += 100 {
			end := min(start+100, len(batch))
			if err := cl.BatchCall(batch[start:end]); err != nil {
				c.t.Fatal(err)
			}
		}
		cl.Close()
		for j := 0; j < len(batch); j += 2 {
			tx, kv := *batch[j].Result.(*map[string]any), *batch[j+1].Result.(*map[string]any)
			if batch[j].Error != nil || batch[j+1].Error != nil {
				c.t.Fatalf("%s: %v / %v", c.m.Nodes[i].Name, batch[j].Error, batch[j+1].Error)
			}
			receipt, _ := tx["receipt"].(map[string]any)
			if tx["status"] != "committed" || receipt == nil || receipt["code"] != float64(0) {
				c.t.Fatalf("%s: tx %v: %v", c.m.Nodes[i].Name, batch[j].Args[0], tx)
			}
			if kv["value"] != want[j/2] {
				c.t.Fatalf("%s: kv_get %v = %v, want %q", c.m.Nodes[i].Name, batch[j+1].Args[0], kv, want[j/2])
			}
		}
	}
}
