package node

import (
	"context"
	"log/slog"
	"testing"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/genesis"
)

// TestWaitingTransactionResent: a transaction whose only gossip was lost
// (taken from the gossip queue before the node started, as a dropped frame
// would be) still reaches the primary and commits, because waiting
// transactions are sent again. The view change timeout is far beyond the
// test's deadline, so the commit cannot come from the holder becoming
// primary after a view change.
func TestWaitingTransactionResent(t *testing.T) {
	cons := genesis.DefaultConsensus()
	cons.ViewChangeTimeoutMs = 120_000
	cons.ViewChangeTimeoutMaxMs = 120_000
	tn := newTestNetWith(t, 4, cons)
	cfg, err := LoadConfig(tn.homes[1])
	must(t, err)
	holder, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	must(t, err)
	tx, err := chain.SignTx(tn.user, tn.gen.ChainID, 0, []byte("resent=1"))
	must(t, err)
	_, err = holder.pool.Add(tx.Bytes())
	must(t, err)
	if lost := holder.pool.TakeGossip(10); len(lost) != 1 {
		t.Fatalf("gossip queue held %d transactions, want 1", len(lost))
	}
	must(t, holder.Start(context.Background()))
	tn.nodes[1] = holder
	for _, i := range []int{0, 2, 3} {
		tn.start(i)
	}
	waitNonce(t, tn, 1) // 20 s deadline
	if s := tn.nodes[0].soft.Load(); s == nil || s.View != 0 {
		t.Fatalf("primary's soft state %+v, want view 0", s)
	}
}
