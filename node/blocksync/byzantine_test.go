package blocksync

import (
	"context"
	"errors"
	"math/rand"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain"
)

// byzantine turns an honest response into a forged one. It gets the
// decoded request and the honest server.
type byzantine func(t *testing.T, c *testChain, s *Server, ctx context.Context, req *Request) ([]byte, error)

// honestResponse asks s and decodes its answer.
func honestResponse(t *testing.T, s *Server, ctx context.Context, req *Request) *Response {
	enc, err := s.Handle(ctx, 3, EncodeRequest(req))
	if err != nil {
		t.Error(err)
		return &Response{Version: ProtocolVersion}
	}
	r, err := DecodeResponse(enc, wideLimits)
	if err != nil {
		t.Error(err)
	}
	return r
}

func encodeResponse(t *testing.T, r *Response) []byte {
	enc, err := rlp.EncodeToBytes(r)
	if err != nil {
		t.Error(err)
	}
	return enc
}

// mutateBlocks re-encodes the honest response after fn changed it.
func mutateBlocks(fn func(t *testing.T, c *testChain, r *Response)) byzantine {
	return func(t *testing.T, c *testChain, s *Server, ctx context.Context, req *Request) ([]byte, error) {
		r := honestResponse(t, s, ctx, req)
		fn(t, c, r)
		return encodeResponse(t, r), nil
	}
}

var byzantineCases = []struct {
	name  string
	serve byzantine
}{
	{"forged certificate signature", mutateBlocks(func(t *testing.T, c *testChain, r *Response) {
		sig := append([]byte(nil), r.Blocks[len(r.Blocks)/2].Certificate.Signatures[1].Signature...)
		sig[5] ^= 0x40
		r.Blocks[len(r.Blocks)/2].Certificate.Signatures[1].Signature = sig
	})},
	{"certificate below quorum", mutateBlocks(func(t *testing.T, c *testChain, r *Response) {
		r.Blocks[0].Certificate.Signatures = r.Blocks[0].Certificate.Signatures[:2]
	})},
	{"tampered transaction", mutateBlocks(func(t *testing.T, c *testChain, r *Response) {
		r.Blocks[len(r.Blocks)-1].Block.Txs[0] = []byte("not the certified transaction")
	})},
	{"wrong parent inside the range, re-certified", mutateBlocks(func(t *testing.T, c *testChain, r *Response) {
		b := &r.Blocks[len(r.Blocks)-1]
		b.Block.Header.ParentHash = chain.Hash{0x66}
		b.Certificate = *certify(t, c.keys, &b.Block, 0, 0, 1, 2, 3)
	})},
	{"certified fork off the wrong parent", mutateBlocks(func(t *testing.T, c *testChain, r *Response) {
		// A whole range re-parented and re-certified (as if the peer held
		// every key): it links internally but not to the chain below.
		parent := chain.Hash{0x77}
		for i := range r.Blocks {
			b := &r.Blocks[i]
			b.Block.Header.ParentHash = parent
			b.Certificate = *certify(t, c.keys, &b.Block, 0, 0, 1, 2, 3)
			parent = b.Block.Hash()
		}
		r.Checkpoints = [][]byte{}
	})},
	{"invalid checkpoint proof", mutateBlocks(func(t *testing.T, c *testChain, r *Response) {
		h := r.Blocks[0].Block.Header.Height
		p := checkpointProof(t, c.keys, h, r.Blocks[0].Block.Hash(), chain.Hash{1}, 0, 1)
		r.Checkpoints = append(r.Checkpoints, encodeProof(t, p))
	})},
	{"more blocks than asked", func(t *testing.T, c *testChain, s *Server, ctx context.Context, req *Request) ([]byte, error) {
		req.Count++
		return encodeResponse(t, honestResponse(t, s, ctx, req)), nil
	}},
	{"range shifted by one", func(t *testing.T, c *testChain, s *Server, ctx context.Context, req *Request) ([]byte, error) {
		req.From++
		return encodeResponse(t, honestResponse(t, s, ctx, req)), nil
	}},
	{"claims the height but sends nothing", func(t *testing.T, c *testChain, s *Server, ctx context.Context, req *Request) ([]byte, error) {
		return encodeResponse(t, &Response{Version: ProtocolVersion, Height: 1 << 40}), nil
	}},
	{"garbage", func(t *testing.T, c *testChain, s *Server, ctx context.Context, req *Request) ([]byte, error) {
		b := make([]byte, 4096)
		rand.New(rand.NewSource(int64(req.From))).Read(b)
		return b, nil
	}},
	{"response above the byte limit", func(t *testing.T, c *testChain, s *Server, ctx context.Context, req *Request) ([]byte, error) {
		return make([]byte, req.MaxBytes+1), nil
	}},
	{"error answer", func(t *testing.T, c *testChain, s *Server, ctx context.Context, req *Request) ([]byte, error) {
		return nil, errors.New("peer answered: no")
	}},
	{"silence", func(t *testing.T, c *testChain, s *Server, ctx context.Context, req *Request) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}},
}

