package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/examples/counter"
	"github.com/bafomet/bafomet/rpc"
)

// buildCounterd builds examples/counter/cmd/counterd, a node binary that
// calls cli.Main with the counter application registered.
func buildCounterd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "counterd")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/bafomet/bafomet/examples/counter/cmd/counterd").CombinedOutput()
	if err != nil {
		t.Fatalf("build counterd: %v\n%s", err, out)
	}
	return bin
}

// TestCounterChain runs a chain of the custom counter application from its
// own binary: counterd generates a 4-validator counter testnet and runs the
// validators; inc and dec transactions, one sent with `counterd tx send
// --wait`, the others over JSON-RPC to different validators, commit, and
// every validator serves the counters with counter_value. The built-in
// applications' methods answer that the chain does not run them.
func TestCounterChain(t *testing.T) {
	c := newClusterOf(t, buildCounterd(t), 4, 2, counter.Name)
	c.startAll()

	out, err := exec.Command(c.bin, "tx", "send", "--rpc", c.m.Nodes[0].RPC, "--key", c.m.Accounts[0].KeyFile,
		"--payload", "inc 5", "--wait", "--timeout", "30s").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"status":"committed"`) {
		t.Fatalf("counterd tx send: %v\n%s", err, out)
	}
	txs := []struct {
		node, acc int
		nonce     uint64
		payload   string
		code      uint32
	}{
		{1, 0, 1, "dec 2", chain.CodeOK},
		{2, 1, 0, "inc 7", chain.CodeOK},
		{3, 1, 1, "dec 9", counter.CodeUnderflow},
	}
	var last *rpc.TxResult
	for _, tx := range txs {
		signed := c.signTx(tx.acc, tx.nonce, tx.payload)
		c.send(tx.node, signed)
		last = c.waitCommitted(0, signed.Hash())
		if last.Receipt == nil || last.Receipt.Code != tx.code {
			t.Fatalf("%q: receipt %+v, want code %d", tx.payload, last.Receipt, tx.code)
		}
	}
	want := map[int]uint64{0: 3, 1: 7}
	for i := range c.m.Nodes {
		c.waitFor(c.m.Nodes[i].Name+" at the last transaction's height", 30*time.Second, func() bool {
			return c.height(i) >= *last.Height
		})
		for a, v := range want {
			var got counter.Value
			c.mustCall(i, &got, "counter_value", c.addr(a))
			if got.Account != c.addr(a) || got.Value != v || got.Height < *last.Height {
				t.Fatalf("%s: counter_value(account %d) = %+v, want %d at height ≥ %d", c.m.Nodes[i].Name, a, got, v, *last.Height)
			}
		}
	}

	var v counter.Value
	wantRPCError(t, c.call(0, &v, "counter_value", "0x12"), rpc.CodeInvalidParams, `parameter "account"`)
	wantRPCError(t, c.call(0, &v, "counter_value"), rpc.CodeInvalidParams, `missing required parameter "account"`)
	wantRPCError(t, c.call(0, &v, "bank_getBalance", c.addr(0)), rpc.CodeAppNotServed)
	wantRPCError(t, c.call(0, &v, "kv_get", "k"), rpc.CodeAppNotServed)
	wantRPCError(t, c.call(0, &v, "counter_reset", c.addr(0)), rpc.CodeMethodNotFound)
	for i := range c.m.Nodes {
		c.stop(i)
	}
}
