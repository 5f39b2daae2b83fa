package blocksync

import (
	"context"
	"testing"
	"time"

	"github.com/bafomet/bafomet/chain"
)

// memSource serves blocks held in memory.
type memSource struct {
	blocks []*chain.Block
	certs  []*chain.Certificate
}

func (s *memSource) Height() (uint64, error) { return uint64(len(s.blocks)), nil }
func (s *memSource) Block(h uint64) (*chain.Block, error) {
	if h == 0 || h > uint64(len(s.blocks)) {
		return nil, chain.ErrNotFound
	}
	return s.blocks[h-1], nil
}
func (s *memSource) Certificate(h uint64) (*chain.Certificate, error) {
	if h == 0 || h > uint64(len(s.certs)) {
		return nil, chain.ErrNotFound
	}
	return s.certs[h-1], nil
}
func (s *memSource) Checkpoint(uint64) ([]byte, error) { return nil, chain.ErrNotFound }

// memChain builds n certified blocks of txs transactions each, in memory.
// The transactions are the same signed ones in every block: sync does not
// look at their signatures.
func memChain(b *testing.B, n, txs int) (*memSource, *chain.ValidatorSet) {
	vs, keys := testValidators(b)
	raw, senders := makeTxs(b, testKey(b, "bench sender"), 0, 1, txs)
	src := &memSource{}
	parent := genesisHash
	for h := uint64(1); h <= uint64(n); h++ {
		blk := &chain.Block{Header: chain.Header{
			Height: h, ParentHash: parent, Timestamp: h, TxRoot: chain.TxRoot(raw, senders), ValidatorsHash: vs.Hash(),
		}, Txs: raw, Senders: senders}
		src.blocks = append(src.blocks, blk)
		src.certs = append(src.certs, certify(b, keys, blk, 0, 0, 1, 2))
		parent = blk.Hash()
	}
	return src, vs
}

// BenchmarkSyncVerifyDeliver measures the fetcher end to end without
// execution or network: three in-process peers serve 512 blocks of 100
// transactions; every certificate, transactions root and parent link is
// verified and every block delivered.
func BenchmarkSyncVerifyDeliver(b *testing.B) {
	const blocks, txs = 512, 100
	src, vs := memChain(b, blocks, txs)
	srv, err := NewServer(src, ServerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	net := newFakeNet()
	for p := range 3 {
		net.serve(p, srv)
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		f, err := NewFetcher(Config{
			ChainID: testChainID, Validators: vs, Requester: net, Peers: []int{0, 1, 2},
			StartHash: genesisHash, Target: blocks, Log: quietLog,
		})
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- f.Run(context.Background()) }()
		n := 0
		for range f.Blocks() {
			n++
		}
		if err := <-done; err != nil || n != blocks {
			b.Fatalf("%d blocks, %v", n, err)
		}
	}
	secs := time.Since(start).Seconds()
	b.ReportMetric(float64(blocks*b.N)/secs, "blocks/s")
	b.ReportMetric(float64(blocks*txs*b.N)/secs, "txs/s")
}

// BenchmarkVerifyRange measures certificate and block verification alone
// for a 64-block range of 100-transaction blocks.
func BenchmarkVerifyRange(b *testing.B) {
	const blocks = 64
	src, vs := memChain(b, blocks, 100)
	rng := make([]CertifiedBlock, blocks)
	for i := range rng {
		rng[i] = CertifiedBlock{Block: *src.blocks[i], Certificate: *src.certs[i]}
	}
	v := NewVerifier(testChainID, vs, 0)
	for _, par := range []int{1, 2} {
		b.Run(map[int]string{1: "serial", 2: "parallel2"}[par], func(b *testing.B) {
			start := time.Now()
			for range b.N {
				if _, err := v.VerifyRange(rng, 1, par); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(blocks*b.N)/time.Since(start).Seconds(), "blocks/s")
		})
	}
}
