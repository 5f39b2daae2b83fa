package rpc

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/bafomet/bafomet/chain"
)

// TestPrunedHeightsAnswerCodePruned: every method that reads a block by
// height, hash or transaction answers a height below the earliest block
// the node holds with CodePruned and the message naming that height;
// heights from it up read as before; chain_status reports earliestHeight;
// a subscription that would replay from below it is refused.
func TestPrunedHeightsAnswerCodePruned(t *testing.T) {
	f := newFakeBackend(t)
	key := testKey(t, 9)
	var blocks []*StoredBlock
	for i := range 5 {
		blocks = append(blocks, f.commit(t, signTx(t, key, uint64(i), fmt.Sprintf("k%d=v", i))))
	}
	f.mu.Lock()
	f.earliest = 3
	f.mu.Unlock()
	s := startServer(t, Config{}, f)
	url := httpURL(s)
	const want = "pruned: the earliest block this node holds is 3"
	tx1 := blocks[0].Block.TxHashes()[0]
	for _, c := range []struct{ method, params string }{
		{"chain_getBlockByNumber", `[1]`},
		{"chain_getBlockByNumber", `[2, true]`},
		{"chain_getBlockByHash", fmt.Sprintf(`["%s"]`, blocks[1].Block.Hash())},
		{"chain_getCertificate", `[2]`},
		{"chain_verifyCertificate", `[1]`},
		{"chain_getTransaction", fmt.Sprintf(`["%s"]`, tx1)},
	} {
		r := call(t, url, c.method, c.params)
		if r.Error == nil || r.Error.Code != CodePruned || r.Error.Message != want {
			t.Errorf("%s%s: %+v (result %s), want code %d %q", c.method, c.params, r.Error, r.Result, CodePruned, want)
		}
	}
	for _, c := range []struct{ method, params string }{
		{"chain_getBlockByNumber", `[3]`},
		{"chain_getCertificate", `["latest"]`},
		{"chain_getTransaction", fmt.Sprintf(`["%s"]`, blocks[2].Block.TxHashes()[0])},
	} {
		if r := call(t, url, c.method, c.params); r.Error != nil || string(r.Result) == "null" {
			t.Errorf("%s%s: %+v, %s", c.method, c.params, r.Error, r.Result)
		}
	}
	st := result(t, url, "chain_status", `[]`).(map[string]any)
	if st["earliestHeight"] != float64(3) {
		t.Fatalf("earliestHeight = %v, want 3", st["earliestHeight"])
	}

	w := dialWS(t, wsURL(s), nil)
	r := w.request("chain_subscribe", `["newBlocks", {"fromHeight": 2}]`)
	if r.Error == nil || r.Error.Code != CodePruned || r.Error.Message != want {
		t.Fatalf("subscribe from a pruned height: %+v", r.Error)
	}
	sub := w.subscribe(`["newBlocks", {"fromHeight": 3}]`)
	if h := w.nextHeight(sub); h != 3 {
		t.Fatalf("subscription from the earliest height starts at %d", h)
	}
}

// TestSubscriptionEndsPrunedWhenHeightsGoMeanwhile: a replay that finds
// its next height pruned under it ends with a CodePruned notification,
// not an internal error.
func TestSubscriptionEndsPrunedWhenHeightsGoMeanwhile(t *testing.T) {
	f := newFakeBackend(t)
	commitN(t, f, 3)
	s := startServer(t, Config{}, f)
	w := dialWS(t, wsURL(s), nil)
	f.mu.Lock()
	f.failBlock, f.failErr = 2, fmt.Errorf("block 2: %w", &chain.PrunedError{Earliest: 3})
	f.mu.Unlock()
	sub := w.subscribe(`["newBlocks", {"fromHeight": 1}]`)
	if h := w.nextHeight(sub); h != 1 {
		t.Fatalf("got %d", h)
	}
	_, res := w.next()
	var b Block
	err := json.Unmarshal(res, &b)
	se, ok := err.(*SubscriptionError)
	if !ok || se.Code != CodePruned || se.FromHeight != 2 || se.Message != "pruned: the earliest block this node holds is 3" {
		t.Fatalf("got %s (%v), want a pruned SubscriptionError from height 2", res, err)
	}
}
