package mempool

import (
	"fmt"
	"time"

	"github.com/bafomet/bafomet/chain"
)

// Update tells the mempool that block committed at height and that State
// now reflects it. It removes the block's transactions, drops held
// transactions whose nonce a committed transaction used (DropNonceOvertaken),
// lets reservations older than Config.ReserveHeights lapse, drops
// transactions older than Config.TTL (DropTTL), and re-checks held
// transactions with the application against the new state, dropping those
// that fail (DropRecheck). Which are re-checked depends on the State's
// RecheckScope (see Rechecker): every one, those of the block's senders, or
// none. A queued transaction whose gap the block filled becomes ready. Its
// cost is proportional to the block, plus the re-checks.
//
// The driver calls Update once per committed block, in height order; calls
// are serialised.
func (m *Mempool) Update(height uint64, block *chain.Block) {
	m.updateMu.Lock()
	defer m.updateMu.Unlock()

	hashes := block.TxHashes()
	nexts := m.committedNonces(block, hashes)

	m.gate.Lock()
	m.mu.Lock()
	m.height = height
	for _, h := range hashes {
		if e := m.txs[h]; e != nil {
			m.removeLocked(e)
		}
		m.dropped.remove(h)
	}
	for sender, next := range nexts {
		m.advanceBaseLocked(sender, next, height)
	}
	m.lapseLocked()
	m.expireLocked(m.cfg.Now())
	checks := m.recheckListLocked(nexts)
	m.mu.Unlock()
	m.gate.Unlock()

	m.recheck(height, checks)
}

// Rechecker is an optional interface of State that narrows Update's
// re-check (the node forwards its application's chain.RecheckScope). A
// State without it is re-checked in full.
type Rechecker interface {
	RecheckScope() chain.RecheckScope
}

func (m *Mempool) recheckScope() chain.RecheckScope {
	if r, ok := m.state.(Rechecker); ok {
		return r.RecheckScope()
	}
	return chain.RecheckAll
}

// committedNonces returns, for every sender in block, its next nonce in
// committed state. When State cannot be read it falls back to one past the
// highest nonce the sender committed in the block.
func (m *Mempool) committedNonces(block *chain.Block, hashes []chain.Hash) map[chain.Address]uint64 {
	senders := m.blockSenders(block, hashes)
	nexts := make(map[chain.Address]uint64, len(senders))
	var bounds map[chain.Address]uint64
	for _, sender := range senders {
		if _, done := nexts[sender]; done {
			continue
		}
		next, err := m.state.NextNonce(sender)
		if err != nil {
			if bounds == nil {
				bounds = m.blockNonceBounds(block, senders)
			}
			m.log.Error("read committed nonce; using the block's", "sender", sender, "err", err)
			next = bounds[sender]
		}
		nexts[sender] = next
	}
	return nexts
}

// blockSenders returns the sender of each of the block's transactions, in
// order: the certified senders the block carries, or recovered ones for a
// block without senders (the zero address for one that has none).
func (m *Mempool) blockSenders(block *chain.Block, hashes []chain.Hash) []chain.Address {
	if len(block.Senders) == len(block.Txs) {
		return block.Senders
	}
	out := make([]chain.Address, 0, len(block.Txs))
	for i, raw := range block.Txs {
		if s, ok := m.knownSender(hashes[i]); ok {
			out = append(out, s)
			continue
		}
		tx, err := chain.DecodeTxHashed(raw, 0, hashes[i])
		if err != nil {
			m.log.Warn("committed block holds an undecodable transaction", "index", i, "err", err)
			continue
		}
		// Not cached: a cache entry vouches that the transaction passed
		// the mempool's checks (size, chain id), which this one skipped.
		s, err := m.recoverUncached(tx)
		if err != nil {
			m.log.Warn("committed transaction has no recoverable sender", "index", i, "err", err)
			continue
		}
		out = append(out, s)
	}
	return out
}

