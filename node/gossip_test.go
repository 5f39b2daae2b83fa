package node

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/genesis"
	"github.com/bafomet/bafomet/node/blocksync"
	"github.com/bafomet/bafomet/p2p"
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

// TestGossipSkippedWhileSyncing: a node that is block-syncing does not
// admit gossiped transactions (they would mostly commit before it reaches
// the tip, and recovering their senders takes the CPU sync needs), and
// does not remember them as known, so the same frame is admitted once sync
// is over.
func TestGossipSkippedWhileSyncing(t *testing.T) {
	tn := newTestNetWith(t, 4, genesis.DefaultConsensus())
	cfg, err := LoadConfig(tn.homes[0])
	must(t, err)
	n, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	must(t, err)
	t.Cleanup(func() { n.Close() })
	tx, err := chain.SignTx(tn.user, tn.gen.ChainID, 0, []byte("gossiped=1"))
	must(t, err)
	frame, err := rlp.EncodeToBytes([][]byte{tx.Bytes()})
	must(t, err)
	in := p2p.Inbound{From: 1, Proto: p2p.ProtoTx, Data: frame}

	n.syncer.status.Store(&blocksync.Status{Syncing: true, Target: 100})
	n.addGossiped(in)
	if size := n.pool.Stats().Size; size != 0 {
		t.Fatalf("mempool holds %d transactions while syncing, want 0", size)
	}
	if got := n.syncer.gossipSkipped.Load(); got != 1 {
		t.Fatalf("skipped frames counted %d, want 1", got)
	}

	n.syncer.status.Store(&blocksync.Status{Syncing: false, Target: 100})
	n.addGossiped(in)
	if size := n.pool.Stats().Size; size != 1 {
		t.Fatalf("mempool holds %d transactions after sync, want 1", size)
	}
}

// TestQueuedTransactionNotGossiped: a transaction queued behind a nonce gap
// stays on the node that admitted it — neither gossiped nor re-sent, so
// one node's queue cannot fill its peers' (issue 29, finding 3) — and is
// gossiped once the missing nonce arrives, then commits.
func TestQueuedTransactionNotGossiped(t *testing.T) {
	tn := newTestNetWith(t, 4, genesis.DefaultConsensus())
	for i := range tn.nodes {
		tn.start(i)
	}
	holder := tn.nodes[1]
	tx1, err := chain.SignTx(tn.user, tn.gen.ChainID, 1, []byte("queued=1"))
	must(t, err)
	_, err = holder.pool.Add(tx1.Bytes())
	must(t, err)
	// Longer than resendAge plus expireInterval: a stale re-send would
	// have gone out by now.
	time.Sleep(resendAge + 2*expireInterval)
	for i, n := range tn.nodes {
		if _, held := n.pool.Lookup(tx1.Hash()); held != (i == 1) {
			t.Fatalf("node %d holds the queued transaction: %v, want only node 1", i, held)
		}
	}
	tx0, err := chain.SignTx(tn.user, tn.gen.ChainID, 0, []byte("queued=0"))
	must(t, err)
	_, err = holder.pool.Add(tx0.Bytes())
	must(t, err)
	holder.wakeDriver()
	waitNonce(t, tn, 2) // 20 s deadline
}
