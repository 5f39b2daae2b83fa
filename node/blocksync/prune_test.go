package blocksync

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bafomet/bafomet/chain"
)

// prunedSource is the shared chain as a node that pruned every height
// below earliest sees it.
type prunedSource struct {
	*chain.Store
	earliest uint64
}

func (s *prunedSource) EarliestHeight() (uint64, error) { return s.earliest, nil }

func (s *prunedSource) Block(h uint64) (*chain.Block, error) {
	if h < s.earliest {
		return nil, &chain.PrunedError{Earliest: s.earliest}
	}
	return s.Store.Block(h)
}

func (s *prunedSource) Certificate(h uint64) (*chain.Certificate, error) {
	if h < s.earliest {
		return nil, &chain.PrunedError{Earliest: s.earliest}
	}
	return s.Store.Certificate(h)
}

func prunedServer(t *testing.T, c *testChain, earliest uint64) *Server {
	t.Helper()
	s, err := NewServer(&prunedSource{Store: c.store, earliest: earliest}, ServerConfig{CheckpointInterval: testCkptEvery})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPrunedServerAnswers: a server that holds blocks from 300 answers a
// range starting below with ErrPruned naming 300 (no garbage, no
// partial range), serves ranges from 300 as before, and names its
// earliest height in every response, which Probe reports.
func TestPrunedServerAnswers(t *testing.T) {
	c := getShared(t)
	s := prunedServer(t, c, 300)
	ctx := context.Background()
	_, err := s.Handle(ctx, 1, blocksReq(10, 32, 1<<20))
	if !errors.Is(err, ErrPruned) || !strings.Contains(err.Error(), "the earliest block this node holds is 300") {
		t.Fatalf("request below the earliest height: %v", err)
	}
	if h, ok := PrunedEarliest(err); !ok || h != 300 {
		t.Fatalf("PrunedEarliest = %d, %v", h, ok)
	}
	// As the requester sees it over p2p: the error's text only.
	if h, ok := PrunedEarliest(errors.New("request 10..41: p2p: peer answered: " + err.Error())); !ok || h != 300 {
		t.Fatalf("PrunedEarliest of the remote text = %d, %v", h, ok)
	}
	if _, err := s.Handle(ctx, 1, blocksReq(299, 4, 1<<20)); !errors.Is(err, ErrPruned) {
		t.Fatalf("request from one below the earliest height: %v", err)
	}
	raw, err := s.Handle(ctx, 1, blocksReq(300, 4, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := DecodeResponse(raw, ResponseLimits{MaxBytes: 1 << 20, MaxBlocks: 4, MaxCheckpoints: 4, MaxCheckpointBytes: 1 << 16})
	if err != nil || len(resp.Blocks) != 4 || resp.Blocks[0].Block.Header.Height != 300 || resp.Earliest != 300 {
		t.Fatalf("range from the earliest height: %v, %+v", err, resp)
	}

	net := newFakeNet()
	net.serve(1, s)
	honest, err := NewServer(c.store, ServerConfig{CheckpointInterval: testCkptEvery})
	if err != nil {
		t.Fatal(err)
	}
	net.serve(2, honest)
	answers := Probe(ctx, net, NewVerifier(testChainID, c.vs, testCkptEvery), []int{1, 2})
	if answers[0].Err != nil || answers[0].Earliest != 300 || answers[1].Err != nil || answers[1].Earliest != 1 {
		t.Fatalf("probe: %+v", answers)
	}
}

// TestFetcherLeavesPrunedRangesToOtherPeers: a sync from 0 with one peer
// that pruned below 300 (its answers reaching the fetcher as p2p error
// text) and one that holds everything completes, takes the heights below
// 300 from the second, may take later ones from both, and counts no
// fault: the pruned peer is honest and is not put in a cool-down.
func TestFetcherLeavesPrunedRangesToOtherPeers(t *testing.T) {
	c := getShared(t)
	net := honestNet(t, c, 2)
	pruned := prunedServer(t, c, 300)
	net.set(1, func(ctx context.Context, req []byte) ([]byte, error) {
		out, err := pruned.Handle(ctx, 1, req)
		if err != nil {
			return nil, errors.New("p2p: peer answered: " + err.Error()) // as p2p.RemoteError reads
		}
		return out, nil
	})
	f := newFetcher(t, c, net, []int{1, 2}, 0, sharedHeight, testLimits())
	items := collect(t, f)
	checkItems(t, c, items, 1, sharedHeight)
	if st := f.Status(); st.Faults != 0 {
		t.Fatalf("%d faults: the pruned peer was treated as faulty", st.Faults)
	}
	for _, it := range items {
		if it.Peer == 1 && it.Block.Header.Height < 300 {
			t.Fatalf("height %d came from the peer that pruned it", it.Block.Header.Height)
		}
	}
	if net.callsTo(1) < 2 {
		t.Fatalf("the pruned peer was asked %d times: it should serve later ranges", net.callsTo(1))
	}
}

// TestFetcherWaitsWhenEveryPeerPruned: when no peer holds the next
// range the fetcher neither spins nor faults anyone; it delivers nothing
// until the context ends.
func TestFetcherWaitsWhenEveryPeerPruned(t *testing.T) {
	c := getShared(t)
	net := newFakeNet()
	net.serve(1, prunedServer(t, c, 300))
	f := newFetcher(t, c, net, []int{1}, 0, sharedHeight, testLimits())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	n := 0
	for range f.Blocks() {
		n++
	}
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) || n != 0 {
		t.Fatalf("run: %v after %d blocks", err, n)
	}
	if calls := net.callsTo(1); calls > 2 {
		t.Fatalf("the pruned peer was asked %d times for the range it does not hold", calls)
	}
	if st := f.Status(); st.Faults != 0 {
		t.Fatalf("%d faults", st.Faults)
	}
}
