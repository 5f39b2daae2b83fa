package node

import (
	"errors"
	"fmt"
	"testing"

	"github.com/bafomet/bafomet/mempool"
	"github.com/bafomet/bafomet/rpc"
)

// TestRefusalMessageSaysItOnce: a mempool refusal reaches the client with
// its RPC code and the mempool's message, not "wrong chain id: wrong chain
// id: …"; the malformed sentinels differ in wording, so that one keeps the
// RPC sentinel's words in front.
func TestRefusalMessageSaysItOnce(t *testing.T) {
	for _, m := range mempoolToRPC {
		refusal := fmt.Errorf("%w: detail", m.from) // what Add returns
		err := &rpcRefusal{code: m.to, err: refusal}
		want := refusal.Error()
		if m.from.Error() != m.to.Error() {
			want = m.to.Error() + ": " + want
		}
		if err.Error() != want {
			t.Errorf("%v: message %q, want %q", m.from, err.Error(), want)
		}
		if !errors.Is(err, m.to) || !errors.Is(err, m.from) {
			t.Errorf("%v: does not match both sentinels", m.from)
		}
		if rpc.ErrorCode(err) != rpc.ErrorCode(m.to) || rpc.ErrorCode(err) == rpc.CodeInternal {
			t.Errorf("%v: code %d, want %d", m.from, rpc.ErrorCode(err), rpc.ErrorCode(m.to))
		}
	}
	if mempool.ErrWrongChain.Error() != rpc.ErrWrongChainID.Error() {
		t.Fatal("the test relies on the shared wording of wrong chain id")
	}
}

// TestEveryDropKindIsPhrased: a dropped transaction's status names its rule
// in words for every drop kind, the eviction from a full pool included.
func TestEveryDropKindIsPhrased(t *testing.T) {
	for _, k := range mempool.DropKinds() {
		if _, ok := dropReasons[k]; !ok {
			t.Errorf("drop kind %s has no phrase", k)
		}
	}
	got := dropReason(mempool.TxStatus{Drop: mempool.DropEvicted, Reason: "pool full: queued behind the gap at nonce 0"})
	if want := "evicted to make room (pool full: queued behind the gap at nonce 0)"; got != want {
		t.Fatalf("dropReason = %q, want %q", got, want)
	}
}
