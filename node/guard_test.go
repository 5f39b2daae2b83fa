package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/node/blocksync"
	"github.com/bafomet/bafomet/ordering"
)

func TestLostRecordsAnswersNeeded(t *testing.T) {
	for _, n := range []int{2, 3, 4, 5, 6, 7, 10, 13} {
		q, f := chain.Quorum(n), chain.MaxFaulty(n)
		need := lostRecordsAnswersNeeded(n, q, f)
		// Peers that signed the lost validator's stable checkpoint and are
		// honest: q−f−1 at least. Any need peers include one of them.
		if signers := q - f - 1; need+signers <= n-1 || need > n-1 {
			t.Errorf("n=%d: need %d of %d peers, which may miss all %d honest signers", n, need, n-1, signers)
		}
		if n%3 == 1 && need != q {
			t.Errorf("n=%d: need %d, want q=%d", n, need, q)
		}
	}
}

// The bound waits for enough answers and takes the highest verified
// height: a lagging honest peer and a Byzantine one that answer low first
// neither end the wait nor lower the bound, and a peer's later, lower
// answer does not lower it either.
func TestLostRecordsBoundIgnoresLowAnswers(t *testing.T) {
	const logWindow = 200
	g := newLostRecordsBound(lostRecordsAnswersNeeded(4, 3, 1), 0, 0, logWindow)
	g.add([]blocksync.PeerHeight{
		{Peer: 1, Height: 0},                        // lagging: missed every block
		{Peer: 2, Height: 5, View: 0},               // Byzantine: an old certificate
		{Peer: 3, Err: errors.New("no answer yet")}, // the one that holds the checkpoint
	})
	if b, ok := g.bound(); ok {
		t.Fatalf("bound %+v from the first two answers, both low", b)
	}
	g.add([]blocksync.PeerHeight{{Peer: 3, Height: 130, View: 2}})
	b, ok := g.bound()
	if !ok || b.height != 130 || b.noVoteThrough != 130+logWindow || b.minView != 3 {
		t.Fatalf("bound %+v %v, want height 130, no vote through %d, min view 3", b, ok, 130+logWindow)
	}
	g.add([]blocksync.PeerHeight{{Peer: 3, Height: 7}, {Peer: 1, Err: errors.New("gone")}})
	if b2, _ := g.bound(); b2 != b {
		t.Fatalf("later answers moved the bound from %+v to %+v", b, b2)
	}
}

// At genesis the bound is the log window, not 0: a validator that lost its
// records while the network was at height 0 may have voted at 1 … window.
func TestLostRecordsBoundAtGenesis(t *testing.T) {
	const logWindow = 200
	g := newLostRecordsBound(3, 0, 0, logWindow)
	g.add([]blocksync.PeerHeight{{Peer: 1}, {Peer: 2}, {Peer: 3}})
	b, ok := g.bound()
	if !ok || b.noVoteThrough != logWindow || b.minView != 1 {
		t.Fatalf("bound %+v %v, want no vote through %d, min view 1", b, ok, logWindow)
	}
}

// markRunning must not report success when the marker's directory entry
// may not be durable: the node would sign with a marker a crash can lose.
func TestMarkRunningReportsDirectorySyncError(t *testing.T) {
	tn := newTestNet(t, 1)
	cfg, err := LoadConfig(tn.homes[0])
	must(t, err)
	n, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	must(t, err)
	defer n.Close()
	eio := errors.New("input/output error")
	syncDir = func(string) error { return eio }
	defer func() { syncDir = syncDirEntries }()
	if err := n.markRunning(); !errors.Is(err, eio) {
		t.Fatalf("markRunning: %v, want the directory sync error", err)
	}
}

// TestLostRecordsGuardWaitsPastLowAnswers: a validator that lost its
// consensus log restarts while the only peer that holds the network's
// height is down, and the two that answer say height 0 — one lags (it was
// down while the others committed), one is Byzantine and hides its
// certificate. The guard must not take their word for it: it waits, and
// once the honest peer is back it bounds votes at the network's height
// plus the log window.
func TestLostRecordsGuardWaitsPastLowAnswers(t *testing.T) {
	tn := newTestNet(t, 4)
	for _, i := range []int{0, 2, 3} { // node 1 stays down: it will lag
		tn.start(i)
	}
	tn.send(0, 0, "before=loss")
	waitNonce(t, tn, 1)
	tip := tn.nodes[0].Height()
	tn.stop(3)
	must(t, os.RemoveAll(filepath.Join(tn.homes[3], DefaultWALDir)))

	liar := tn.nodes[2]
	srv, err := blocksync.NewServer(liar.store(), blocksync.ServerConfig{CheckpointInterval: liar.gen.Consensus.CheckpointInterval})
	must(t, err)
	liar.host.SetRequestHandler(func(ctx context.Context, from int, req []byte) ([]byte, error) {
		if r, err := blocksync.DecodeRequest(req); err == nil && r.Kind == blocksync.KindStatus {
			return rlp.EncodeToBytes(&blocksync.Response{Version: blocksync.ProtocolVersion, Height: 0})
		}
		return srv.Handle(ctx, from, req)
	})
	tn.stop(0)
	tn.start(1)
	if h := tn.nodes[1].Height(); h != 0 {
		t.Fatalf("the lagging validator is at height %d, want 0", h)
	}

	cfg, err := LoadConfig(tn.homes[3])
	must(t, err)
	n3, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	must(t, n3.Start(ctx))
	t.Cleanup(func() {
		cancel()
		n3.Close()
	})
	select {
	case <-n3.ConsensusStarted():
		b, _ := n3.storedLostRecordsBound()
		t.Fatalf("consensus started with only the low answers of a lagging and a Byzantine peer: stored bound %+v", b)
	case err := <-n3.Fatal():
		t.Fatalf("stopped with only the low answers of a lagging and a Byzantine peer: %v", err)
	case <-time.After(5 * time.Second):
	}
	tn.start(0)
	select {
	case <-n3.ConsensusStarted():
	case err := <-n3.Fatal():
		t.Fatal(err)
	case <-time.After(20 * time.Second):
		t.Fatal("still waiting with every peer back")
	}
	b, err := n3.storedLostRecordsBound()
	must(t, err)
	logWindow := tn.gen.Consensus.CheckpointInterval * ordering.DefaultLogWindowFactor
	if b.noVoteThrough != tip+logWindow || b.minView != 1 {
		t.Fatalf("stored bound %+v, want no vote through %d and min view 1", b, tip+logWindow)
	}
}
