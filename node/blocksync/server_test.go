package blocksync

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain"
)

func blocksReq(from, count, maxBytes uint64) []byte {
	return EncodeRequest(&Request{Version: ProtocolVersion, Kind: KindBlocks, From: from, Count: count, MaxBytes: maxBytes})
}

var wideLimits = ResponseLimits{MaxBytes: 1 << 30, MaxBlocks: 1 << 20, MaxCheckpoints: 1 << 20, MaxCheckpointBytes: 1 << 20}

func serve(t *testing.T, s *Server, req []byte) *Response {
	t.Helper()
	enc, err := s.Handle(context.Background(), 0, req)
	if err != nil {
		t.Fatal(err)
	}
	r, err := DecodeResponse(enc, wideLimits)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func heights(r *Response) []uint64 {
	var hs []uint64
	for _, b := range r.Blocks {
		hs = append(hs, b.Block.Header.Height)
	}
	return hs
}

func TestServerRanges(t *testing.T) {
	c := getShared(t)
	s, err := NewServer(c.store, ServerConfig{MaxBlocks: 100})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		from, count uint64
		wantFirst   uint64
		wantN       int
		wantCkpts   []uint64
	}{
		{"one block", 1, 1, 1, 1, nil},
		{"checkpoint heights", 41, 20, 41, 20, []uint64{50}},
		{"count at server limit", 1, 100, 1, 100, []uint64{50, 100}},
		{"count above server limit is cut", 1, 101, 1, 100, []uint64{50, 100}},
		{"cut at the tip", 590, 50, 590, 11, []uint64{600}},
		{"tip only", 600, 1, 600, 1, []uint64{600}},
		{"above the tip", 601, 10, 0, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := serve(t, s, blocksReq(tc.from, tc.count, 1<<30))
			if r.Height != sharedHeight || len(r.Blocks) != tc.wantN {
				t.Fatalf("height %d, %d blocks; want %d, %d", r.Height, len(r.Blocks), sharedHeight, tc.wantN)
			}
			for i, b := range r.Blocks {
				h := tc.wantFirst + uint64(i)
				if b.Block.Hash() != c.hashes[h-1] || b.Certificate.BlockHash != c.hashes[h-1] {
					t.Fatalf("block %d differs from the store", h)
				}
			}
			var ck []uint64
			for _, enc := range r.Checkpoints {
				p, err := NewVerifier(testChainID, c.vs, testCkptEvery).DecodeCheckpoint(enc)
				if err != nil {
					t.Fatal(err)
				}
				ck = append(ck, p.Height)
			}
			if fmt.Sprint(ck) != fmt.Sprint(tc.wantCkpts) {
				t.Fatalf("checkpoints %v, want %v", ck, tc.wantCkpts)
			}
		})
	}
}

// itemSize is the encoded size of the CertifiedBlock at h.
func itemSize(t *testing.T, c *testChain, h uint64) int {
	enc, err := rlp.EncodeToBytes(&CertifiedBlock{Block: *c.blocks[h-1], Certificate: *c.certs[h-1]})
	if err != nil {
		t.Fatal(err)
	}
	return len(enc)
}

func TestServerByteLimit(t *testing.T) {
	c := getShared(t)
	// Heights 1..3 carry no checkpoint, so three blocks need exactly this.
	three := uint64(responseOverheadBytes + itemSize(t, c, 1) + itemSize(t, c, 2) + itemSize(t, c, 3))
	tests := []struct {
		name      string
		reqBytes  uint64
		srvBytes  int
		wantN     int
		wantError error
	}{
		{"request limit fits three", three, 0, 3, nil},
		{"request limit one byte short", three - 1, 0, 2, nil},
		{"server limit fits three", 1 << 30, int(three), 3, nil},
		{"server limit one byte short", 1 << 30, int(three - 1), 2, nil},
		{"first block does not fit", uint64(responseOverheadBytes + itemSize(t, c, 1) - 1), 0, 0, ErrBlockTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewServer(c.store, ServerConfig{MaxBytes: tc.srvBytes})
			if err != nil {
				t.Fatal(err)
			}
			enc, err := s.Handle(context.Background(), 1, blocksReq(1, 10, tc.reqBytes))
			if !errors.Is(err, tc.wantError) {
				t.Fatalf("got %v, want %v", err, tc.wantError)
			}
			if err != nil {
				return
			}
			limit := min(tc.reqBytes, uint64(s.cfg.MaxBytes))
			if uint64(len(enc)) > limit {
				t.Fatalf("response of %d bytes exceeds limit %d", len(enc), limit)
			}
			r, err := DecodeResponse(enc, wideLimits)
			if err != nil || len(r.Blocks) != tc.wantN {
				t.Fatalf("%d blocks, %v; want %d", len(r.Blocks), err, tc.wantN)
			}
		})
	}
}

