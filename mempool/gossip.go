package mempool

// TakeGossip hands out up to max transactions (wire form) admitted since
// they were last handed out, oldest first. Each admitted transaction is
// handed out at most once, and never after it left the mempool; a
// transaction that Add refused as already known is not queued again. The
// p2p layer polls it and broadcasts what it gets.
func (m *Mempool) TakeGossip(max int) [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := min(max, m.gossip.Len())
	if n <= 0 {
		return nil
	}
	out := make([][]byte, 0, n)
	for len(out) < n {
		e := m.gossip.Remove(m.gossip.Front()).(*entry)
		e.gossipElem = nil
		out = append(out, e.tx.Bytes())
	}
	return out
}

// GossipBacklog returns how many admitted transactions wait to be handed
// out by TakeGossip.
func (m *Mempool) GossipBacklog() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gossip.Len()
}
