package mempool

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/bafomet/bafomet/chain"
)

// maxEvictPerAdd bounds how many ready transactions one admission may
// evict (more than one only when the byte limit binds), so that one large
// transaction costs a bounded amount of work. Queued victims are not
// capped: a ready transaction must get in while anything is queued, and
// they are bounded by Config.MaxQueued anyway.
const maxEvictPerAdd = 64

// evictPlan is the set of held transactions an admission would evict,
// built without changing the pool: per account, how many of its queued
// and of its ready transactions are already chosen.
type evictPlan struct {
	victims []*entry
	bytes   int
	bounded int                   // victims[:bounded] make room under Config.MaxQueued, the rest in the pool
	queued  int                   // victims that are queued
	perQ    map[*account]int      // queued victims per account
	perR    map[*account]int      // ready victims per account
	sorted  map[*account][]*entry // an account's evictable queued entries, newest nonce first
}

// init makes p's maps.
func (p *evictPlan) init() {
	if p.perQ == nil {
		p.perQ, p.perR, p.sorted = map[*account]int{}, map[*account]int{}, map[*account][]*entry{}
	}
}

func (p *evictPlan) add(e *entry, acc *account, queued bool) {
	p.victims = append(p.victims, e)
	p.bytes += e.size
	if queued {
		p.queued++
		p.perQ[acc]++
	} else {
		p.perR[acc]++
	}
}

// queuedOf returns how many of acc's transactions are queued and not yet
// chosen.
func (p *evictPlan) queuedOf(acc *account) int {
	if acc == nil {
		return 0
	}
	return len(acc.byNonce) - acc.readyCount() - p.perQ[acc]
}

// heldOf returns how many of acc's transactions are held and not yet
// chosen.
func (p *evictPlan) heldOf(acc *account) int {
	if acc == nil {
		return 0
	}
	return len(acc.byNonce) - p.perQ[acc] - p.perR[acc]
}

// roomLocked decides whether a transaction of size bytes from sender,
// whose account is acc (nil when it holds nothing), may be admitted, and
// returns the plan of held transactions that must be evicted to make room
// for it (nil when none need be). ready tells whether it would be ready on
// admission. It changes nothing.
//
// The rules, in order:
//
//   - A queued transaction needs a queued slot (Config.MaxQueued). When
//     none is free it may take one from the sender holding the most
//     queued transactions, if that sender would still hold more than this
//     sender after the admission; otherwise it is refused (ErrFull).
//   - When the pool is full (Config.MaxTxs or Config.MaxBytes), a ready
//     transaction evicts queued ones, from the sender holding the most
//     queued first (its own included), newest nonce first, as many as it
//     needs. When nothing is queued, it evicts
//     the newest ready transaction of the sender holding the most, if
//     that sender holds more than its fair share (Config.MaxTxsPerSender)
//     and more than this sender would after the admission; at most
//     maxEvictPerAdd of these.
//   - When the pool is full, a queued transaction evicts only queued ones,
//     under the same condition as for a queued slot.
//   - Otherwise it is refused: ErrSenderFull when the sender holds its
//     fair share or more, ErrFull when it does not.
//
// Reserved transactions (in this node's proposals) are never evicted.
func (m *Mempool) roomLocked(sender chain.Address, acc *account, ready bool, size int) (*evictPlan, error) {
	p := &evictPlan{} // its maps are made when a victim is looked for: most admissions need none
	if !ready {
		queued := len(m.txs) - m.ready
		for queued-p.queued >= m.cfg.MaxQueued {
			if !m.planQueuedLocked(p, sender, acc, true) {
				return nil, reject(ReasonFull, nil, "%d transactions queued behind nonce gaps, limit %d (max_queued)",
					queued, m.cfg.MaxQueued)
			}
		}
		p.bounded = len(p.victims)
	}
	full := func() bool {
		return len(m.txs)-len(p.victims) >= m.cfg.MaxTxs || m.bytes-p.bytes+size > m.cfg.MaxBytes
	}
	for full() {
		var ok bool
		if ready {
			ok = m.planQueuedLocked(p, sender, acc, false) ||
				(len(p.victims)-p.queued < maxEvictPerAdd && m.planReadyLocked(p, sender, acc))
		} else {
			ok = m.planQueuedLocked(p, sender, acc, true)
		}
		if ok {
			continue
		}
		if held := p.heldOf(acc); held >= m.cfg.MaxTxsPerSender {
			return nil, reject(ReasonSenderFull, nil, "pool full and sender %s holds %d, its fair share %d",
				sender, held, m.cfg.MaxTxsPerSender)
		}
		return nil, reject(ReasonFull, nil, "%d txs and %d bytes held, limits %d txs and %d bytes",
			len(m.txs), m.bytes, m.cfg.MaxTxs, m.cfg.MaxBytes)
	}
	if len(p.victims) == 0 {
		return nil, nil
	}
	return p, nil
}