func TestServerByteLimitCountsCheckpoints(t *testing.T) {
	c := getShared(t)
	ckpt, err := c.store.Checkpoint(50)
	if err != nil {
		t.Fatal(err)
	}
	exact := uint64(responseOverheadBytes + itemSize(t, c, 49) + itemSize(t, c, 50) + len(ckpt) + 9)
	s, _ := NewServer(c.store, ServerConfig{})
	for _, tc := range []struct {
		limit uint64
		wantN int
	}{{exact, 2}, {exact - 1, 1}} {
		enc, err := s.Handle(context.Background(), 0, blocksReq(49, 2, tc.limit))
		if err != nil {
			t.Fatal(err)
		}
		r, _ := DecodeResponse(enc, wideLimits)
		if len(r.Blocks) != tc.wantN || uint64(len(enc)) > tc.limit {
			t.Fatalf("limit %d: %d blocks in %d bytes, want %d", tc.limit, len(r.Blocks), len(enc), tc.wantN)
		}
	}
}

func TestServerStatus(t *testing.T) {
	c := getShared(t)
	s, _ := NewServer(c.store, ServerConfig{})
	r := serve(t, s, EncodeRequest(&Request{Version: ProtocolVersion, Kind: KindStatus}))
	if r.Height != sharedHeight || r.Latest == nil || r.Latest.BlockHash != c.hashes[sharedHeight-1] || len(r.Blocks) != 0 {
		t.Fatalf("status %+v", r)
	}
	if err := r.Latest.Verify(testChainID, c.vs); err != nil {
		t.Fatal(err)
	}

	empty, _ := newNode(t, t.TempDir())
	defer empty.Close()
	s0, _ := NewServer(empty, ServerConfig{})
	r = serve(t, s0, EncodeRequest(&Request{Version: ProtocolVersion, Kind: KindStatus}))
	if r.Height != 0 || r.Latest != nil {
		t.Fatalf("status at genesis %+v", r)
	}
}

func TestServerRejectsBadRequests(t *testing.T) {
	c := getShared(t)
	s, _ := NewServer(c.store, ServerConfig{})
	for _, req := range [][]byte{nil, {0xc0}, blocksReq(0, 1, 1)} {
		if _, err := s.Handle(context.Background(), 0, req); !errors.Is(err, ErrMalformed) {
			t.Fatalf("request %x: got %v", req, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Handle(ctx, 0, blocksReq(1, 5, 1<<20)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: got %v", err)
	}
}

// countingSource counts checkpoint look-ups.
type countingSource struct {
	Source
	lookups []uint64
}

func (s *countingSource) Checkpoint(h uint64) ([]byte, error) {
	s.lookups = append(s.lookups, h)
	return s.Source.Checkpoint(h)
}

func TestServerCheckpointInterval(t *testing.T) {
	c := getShared(t)
	for _, tc := range []struct {
		interval uint64
		want     string
	}{{0, "[48 49 50 51]"}, {50, "[50]"}, {25, "[50]"}} {
		src := &countingSource{Source: c.store}
		s, _ := NewServer(src, ServerConfig{CheckpointInterval: tc.interval})
		r := serve(t, s, blocksReq(48, 4, 1<<20))
		if fmt.Sprint(src.lookups) != tc.want || len(r.Checkpoints) != 1 {
			t.Fatalf("interval %d: looked up %v, %d proofs", tc.interval, src.lookups, len(r.Checkpoints))
		}
	}
}

func TestServerConfig(t *testing.T) {
	var st *chain.Store
	if _, err := NewServer(st, ServerConfig{MaxBlocks: -1}); err == nil {
		t.Fatal("negative MaxBlocks accepted")
	}
	if _, err := NewServer(st, ServerConfig{MaxBytes: responseOverheadBytes}); err == nil {
		t.Fatal("MaxBytes with no room for a block accepted")
	}
	s, err := NewServer(st, ServerConfig{})
	if err != nil || s.cfg.MaxBlocks != DefaultServeMaxBlocks || s.cfg.MaxBytes != DefaultServeMaxBytes {
		t.Fatalf("defaults %+v, %v", s.cfg, err)
	}
}
