package mempool

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/bafomet/bafomet/chain"
	"github.com/ethereum/go-ethereum/crypto"
)

// VerifySender checks the transaction raw as a proposal checker must (size,
// form, chain id, signature) and returns its sender. A transaction the
// mempool holds or has verified before costs neither decoding nor signature
// recovery: it passed the same checks when it was admitted or verified (its
// hash names the same bytes), and its sender comes from the pool or the
// signature cache. A new sender is recovered and cached. Nonces and the
// application check are not examined. Errors are *RejectError values, as
// from Add.
func (m *Mempool) VerifySender(raw []byte) (chain.Address, error) {
	return m.verifySender(raw, crypto.Keccak256Hash(raw))
}

// verifySender is VerifySender for raw whose Keccak256 is hash. raw must
// not change afterwards (it is cached by hash, not copied).
func (m *Mempool) verifySender(raw []byte, hash chain.Hash) (chain.Address, error) {
	if len(raw) > m.cfg.MaxTxBytes {
		return chain.Address{}, reject(ReasonTooLarge, nil, "%d bytes, limit %d", len(raw), m.cfg.MaxTxBytes)
	}
	if s, ok := m.knownSender(hash); ok {
		return s, nil
	}
	tx, err := m.decode(raw, hash)
	if err != nil {
		return chain.Address{}, err
	}
	return m.recoverSender(tx, hash)
}

// VerifyBatch runs VerifySender on every transaction of a proposed block,
// across GOMAXPROCS workers, and returns the senders in order. It uses the
// block's memoized transaction hashes. On failure it returns the error of
// the lowest failing index, so the result does not depend on scheduling.
func (m *Mempool) VerifyBatch(b *chain.Block) ([]chain.Address, error) {
	raws, hashes := b.Txs, b.TxHashes()
	senders := make([]chain.Address, len(raws))
	errs := make([]error, len(raws))
	workers := min(runtime.GOMAXPROCS(0), len(raws))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(raws) {
					return
				}
				senders[i], errs[i] = m.verifySender(raws[i], hashes[i])
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("transaction %d: %w", i, err)
		}
	}
	return senders, nil
}
