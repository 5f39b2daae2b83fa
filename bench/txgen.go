package bench

import (
	"crypto/ecdsa"
	"fmt"
	"runtime"
	"strconv"
	"sync"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/chain"
)

// signedTx is one pre-signed transaction.
type signedTx struct {
	raw  []byte // wire form
	hash chain.Hash
}

// sender is one generated account with its pre-signed transactions, nonces
// 0, 1, 2, … in order.
type sender struct {
	index  int
	target int // index in Config.Targets this sender submits to
	addr   chain.Address
	txs    []signedTx
	slots  chan struct{} // one element per transaction in flight, capacity Window
}

// kvPayload returns the payload "s<sender>n<nonce>=xxx…" of exactly size
// bytes; keys are unique across a run. With keys > 0 the key is instead
// "k<i>", i = (nonce × senders + sender) mod keys, so the run writes at
// most keys distinct keys. size must be at least the key length plus one.
func kvPayload(senderIdx, senders, keys int, nonce uint64, size int) []byte {
	p := make([]byte, 0, size)
	if keys > 0 {
		p = append(p, 'k')
		p = strconv.AppendUint(p, (nonce*uint64(senders)+uint64(senderIdx))%uint64(keys), 10)
	} else {
		p = append(p, 's')
		p = strconv.AppendInt(p, int64(senderIdx), 10)
		p = append(p, 'n')
		p = strconv.AppendUint(p, nonce, 10)
	}
	p = append(p, '=')
	for len(p) < size {
		p = append(p, 'x')
	}
	return p
}

// perSender splits total transactions across n senders: the first
// total mod n senders get one more.
func perSender(total, n, i int) int {
	c := total / n
	if i < total%n {
		c++
	}
	return c
}

// makeSenders generates cfg.Senders keys, assigns sender i to target
// i mod len(Targets), and pre-signs cfg.PoolSize() transactions across them
// in parallel on every core.
func makeSenders(cfg Config, chainID string) ([]*sender, error) {
	total := cfg.PoolSize()
	senders := make([]*sender, cfg.Senders)
	keys := make([]*ecdsa.PrivateKey, cfg.Senders)
	for i := range senders {
		k, err := crypto.GenerateKey()
		if err != nil {
			return nil, fmt.Errorf("generate sender key: %w", err)
		}
		keys[i] = k
		senders[i] = &sender{index: i, target: i % len(cfg.Targets), addr: crypto.PubkeyToAddress(k.PublicKey),
			slots: make(chan struct{}, cfg.Window)}
	}
	work := make(chan int)
	errs := make(chan error, cfg.Senders)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				txs, err := signAll(keys[i], chainID, i, perSender(total, cfg.Senders, i), cfg)
				if err != nil {
					errs <- err
					continue
				}
				senders[i].txs = txs
			}
		}()
	}
	for i := range senders {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return senders, nil
}

// signAll signs count kv transactions of key with nonces 0 … count-1.
func signAll(key *ecdsa.PrivateKey, chainID string, senderIdx, count int, cfg Config) ([]signedTx, error) {
	txs := make([]signedTx, count)
	for n := range txs {
		tx, err := chain.SignTx(key, chainID, uint64(n), kvPayload(senderIdx, cfg.Senders, cfg.Keys, uint64(n), cfg.PayloadBytes))
		if err != nil {
			return nil, fmt.Errorf("sign transaction %d of sender %d: %w", n, senderIdx, err)
		}
		txs[n] = signedTx{raw: tx.Bytes(), hash: tx.Hash()}
	}
	return txs, nil
}

// release frees one of s's window slots. It never blocks: the tracker
// calls it under its lock, and a transaction resent after its commit (a
// request that timed out but had been accepted) may find its slot already
// freed.
func (s *sender) release() {
	select {
	case <-s.slots:
	default:
	}
}
