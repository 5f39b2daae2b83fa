package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"

	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/bafomet/bafomet/chain"
)

// dkFakeChain serves the chain_ methods the checker calls, from maps a
// test edits, so that the checker can be shown to catch each violation.
type dkFakeChain struct {
	mu       sync.Mutex
	height   uint64
	blocks   map[uint64]dkBlockID
	txs      map[chain.Hash]uint64
	evidence []json.RawMessage
	primary  chain.Address
}

func (f *dkFakeChain) BlockNumber() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.height
}

func (f *dkFakeChain) GetBlockByNumber(h uint64, _ bool) *dkBlockID {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b, ok := f.blocks[h]; ok && h <= f.height {
		return &b
	}
	return nil
}

func (f *dkFakeChain) GetTransaction(h chain.Hash) *dkTxStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	height, ok := f.txs[h]
	if !ok {
		return nil
	}
	return &dkTxStatus{Status: "committed", Height: &height}
}

func (f *dkFakeChain) Evidence() []json.RawMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]json.RawMessage{}, f.evidence...)
}

func (f *dkFakeChain) Status() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return map[string]any{"primary": f.primary}
}

func (f *dkFakeChain) edit(fn func(*dkFakeChain)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// dkFakeNet starts n fake nodes with identical chains of height 3 holding
// the transactions, and a checker over them.
func dkFakeNet(t *testing.T, n int, txs []dkCommitted) ([]*dkFakeChain, *dkChecker) {
	t.Helper()
	l := &dkLoad{committed: txs}
	var fakes []*dkFakeChain
	for i := 0; i < n; i++ {
		f := &dkFakeChain{height: 3, blocks: map[uint64]dkBlockID{}, txs: map[chain.Hash]uint64{}}
		for h := uint64(1); h <= 3; h++ {
			f.blocks[h] = dkBlockID{Height: h, Hash: fmt.Sprintf("0xb%d", h), AppHash: fmt.Sprintf("0xa%d", h)}
		}
		for _, tx := range txs {
			f.txs[tx.Hash] = tx.Height
		}
		srv := gethrpc.NewServer()
		if err := srv.RegisterName("chain", f); err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv)
		t.Cleanup(func() { hs.Close(); srv.Stop() })
		c, err := gethrpc.DialHTTP(hs.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		l.clients = append(l.clients, c)
		fakes = append(fakes, f)
	}
	return fakes, newDKChecker(l)
}

func TestDockerCheckerCatchesViolations(t *testing.T) {
	tx1, tx2 := chain.Hash{1}, chain.Hash{2}
	txs := []dkCommitted{{Hash: tx1, Height: 2}, {Hash: tx2, Height: 3}}
	tests := []struct {
		name   string
		edit   func(*dkFakeChain) // applied to node 1
		want   string
		safety bool
	}{
		{name: "agreement", edit: func(*dkFakeChain) {}},
		{name: "block hash differs", edit: func(f *dkFakeChain) { f.blocks[2] = dkBlockID{Height: 2, Hash: "0xbad", AppHash: "0xa2"} },
			want: "safety violated: node1 block 2 is 0xbad appHash 0xa2, another node has 0xb2 appHash 0xa2", safety: true},
		{name: "appHash differs", edit: func(f *dkFakeChain) { f.blocks[3] = dkBlockID{Height: 3, Hash: "0xb3", AppHash: "0xbad"} },
			want: "safety violated: node1 block 3 is 0xb3 appHash 0xbad, another node has 0xb3 appHash 0xa3", safety: true},
		{name: "block missing", edit: func(f *dkFakeChain) { delete(f.blocks, 1) },
			want: "node1: block 1 missing below its height 3"},
		{name: "tx at another height", edit: func(f *dkFakeChain) { f.txs[tx1] = 3 },
			want: "safety violated: node1: transaction " + tx1.Hex() + ", committed at 2, is committed at 3", safety: true},
		{name: "tx unknown", edit: func(f *dkFakeChain) { delete(f.txs, tx2) },
			want: "safety violated: node1: transaction " + tx2.Hex() + ", committed at 3, is unknown", safety: true},
		{name: "evidence", edit: func(f *dkFakeChain) { f.evidence = []json.RawMessage{json.RawMessage(`{"validator":2}`)} },
			want: `safety violated: node1 reports evidence against an honest validator: {"validator":2}`, safety: true},
	}
	for _, tc := range tests {
		fakes, ck := dkFakeNet(t, 3, txs)
		fakes[1].edit(tc.edit)
		err := ck.check()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want || errors.Is(err, errDKSafety) != tc.safety {
			t.Errorf("%s: err %q (safety %v), want %q (safety %v)", tc.name, got, errors.Is(err, errDKSafety), tc.want, tc.safety)
		}
	}
}

func TestDockerCheckerIncremental(t *testing.T) {
	tx := dkCommitted{Hash: chain.Hash{7}, Height: 5}
	fakes, ck := dkFakeNet(t, 2, []dkCommitted{tx})
	// Node 1 lags at height 3: the transaction at 5 waits for it.
	fakes[0].edit(func(f *dkFakeChain) {
		f.height = 5
		f.blocks[4] = dkBlockID{Height: 4, Hash: "0xb4", AppHash: "0xa4"}
		f.blocks[5] = dkBlockID{Height: 5, Hash: "0xb5", AppHash: "0xa5"}
	})
	fakes[1].edit(func(f *dkFakeChain) { delete(f.txs, tx.Hash) })
	if err := ck.check(); err != nil {
		t.Fatalf("lagging node: %v", err)
	}
	if ck.verified[0] != 5 || ck.verified[1] != 3 || len(ck.deferred[1]) != 1 || len(ck.deferred[0]) != 0 {
		t.Fatalf("verified %v deferred %v", ck.verified, ck.deferred)
	}
	// It catches up without the transaction: caught.
	fakes[1].edit(func(f *dkFakeChain) {
		f.height = 5
		f.blocks[4], f.blocks[5] = fakes[0].blocks[4], fakes[0].blocks[5]
	})
	if err := ck.check(); !errors.Is(err, errDKSafety) {
		t.Fatalf("missing deferred transaction: %v", err)
	}
}

// A block rewritten below the verified height goes unseen until the node
// is reset (its data was wiped); then it is read and caught.
func TestDockerCheckerReset(t *testing.T) {
	fakes, ck := dkFakeNet(t, 2, nil)
	if err := ck.check(); err != nil {
		t.Fatal(err)
	}
	fakes[1].edit(func(f *dkFakeChain) { f.blocks[1] = dkBlockID{Height: 1, Hash: "0xother", AppHash: "0xa1"} })
	if err := ck.check(); err != nil {
		t.Fatalf("verified heights are not read again: %v", err)
	}
	ck.reset(1)
	want := "safety violated: node1 block 1 is 0xother appHash 0xa1, another node has 0xb1 appHash 0xa1"
	if err := ck.check(); err == nil || err.Error() != want {
		t.Fatalf("after reset: %v, want %s", err, want)
	}
}

func TestDockerCheckerPrimary(t *testing.T) {
	a, b := chain.Address{0xa}, chain.Address{0xb}
	fakes, ck := dkFakeNet(t, 3, nil)
	for i, p := range []chain.Address{a, b, b} {
		fakes[i].edit(func(f *dkFakeChain) { f.primary = p })
	}
	addrs := []string{a.Hex(), "0x00000000000000000000000000000000000000ff", b.Hex()}
	if got, err := ck.primary(addrs); err != nil || got != 2 {
		t.Fatalf("primary %d, %v; want 2 (named by two of three)", got, err)
	}
	if _, err := ck.primary(addrs[:2]); err == nil {
		t.Fatal("a primary outside the validator list was accepted")
	}
}
