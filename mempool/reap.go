package mempool

import (
	"slices"

	"github.com/bafomet/bafomet/chain"
)

// Batch is a set of transactions for one block, in block order.
type Batch struct {
	Txs     [][]byte        // wire forms, for chain.Block.Txs
	Senders []chain.Address // one per transaction, for chain.Block.Senders
	Hashes  []chain.Hash    // one per transaction
	Bytes   int             // total wire size
}

// Len returns the number of transactions in the batch.
func (b Batch) Len() int { return len(b.Txs) }

// Reap returns at most maxTxs ready transactions of at most maxBytes wire
// bytes in total for the primary's next block, and reserves them: they stay
// in the mempool but are not reaped again until they commit (Update
// removes them), are released (Release, ReleaseProposed), or their
// reservation lapses after Config.ReserveHeights committed heights.
//
// Fairness rule: senders take turns. Senders are ordered by the admission
// time of their first reapable transaction, oldest first, and each round
// takes one transaction from every sender in that order, each sender's in
// nonce order, until a limit is reached. A sender whose next transaction
// does not fit the remaining bytes gives up its later turns. A sender's
// reapable transactions are its ready ones after those already reserved,
// so a pipelined next block continues where the previous one stopped.
// Non-positive limits reap nothing.
func (m *Mempool) Reap(maxTxs, maxBytes int) Batch {
	var b Batch
	if maxTxs <= 0 || maxBytes <= 0 {
		return b
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	queues := m.reapableLocked(maxTxs)
	for round := 0; len(queues) > 0 && len(b.Txs) < maxTxs; round++ {
		kept := queues[:0]
		for _, q := range queues {
			if len(b.Txs) == maxTxs {
				break
			}
			e := q[round]
			if b.Bytes+e.size > maxBytes {
				continue // this sender cannot continue without breaking nonce order
			}
			m.reserveLocked(e)
			b.Txs = append(b.Txs, e.tx.Bytes())
			b.Senders = append(b.Senders, e.sender)
			b.Hashes = append(b.Hashes, e.hash)
			b.Bytes += e.size
			if round+1 < len(q) {
				kept = append(kept, q)
			}
		}
		queues = kept
	}
	return b
}

// reapableLocked returns, per sender with anything to reap, up to maxTxs
// reapable entries in nonce order; senders are sorted oldest first.
func (m *Mempool) reapableLocked(maxTxs int) [][]*entry {
	var queues [][]*entry
	for _, acc := range m.accounts {
		var q []*entry
		n := acc.base
		for ; n < acc.pending && acc.byNonce[n].reserved; n++ {
		}
		for ; n < acc.pending && len(q) < maxTxs; n++ {
			e := acc.byNonce[n]
			if e.reserved {
				break // a later proposal already carries it; nothing after may go first
			}
			q = append(q, e)
		}
		if len(q) > 0 {
			queues = append(queues, q)
		}
	}
	slices.SortFunc(queues, func(a, b []*entry) int {
		if a[0].seq < b[0].seq {
			return -1
		}
		return 1
	})
	return queues
}

func (m *Mempool) reserveLocked(e *entry) {
	e.reserved = true
	e.reservedAt = m.height
	m.reservedCount++
}

func (m *Mempool) unreserveLocked(e *entry) {
	if e.reserved {
		e.reserved = false
		m.reservedCount--
	}
}

// Release makes the listed transactions reapable again, for a proposal of
// this node that will not commit. Release a voided block together with
// every proposal built on it. Unknown hashes are ignored.
func (m *Mempool) Release(hashes []chain.Hash) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, h := range hashes {
		if e := m.txs[h]; e != nil {
			m.unreserveLocked(e)
		}
	}
}

// ReleaseProposed makes every reserved transaction reapable again. The
// driver calls it on a view change, when none of its in-flight proposals
// can commit any more.
func (m *Mempool) ReleaseProposed() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.txs {
		m.unreserveLocked(e)
	}
}

// sortedEntries returns acc's entries in nonce order.
func sortedEntries(acc *account) []*entry {
	out := make([]*entry, 0, len(acc.byNonce))
	for _, e := range acc.byNonce {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *entry) int {
		if a.nonce() < b.nonce() {
			return -1
		}
		return 1
	})
	return out
}
