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
// form, chain id, signature) and returns its sender and decoded form. A
// transaction the mempool holds or has verified before costs no signature
// recovery: its sender comes from the pool or the signature cache. A new
// sender is recovered and cached. Nonces and the application check are not
// examined. Errors are *RejectError values, as from Add.
func (m *Mempool) VerifySender(raw []byte) (chain.Address, *chain.Tx, error) {
	if len(raw) > m.cfg.MaxTxBytes {
		return chain.Address{}, nil, reject(ReasonTooLarge, nil, "%d bytes, limit %d", len(raw), m.cfg.MaxTxBytes)
	}
	tx, err := m.decode(raw)
	if err != nil {
		return chain.Address{}, nil, err
	}
	sender, err := m.senderOf(tx, crypto.Keccak256Hash(raw), true)
	if err != nil {
		return chain.Address{}, nil, err
	}
	return sender, tx, nil
}

// VerifyBatch runs VerifySender on every transaction of a proposal, across
// GOMAXPROCS workers, and returns the senders in order. On failure it
// returns the error of the lowest failing index, so the result does not
// depend on scheduling.
func (m *Mempool) VerifyBatch(raws [][]byte) ([]chain.Address, error) {
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
				senders[i], _, errs[i] = m.VerifySender(raws[i])
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
