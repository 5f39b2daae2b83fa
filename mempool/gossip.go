package mempool

import "time"

// TakeGossip hands out up to max ready transactions (wire form) not handed
// out before, in the order they became ready. A transaction is queued for
// gossip when it becomes ready: on admission, or when the nonces it waited
// for arrive or commit; one queued behind a nonce gap is never handed out,
// so one node's queued transactions cannot fill its peers' pools. Each
// admitted transaction is handed out at most once, and never after it left
// the mempool; a transaction that Add refused as already known is not
// queued again. The p2p layer polls it and broadcasts what it gets.
func (m *Mempool) TakeGossip(max int) [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if max <= 0 {
		return nil
	}
	var out [][]byte
	for len(out) < max && m.gossip.Len() > 0 {
		e := m.gossip.Remove(m.gossip.Front()).(*entry)
		e.gossipElem = nil
		if e.nonce() >= m.accounts[e.sender].pending {
			// Queued again since (a lower nonce was dropped): it is
			// queued for gossip anew when it becomes ready.
			continue
		}
		e.gossiped = true
		out = append(out, e.tx.Bytes())
	}
	return out
}

// GossipBacklog returns how many transactions wait to be handed out by
// TakeGossip: those that became ready, including any that have since been
// queued again, which TakeGossip skips.
func (m *Mempool) GossipBacklog() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gossip.Len()
}

// staleScanFactor bounds how many entries one TakeStale call looks at, as
// a multiple of max, so a pool full of recently re-sent transactions costs
// a bounded scan.
const staleScanFactor = 8

// TakeStale hands out again up to max transactions that have waited at
// least age since they were admitted or last handed out by TakeStale,
// oldest first, skipping those in a proposal of this node, those
// TakeGossip has not handed out yet, and those queued behind a nonce gap
// (a ready transaction becomes queued again when a lower nonce is
// dropped). Gossip is best effort: a peer may
// have dropped a frame under load, or refused a transaction it could not
// take then (its pool was full, the nonce ran ahead of what it had); a
// transaction only this node holds would otherwise wait until this node
// proposes. Sending waiting transactions again is what gets them to the
// proposer.
func (m *Mempool) TakeStale(age time.Duration, max int) [][]byte {
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out [][]byte
	scanned := 0
	for el := m.age.Front(); el != nil && len(out) < max && scanned < staleScanFactor*max; el = el.Next() {
		e := el.Value.(*entry)
		if now.Sub(e.added) < age {
			break // the age list is in admission order: the rest are younger
		}
		scanned++
		if e.reserved || !e.gossiped || e.nonce() >= m.accounts[e.sender].pending || now.Sub(e.resent) < age {
			continue
		}
		e.resent = now
		out = append(out, e.tx.Bytes())
	}
	return out
}