// planQueuedLocked adds to p the newest evictable queued transaction of a
// sender holding the most queued ones (any one of them on a tie). With
// fair set, that sender must differ from sender and hold more queued
// transactions than sender would after admitting one more. It reports
// whether it found one. It costs the number of queued-count levels walked
// plus the accounts p already chose from, never a scan of every sender.
func (m *Mempool) planQueuedLocked(p *evictPlan, sender chain.Address, acc *account, fair bool) bool {
	p.init()
	limit := 0
	if fair {
		limit = p.queuedOf(acc) + 1
	}
	for {
		// Walk the queued-count buckets down from the highest; an account
		// already in p counts for fewer than its bucket says, so a bucket
		// is searched until an account p has not touched, and no lower
		// bucket can beat the best found.
		var best *account
		bestN := limit
		for c := m.topQueuedLocked(); c > bestN; c-- {
			for a, other := range m.queuedByCount[c] {
				if fair && a == sender {
					continue
				}
				if n := c - p.perQ[other]; n > bestN {
					best, bestN = other, n
					if n == c {
						break
					}
				}
			}
		}
		if best == nil {
			return false
		}
		if e := p.nextQueued(best); e != nil {
			p.add(e, best, true)
			return true
		}
		// Its remaining queued transactions are all reserved: count them
		// as chosen so the scan moves on, without evicting them.
		p.perQ[best] = len(best.byNonce) - best.readyCount()
	}
}

// nextQueued returns acc's newest queued transaction not yet chosen and
// not reserved, or nil.
func (p *evictPlan) nextQueued(acc *account) *entry {
	list, ok := p.sorted[acc]
	if !ok {
		// Walk up from the gap until every queued entry is found: about
		// MaxNonceGap steps unless ready transactions were dropped under
		// queued ones, never a scan of the account's ready transactions.
		for n, left := acc.pending+1, len(acc.byNonce)-acc.readyCount(); left > 0; n++ {
			if e := acc.byNonce[n]; e != nil {
				left--
				if !e.reserved {
					list = append(list, e)
				}
			}
		}
		slices.Reverse(list)
		p.sorted[acc] = list
	}
	if i := p.perQ[acc]; i < len(list) {
		return list[i]
	}
	return nil
}

// planReadyLocked adds to p the newest ready transaction of the sender
// holding the most, if that sender is not sender, holds more than its fair
// share and more than sender would after admitting one more, and that
// transaction is not reserved. It reports whether it found one.
func (m *Mempool) planReadyLocked(p *evictPlan, sender chain.Address, acc *account) bool {
	p.init()
	limit := max(m.cfg.MaxTxsPerSender, p.heldOf(acc)+1)
	var best *account
	var bestAddr chain.Address
	bestN := limit
	for a, other := range m.heavySenders {
		if a == sender {
			continue
		}
		n := p.heldOf(other)
		if n <= limit || other.readyCount()-p.perR[other] == 0 {
			continue
		}
		top := other.byNonce[other.pending-1-uint64(p.perR[other])]
		if top.reserved {
			continue // its ready transactions are reserved from the oldest up: all of them are
		}
		if n > bestN || (n == bestN && best != nil && bytes.Compare(a[:], bestAddr[:]) < 0) {
			best, bestAddr, bestN = other, a, n
		}
	}
	if best == nil {
		return false
	}
	p.add(best.byNonce[best.pending-1-uint64(p.perR[best])], best, false)
	return true
}

// topQueuedLocked returns the highest queued count of any account (0 when
// nothing is queued), forgetting emptied buckets above it.
func (m *Mempool) topQueuedLocked() int {
	for m.maxQueuedCount > 0 && len(m.queuedByCount[m.maxQueuedCount]) == 0 {
		delete(m.queuedByCount, m.maxQueuedCount)
		m.maxQueuedCount--
	}
	return m.maxQueuedCount
}

// evictLocked drops the victims of plan p (nil: none) with DropEvicted,
// each with the reason that chose it.
func (m *Mempool) evictLocked(p *evictPlan, sender chain.Address) {
	if p == nil {
		return
	}
	for i, e := range p.victims {
		acc := m.accounts[e.sender]
		limit := "pool full"
		if i < p.bounded {
			limit = fmt.Sprintf("queued transactions at max_queued %d", m.cfg.MaxQueued)
		}
		kind := "ready"
		if e.nonce() > acc.pending {
			kind = fmt.Sprintf("queued behind the gap at nonce %d", acc.pending)
		}
		m.dropLocked(e, DropEvicted, fmt.Sprintf("%s: %s, its sender held %d (%d queued, fair share %d); room made for a transaction of %s",
			limit, kind, len(acc.byNonce), len(acc.byNonce)-acc.readyCount(), m.cfg.MaxTxsPerSender, sender))
	}
}
