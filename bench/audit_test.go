package bench

import (
	"context"
	"testing"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/client"
	"github.com/bafomet/bafomet/rpc"
)

func TestAudit(t *testing.T) {
	fc := newFakeChain()
	gap := "nonce gap"
	fc.lookups = map[chain.Hash]*rpc.TxResult{
		hashN(1): {Status: rpc.TxQueued},
		hashN(2): {Status: rpc.TxQueued},
		hashN(3): {Status: rpc.TxDropped, Reason: &gap},
		hashN(4): {Status: rpc.TxPending},
	}
	url := serveFake(t, fc)
	c, err := dialHTTP(context.Background(), url, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := &sender{target: 0, slots: make(chan struct{}, 8)}
	tr := newTracker(window{start: at(0), end: at(1000)})
	for _, h := range []chain.Hash{hashN(1), hashN(2), hashN(3), hashN(4), hashN(5), {0xee}} {
		tr.submitting(s, h, at(10))
	}
	r := &runner{cfg: Config{AuditSample: 6}, clients: []*client.Client{c}, tr: tr}
	got := r.audit(context.Background())
	want := map[string]int{"queued": 2, "dropped: nonce gap": 1, "pending": 1, "unknown": 1, "lookup failed": 1}
	if len(got) != len(want) {
		t.Fatalf("audit = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("audit = %v, want %v", got, want)
		}
	}
	r.cfg.AuditSample = 2
	total := 0
	for _, v := range r.audit(context.Background()) {
		total += v
	}
	if total != 2 {
		t.Fatalf("audit with sample 2 looked up %d transactions", total)
	}
	if got := (&runner{cfg: Config{AuditSample: 5}, tr: newTracker(window{})}).audit(context.Background()); got != nil {
		t.Fatalf("audit with nothing outstanding = %v, want nil", got)
	}
}
