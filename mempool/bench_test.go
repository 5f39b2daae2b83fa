package mempool

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bafomet/bafomet/chain"
	"github.com/ethereum/go-ethereum/crypto"
)

const (
	benchSenders   = 500
	benchPerSender = 32
	benchCorpus    = benchSenders * benchPerSender
)

var (
	benchOnce sync.Once
	benchTxs  [][]byte // index i: sender i%benchSenders, nonce i/benchSenders
)

func benchCorpusTxs(b *testing.B) [][]byte {
	benchOnce.Do(func() {
		benchTxs = make([][]byte, benchCorpus)
		for s := range benchSenders {
			k, err := crypto.GenerateKey()
			if err != nil {
				b.Fatal(err)
			}
			for n := range benchPerSender {
				tx, err := chain.SignTx(k, testChain, uint64(n), []byte("k=v"))
				if err != nil {
					b.Fatal(err)
				}
				benchTxs[n*benchSenders+s] = tx.Bytes()
			}
		}
	})
	return benchTxs
}

func benchPool() *Mempool {
	return New(Config{MaxTxs: benchCorpus, MaxTxsPerSender: benchPerSender}, testChain, newFakeState())
}

// BenchmarkAdd measures admissions per second on one goroutine, each with
// a signature recovery (every transaction is new to the pool and cache).
func BenchmarkAdd(b *testing.B) {
	txs := benchCorpusTxs(b)
	var m *Mempool
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%benchCorpus == 0 {
			b.StopTimer()
			m = benchPool()
			b.StartTimer()
		}
		if _, err := m.Add(txs[i%benchCorpus]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
}

// BenchmarkAddParallel measures admissions per second from GOMAXPROCS
// goroutines (run with -cpu 1,2,...), each with a signature recovery.
func BenchmarkAddParallel(b *testing.B) {
	txs := benchCorpusTxs(b)
	var (
		mu    sync.Mutex
		pools = map[int]*Mempool{}
		next  atomic.Int64
	)
	pool := func(epoch int) *Mempool {
		mu.Lock()
		defer mu.Unlock()
		if pools[epoch] == nil {
			pools[epoch] = benchPool()
			delete(pools, epoch-2)
		}
		return pools[epoch]
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1) - 1)
			if _, err := pool(i / benchCorpus).Add(txs[i%benchCorpus]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
}

// BenchmarkVerifyBatch measures checking a 1,000-transaction proposal whose
// transactions the pool already holds (no recovery) and one it has never
// seen (1,000 recoveries across GOMAXPROCS workers).
func BenchmarkVerifyBatch(b *testing.B) {
	txs := benchCorpusTxs(b)[:1000]
	b.Run("held", func(b *testing.B) {
		m := benchPool()
		for _, raw := range txs {
			if _, err := m.Add(raw); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		for range b.N {
			if _, err := m.VerifyBatch(&chain.Block{Txs: txs}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unseen", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			m := benchPool()
			b.StartTimer()
			if _, err := m.VerifyBatch(&chain.Block{Txs: txs}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