// blockNonceBounds returns one past the highest nonce each sender used in
// block (senders[i] is the sender of transaction i), the fallback when
// State cannot be read.
func (m *Mempool) blockNonceBounds(block *chain.Block, senders []chain.Address) map[chain.Address]uint64 {
	bounds := make(map[chain.Address]uint64)
	for i, raw := range block.Txs {
		if i >= len(senders) {
			break
		}
		tx, err := chain.DecodeTx(raw, 0)
		if err != nil {
			continue
		}
		bounds[senders[i]] = max(bounds[senders[i]], tx.Nonce+1)
	}
	return bounds
}

// advanceBaseLocked records sender's new committed nonce and drops the
// transactions it overtook.
func (m *Mempool) advanceBaseLocked(sender chain.Address, next, height uint64) {
	acc := m.accounts[sender]
	if acc == nil || next <= acc.base {
		return
	}
	m.ready -= acc.readyCount()
	acc.base = next
	for n, e := range acc.byNonce {
		if n < next {
			m.detachLocked(e, acc)
			m.recordDropLocked(e, DropNonceOvertaken,
				fmt.Sprintf("nonce %d used by a transaction committed at height %d", n, height))
		}
	}
	m.settleLocked(sender, acc)
}

// lapseLocked releases reservations made ReserveHeights or more heights
// ago: every block they could have been proposed for is decided.
func (m *Mempool) lapseLocked() {
	if m.reservedCount == 0 {
		return
	}
	for _, e := range m.txs {
		if e.reserved && m.height >= e.reservedAt+m.cfg.ReserveHeights {
			m.unreserveLocked(e)
		}
	}
}

// Expire drops every transaction held for Config.TTL or longer and returns
// how many it dropped. Update and a full Add also do this; the node may
// call Expire on a timer so that an idle chain expires too.
func (m *Mempool) Expire() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.expireLocked(m.cfg.Now())
}

func (m *Mempool) expireLocked(now time.Time) int {
	n := 0
	for el := m.age.Front(); el != nil; el = m.age.Front() {
		e := el.Value.(*entry)
		held := now.Sub(e.added)
		if held < m.cfg.TTL {
			break
		}
		m.dropLocked(e, DropTTL, fmt.Sprintf("held %s, ttl %s", held, m.cfg.TTL))
		n++
	}
	return n
}

type recheckItem struct {
	e   *entry
	ctx chain.TxContext
}

// recheckListLocked lists the held transactions to re-check after a block
// whose senders are the keys of touched.
func (m *Mempool) recheckListLocked(touched map[chain.Address]uint64) []recheckItem {
	item := func(e *entry) recheckItem {
		return recheckItem{e: e, ctx: chain.TxContext{Height: m.height + 1, Hash: e.hash, Sender: e.sender, Nonce: e.nonce()}}
	}
	switch m.recheckScope() {
	case chain.RecheckNone:
		return nil
	case chain.RecheckSenders:
		var items []recheckItem
		for sender := range touched {
			if acc := m.accounts[sender]; acc != nil {
				for _, e := range sortedEntries(acc) {
					items = append(items, item(e))
				}
			}
		}
		return items
	}
	items := make([]recheckItem, 0, len(m.txs))
	for el := m.age.Front(); el != nil; el = el.Next() {
		items = append(items, item(el.Value.(*entry)))
	}
	return items
}

// recheck runs CheckTx for items without holding the lock, then drops the
// failures that are still held, unless a later Update already moved on.
func (m *Mempool) recheck(height uint64, items []recheckItem) {
	type failure struct {
		e   *entry
		err error
	}
	var failed []failure
	for _, it := range items {
		if err := m.state.CheckTx(it.ctx, it.e.tx.Payload); err != nil {
			failed = append(failed, failure{it.e, err})
		}
	}
	if len(failed) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.height != height {
		return
	}
	for _, f := range failed {
		if m.txs[f.e.hash] == f.e {
			m.dropLocked(f.e, DropRecheck, fmt.Sprintf("application re-check after height %d: %v", height, f.err))
		}
	}
}