// TestByzantinePeerIsBypassed syncs from one Byzantine peer and two honest
// ones. The Byzantine peer is asked first; its first answer gets it left
// out for the (hour-long) cool-down, its range is fetched from an honest
// peer, and the result is exactly the honest chain.
func TestByzantinePeerIsBypassed(t *testing.T) {
	c := getShared(t)
	for _, tc := range byzantineCases {
		t.Run(tc.name, func(t *testing.T) {
			net := honestNet(t, c, 1, 2)
			honest, _ := NewServer(c.store, ServerConfig{CheckpointInterval: testCkptEvery})
			net.set(0, func(ctx context.Context, raw []byte) ([]byte, error) {
				req, err := DecodeRequest(raw)
				if err != nil {
					t.Error(err)
					return nil, err
				}
				return tc.serve(t, c, honest, ctx, req)
			})
			lim := testLimits()
			lim.RequestTimeout = 300 * time.Millisecond
			f := newFetcher(t, c, net, []int{0, 1, 2}, 0, sharedHeight, lim)
			items := collect(t, f)
			checkItems(t, c, items, 1, sharedHeight)
			for _, it := range items {
				if it.Peer == 0 {
					t.Fatalf("block %d delivered from the Byzantine peer", it.Block.Header.Height)
				}
			}
			if st := f.Status(); st.Faults != 1 || net.callsTo(0) != 1 {
				t.Fatalf("faults %d, calls to the Byzantine peer %d; want 1, 1", st.Faults, net.callsTo(0))
			}
		})
	}
}

// TestBehindPeerIsNotBlamed: a peer below the wanted heights answers with
// its height and no blocks; it is asked again later, never counted faulty.
func TestBehindPeerIsNotBlamed(t *testing.T) {
	c := getShared(t)
	net := honestNet(t, c, 1)
	net.set(0, func(ctx context.Context, raw []byte) ([]byte, error) {
		return encodeResponse(t, &Response{Version: ProtocolVersion, Height: 0}), nil
	})
	f := newFetcher(t, c, net, []int{0, 1}, 0, 300, testLimits())
	items := collect(t, f)
	checkItems(t, c, items, 1, 300)
	if st := f.Status(); st.Faults != 0 || net.callsTo(0) < 1 {
		t.Fatalf("faults %d, calls to the behind peer %d", st.Faults, net.callsTo(0))
	}
}

// TestDivergedStateIsCaught: checkpoint proofs that a quorum signed over a
// different appHash verify and are handed over, and CheckAppHash stops the
// node at the first checkpoint height after executing it.
func TestDivergedStateIsCaught(t *testing.T) {
	c := getShared(t)
	net := newFakeNet()
	honest, _ := NewServer(c.store, ServerConfig{CheckpointInterval: testCkptEvery})
	net.set(0, mutateByz(t, c, honest, func(t *testing.T, c *testChain, r *Response) {
		for i, enc := range r.Checkpoints {
			p, err := NewVerifier(testChainID, c.vs, 0).DecodeCheckpoint(enc)
			if err != nil {
				t.Fatal(err)
			}
			r.Checkpoints[i] = encodeProof(t, checkpointProof(t, c.keys, p.Height, p.BlockHash, chain.Hash{0xd1}, 1, 2, 3))
		}
	}))
	items := collect(t, newFetcher(t, c, net, []int{0}, 0, 120, testLimits()))
	checkItems(t, c, items, 1, 120)
	store, exec := newNode(t, t.TempDir())
	defer store.Close()
	for _, it := range items {
		res, err := exec.ApplyBlock(it.Block, it.Certificate)
		if err != nil {
			t.Fatal(err)
		}
		if it.Checkpoint == nil {
			continue
		}
		err = CheckAppHash(it.Checkpoint, res.Height, res.AppHash)
		if !errors.Is(err, ErrAppHashMismatch) || res.Height != 50 {
			t.Fatalf("height %d: %v", res.Height, err)
		}
		return
	}
	t.Fatal("no checkpoint delivered")
}

func mutateByz(t *testing.T, c *testChain, s *Server, fn func(t *testing.T, c *testChain, r *Response)) func(context.Context, []byte) ([]byte, error) {
	serve := mutateBlocks(fn)
	return func(ctx context.Context, raw []byte) ([]byte, error) {
		req, err := DecodeRequest(raw)
		if err != nil {
			return nil, err
		}
		return serve(t, c, s, ctx, req)
	}
}
