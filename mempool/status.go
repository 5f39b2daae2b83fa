package mempool

import (
	"container/list"
	"fmt"
	"time"

	"github.com/bafomet/bafomet/chain"
)

// Status is where a transaction stands in the mempool.
type Status uint8

// Transaction statuses. A committed transaction is no longer in the
// mempool: its status is the chain's to report.
const (
	StatusPending Status = iota + 1 // ready: its nonce follows the sender's committed nonce without a gap
	StatusQueued                    // held behind a nonce gap
	StatusDropped                   // left the mempool without committing; see Drop and Reason
)

// String returns "pending", "queued" or "dropped".
func (s Status) String() string {
	switch s {
	case StatusPending:
		return "pending"
	case StatusQueued:
		return "queued"
	case StatusDropped:
		return "dropped"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// DropKind names the documented rule by which an admitted transaction left
// the mempool without committing.
type DropKind uint8

// Drop kinds.
const (
	DropNone           DropKind = iota // not dropped
	DropTTL                            // held for Config.TTL
	DropNonceOvertaken                 // a committed transaction used its nonce
	DropRecheck                        // failed the application's re-check after a commit
	DropEvicted                        // evicted from a full pool for a fairer transaction
	numDropKinds
)

// String returns the kind's stable snake_case name, suitable as a metric
// label.
func (k DropKind) String() string {
	switch k {
	case DropNone:
		return "none"
	case DropTTL:
		return "ttl"
	case DropNonceOvertaken:
		return "nonce_overtaken"
	case DropRecheck:
		return "recheck_failed"
	case DropEvicted:
		return "evicted"
	}
	return fmt.Sprintf("drop(%d)", uint8(k))
}

// DropKinds returns every drop kind, in order.
func DropKinds() []DropKind {
	return []DropKind{DropTTL, DropNonceOvertaken, DropRecheck, DropEvicted}
}

// TxStatus describes one transaction known to the mempool.
type TxStatus struct {
	Hash      chain.Hash
	Status    Status
	Sender    chain.Address
	Nonce     uint64
	Size      int       // wire bytes
	Added     time.Time // when Add admitted it
	Proposed  bool      // reserved in an uncommitted proposal of this node
	Drop      DropKind  // DropNone unless Status is StatusDropped
	Reason    string    // set when Status is StatusDropped
	DroppedAt time.Time // when it was dropped; zero unless dropped
	Tx        *chain.Tx // the transaction; nil for dropped entries
}

// droppedTable remembers the most recent MaxDropped drops, oldest evicted
// first.
type droppedTable struct {
	max   int
	order *list.List // TxStatus, oldest at front
	byTx  map[chain.Hash]*list.Element
}

func newDroppedTable(maxEntries int) *droppedTable {
	return &droppedTable{max: maxEntries, order: list.New(), byTx: make(map[chain.Hash]*list.Element)}
}

func (d *droppedTable) add(s TxStatus) {
	d.remove(s.Hash)
	if d.order.Len() >= d.max {
		oldest := d.order.Front()
		d.order.Remove(oldest)
		delete(d.byTx, oldest.Value.(TxStatus).Hash)
	}
	d.byTx[s.Hash] = d.order.PushBack(s)
}

func (d *droppedTable) remove(h chain.Hash) {
	if el, ok := d.byTx[h]; ok {
		d.order.Remove(el)
		delete(d.byTx, h)
	}
}

func (d *droppedTable) get(h chain.Hash) (TxStatus, bool) {
	el, ok := d.byTx[h]
	if !ok {
		return TxStatus{}, false
	}
	return el.Value.(TxStatus), true
}

// Lookup returns the status of the transaction with hash h: pending or
// queued while held, dropped (with the reason) while remembered in the
// bounded dropped table. It returns false for a transaction the mempool
// does not know, including one that committed.
func (m *Mempool) Lookup(h chain.Hash) (TxStatus, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.txs[h]; e != nil {
		return m.statusLocked(e), true
	}
	return m.dropped.get(h)
}

func (m *Mempool) statusLocked(e *entry) TxStatus {
	st := StatusQueued
	if e.nonce() < m.accounts[e.sender].pending {
		st = StatusPending
	}
	return TxStatus{
		Hash: e.hash, Status: st, Sender: e.sender, Nonce: e.nonce(),
		Size: e.size, Added: e.added, Proposed: e.reserved, Tx: e.tx,
	}
}

// SenderInfo describes one sender's transactions in the mempool.
type SenderInfo struct {
	Address        chain.Address
	CommittedNonce uint64     // next nonce in committed state, as last learned
	PendingNonce   uint64     // next nonce counting ready transactions
	Ready          []TxStatus // nonces CommittedNonce … PendingNonce−1, in order
	Queued         []TxStatus // held behind the gap at PendingNonce, in nonce order
	Gap            string     // why Queued is not ready; empty when nothing is queued
}

// SenderInfo returns addr's ready and queued transactions and, when some
// are queued, which nonces are missing. It returns false when the mempool
// holds nothing from addr.
func (m *Mempool) SenderInfo(addr chain.Address) (SenderInfo, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	acc := m.accounts[addr]
	if acc == nil {
		return SenderInfo{}, false
	}
	info := SenderInfo{Address: addr, CommittedNonce: acc.base, PendingNonce: acc.pending}
	for _, e := range sortedEntries(acc) {
		if e.nonce() < acc.pending {
			info.Ready = append(info.Ready, m.statusLocked(e))
		} else {
			info.Queued = append(info.Queued, m.statusLocked(e))
		}
	}
	if len(info.Queued) > 0 {
		first := info.Queued[0].Nonce
		if first == acc.pending+1 {
			info.Gap = fmt.Sprintf("waiting for nonce %d", acc.pending)
		} else {
			info.Gap = fmt.Sprintf("waiting for nonces %d to %d", acc.pending, first-1)
		}
	}
	return info, true
}

// PendingNonce returns the nonce addr's next transaction should carry: its
// committed next nonce advanced past the ready transactions the mempool
// holds.
func (m *Mempool) PendingNonce(addr chain.Address) (uint64, error) {
	next, err := m.state.NextNonce(addr)
	if err != nil {
		return 0, fmt.Errorf("mempool: read next nonce of %s: %w", addr, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if acc := m.accounts[addr]; acc != nil {
		if acc.pending > next {
			return acc.pending, nil
		}
	}
	return next, nil
}

// NumReady returns the number of ready transactions (reserved ones
// included) without building a Stats snapshot; the driver polls it to tell
// the ordering core whether work is pending.
func (m *Mempool) NumReady() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ready
}

// NumReapable returns the number of ready transactions not reserved in a
// proposal, which the next Reap can return; the proposer polls it on every
// driver input, so it builds no Stats snapshot.
func (m *Mempool) NumReapable() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ready - m.reservedCount
}

// Stats is a snapshot of the mempool's gauges and counters.
type Stats struct {
	Size     int    // transactions held, ready plus queued
	Bytes    int    // their total wire size
	Ready    int    // transactions ready to be reaped or reserved
	Queued   int    // transactions behind a nonce gap
	Proposed int    // transactions reserved in uncommitted proposals
	Senders  int    // senders with at least one transaction held
	Height   uint64 // last committed height passed to Update

	Admitted      uint64              // successful Adds
	Rejected      map[Reason]uint64   // refused Adds by reason
	Evicted       map[DropKind]uint64 // admitted transactions dropped, by rule
	SigRecoveries uint64              // secp256k1 recoveries performed
	SigCacheHits  uint64              // senders found without recovery
	SigCacheSize  int                 // entries in the signature cache
	DroppedKept   int                 // entries in the dropped table
}

// Stats returns a snapshot of the mempool's gauges and counters.
func (m *Mempool) Stats() Stats {
	s := Stats{
		Admitted:      m.admitted.Load(),
		Rejected:      make(map[Reason]uint64, numReasons-1),
		Evicted:       make(map[DropKind]uint64, numDropKinds),
		SigRecoveries: m.sigRecoveries.Load(),
		SigCacheHits:  m.sigHits.Load(),
		SigCacheSize:  m.sigs.len(),
	}
	for _, r := range Reasons() {
		s.Rejected[r] = m.rejected[r].Load()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range DropKinds() {
		s.Evicted[k] = m.evicted[k]
	}
	s.Size, s.Bytes, s.Senders, s.Height = len(m.txs), m.bytes, len(m.accounts), m.height
	s.DroppedKept = m.dropped.order.Len()
	s.Ready = m.ready
	s.Queued = s.Size - s.Ready
	s.Proposed = m.reservedCount
	return s
}
