package mempool

import (
	"container/list"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/ethereum/go-ethereum/crypto"
)

// State is the committed state the mempool admits and re-checks against.
// The node implements it over its Badger store and application. Both
// methods must be safe for concurrent use and must reflect a committed
// height at least as recent as the last one passed to Update.
type State interface {
	// NextNonce returns addr's next nonce in committed state (0 for an
	// unknown account).
	NextNonce(addr chain.Address) (uint64, error)
	// CheckTx runs the application's admission check against committed
	// state. Any error refuses (or, on re-check, drops) the transaction.
	CheckTx(ctx chain.TxContext, payload []byte) error
}

// entry is one admitted transaction.
type entry struct {
	tx         *chain.Tx
	hash       chain.Hash
	sender     chain.Address
	size       int
	seq        uint64 // admission order, unique
	added      time.Time
	reserved   bool   // in an uncommitted proposal of this node
	reservedAt uint64 // committed height when reserved
	ageElem    *list.Element
	gossipElem *list.Element // set while ready and waiting to be handed to gossip
	gossiped   bool          // handed to gossip by TakeGossip
	resent     time.Time     // last handed out again by TakeStale
}

func (e *entry) nonce() uint64 { return e.tx.Nonce }

// account is one sender's transactions.
//
// Invariant: base ≤ pending, every nonce in [base, pending) is in byNonce
// and pending is not; those are the ready transactions, the rest (all >
// pending) are queued behind the gap at pending.
type account struct {
	base    uint64 // sender's next nonce in committed state, as last learned
	pending uint64 // next nonce counting ready transactions
	byNonce map[uint64]*entry
	// queuedIdx is the queued count under which the account is filed in
	// Mempool.queuedByCount (0: not filed).
	queuedIdx int
}

// readyCount returns the number of ready transactions.
func (a *account) readyCount() int { return int(a.pending - a.base) }

// recompute restores the invariant after base moved or entries left.
func (a *account) recompute() {
	a.pending = a.base
	for a.byNonce[a.pending] != nil {
		a.pending++
	}
}

// Mempool holds admitted transactions until they commit or are dropped by a
// documented rule. It is safe for concurrent use; see the package doc for
// the model.
type Mempool struct {
	cfg     Config
	chainID string
	state   State
	log     *slog.Logger
	sigs    *sigCache

	// gate orders admissions against height changes: Add holds it shared
	// from its state reads to its insertion, Update holds it exclusively
	// while it applies a block, so a transaction checked against an older
	// state is always seen by the next Update's re-check.
	gate     sync.RWMutex
	updateMu sync.Mutex // serialises Update

	mu       sync.Mutex
	height   uint64 // last committed height passed to Update
	seq      uint64
	txs      map[chain.Hash]*entry
	accounts map[chain.Address]*account
	// queuedByCount and heavySenders index the accounts eviction looks
	// at, so that it never scans every account: queuedByCount[n] holds
	// those with n queued transactions (n ≥ 1; maxQueuedCount is at least
	// the highest non-empty n), heavySenders those holding more than
	// Config.MaxTxsPerSender (at most MaxTxs/MaxTxsPerSender of them).
	// classifyLocked keeps them.
	queuedByCount  map[int]map[chain.Address]*account
	maxQueuedCount int
	heavySenders   map[chain.Address]*account
	bytes          int
	age            *list.List // *entry in admission order, for TTL
	gossip         *list.List // *entry admitted and not yet handed to gossip
	dropped        *droppedTable
	evicted        [numDropKinds]uint64
	// reservedCount is the number of entries with reserved set.
	reservedCount int
	// ready is the sum of every account's readyCount.
	ready int

	admitted      atomic.Uint64
	rejected      [numReasons]atomic.Uint64
	sigRecoveries atomic.Uint64
	sigHits       atomic.Uint64

	recoverFn func(*chain.Tx) (chain.Address, error) // chain.Tx.Sender; replaced in tests
}

// New returns an empty mempool for chainID that checks admissions against
// state. Zero or negative limits in cfg take their defaults.
func New(cfg Config, chainID string, state State) *Mempool {
	cfg = cfg.withDefaults()
	return &Mempool{
		cfg:           cfg,
		chainID:       chainID,
		state:         state,
		log:           cfg.Logger.With("module", "mempool"),
		sigs:          newSigCache(cfg.SigCacheSize),
		txs:           make(map[chain.Hash]*entry),
		accounts:      make(map[chain.Address]*account),
		queuedByCount: make(map[int]map[chain.Address]*account),
		heavySenders:  make(map[chain.Address]*account),
		age:           list.New(),
		gossip:        list.New(),
		dropped:       newDroppedTable(cfg.MaxDropped),
		recoverFn:     (*chain.Tx).Sender,
	}
}

// Config returns the effective configuration, defaults applied.
func (m *Mempool) Config() Config { return m.cfg }

// Add admits the transaction in wire form raw and returns its hash. It
// checks, in order: size, already known, decoding, chain id, signature,
// committed nonce, pending nonce taken, nonce gap, room (the queued bound,
// the pool's limits and the senders' fair shares), and the application's
// CheckTx. A refusal is a *RejectError matching one of the Err*
// sentinels; any other error is a failed state read. The hash is zero only
// when raw is too large to hash. When the pool is full, admitting the
// transaction may evict others (DropEvicted; see the package doc), and
// only once every check has passed.
//
// Once Add returns nil the transaction is held until it commits or is
// dropped by a documented rule (see the package doc).
func (m *Mempool) Add(raw []byte) (chain.Hash, error) {
	return m.count(m.add(raw, false))
}

// RelayedDropGrace is how long after dropping a transaction AddRelayed
// refuses a peer's copy of it.
const RelayedDropGrace = time.Minute

// AddRelayed is Add for a transaction a peer relayed. It also refuses, as
// already known, a transaction this pool dropped less than
// RelayedDropGrace ago: peers resend what they hold, so without this a
// transaction dropped for its age would come back from a peer that admitted
// it later, and back again from this pool after the peer dropped it, and
// never leave the network. The grace is bounded so that a client's
// resubmission through another node reaches this pool (a primary proposes
// only what it holds) within a minute; a client may also resubmit here
// with Add at once.
func (m *Mempool) AddRelayed(raw []byte) (chain.Hash, error) {
	return m.count(m.add(raw, true))
}

// count records a refusal by reason.
func (m *Mempool) count(h chain.Hash, err error) (chain.Hash, error) {
	if r := ReasonOf(err); r != ReasonNone {
		m.rejected[r].Add(1)
	}
	return h, err
}

func (m *Mempool) add(raw []byte, relayed bool) (chain.Hash, error) {
	if len(raw) > m.cfg.MaxTxBytes {
		return chain.Hash{}, reject(ReasonTooLarge, nil, "%d bytes, limit %d", len(raw), m.cfg.MaxTxBytes)
	}
	hash := crypto.Keccak256Hash(raw)
	if err := m.notKnown(hash, relayed); err != nil {
		return hash, err
	}
	tx, err := m.decode(slices.Clone(raw), hash)
	if err != nil {
		return hash, err
	}
	return hash, m.admit(tx, hash)
}

// AddTx is Add for a transaction the caller already decoded with
// chain.DecodeTx (the JSON-RPC server does, to report malformed input as
// invalid parameters): it is not decoded or hashed again. The mempool's
// own checks all apply, the size limit and chain id included.
func (m *Mempool) AddTx(tx *chain.Tx) (chain.Hash, error) {
	return m.count(m.addTx(tx))
}

func (m *Mempool) addTx(tx *chain.Tx) (chain.Hash, error) {
	raw, hash := tx.Bytes(), tx.Hash()
	if len(raw) > m.cfg.MaxTxBytes {
		return hash, reject(ReasonTooLarge, nil, "%d bytes, limit %d", len(raw), m.cfg.MaxTxBytes)
	}
	if err := m.notKnown(hash, false); err != nil {
		return hash, err
	}
	if err := m.checkChainID(tx); err != nil {
		return hash, err
	}
	return hash, m.admit(tx, hash)
}

// notKnown refuses a transaction the pool holds, and, for a relayed one,
// a transaction it dropped less than RelayedDropGrace ago.
func (m *Mempool) notKnown(hash chain.Hash, relayed bool) error {
	m.mu.Lock()
	_, known := m.txs[hash]
	var drop TxStatus
	var dropped bool
	if relayed && !known {
		drop, dropped = m.dropped.get(hash)
	}
	m.mu.Unlock()
	if known {
		return reject(ReasonAlreadyKnown, nil, "%s", hash)
	}
	if dropped && m.cfg.Now().Sub(drop.DroppedAt) < RelayedDropGrace {
		return reject(ReasonAlreadyKnown, nil, "%s was dropped here (%s: %s)", hash, drop.Drop, drop.Reason)
	}
	return nil
}

// admit runs the checks that need the sender and the state on a decoded
// transaction, and inserts it.
func (m *Mempool) admit(tx *chain.Tx, hash chain.Hash) error {
	sender, ok := m.cachedSender(hash)
	if !ok {
		var err error
		if sender, err = m.recoverSender(tx, hash); err != nil {
			return err
		}
	}

	m.gate.RLock()
	defer m.gate.RUnlock()
	next, err := m.state.NextNonce(sender)
	if err != nil {
		return fmt.Errorf("mempool: read next nonce of %s: %w", sender, err)
	}
	m.mu.Lock()
	_, err = m.admissibleLocked(hash, sender, tx.Nonce, tx.Size(), next)
	height := m.height
	m.mu.Unlock()
	if err != nil {
		return err
	}
	ctx := chain.TxContext{Height: height + 1, Hash: hash, Sender: sender, Nonce: tx.Nonce}
	if err := m.state.CheckTx(ctx, tx.Payload); err != nil {
		return reject(ReasonRejectedByApp, err, "")
	}
	return m.insert(tx, hash, sender, next)
}

// decode checks size, form, signature form and chain id of raw, whose
// Keccak256 is hash. raw must not change afterwards.
func (m *Mempool) decode(raw []byte, hash chain.Hash) (*chain.Tx, error) {
	tx, err := chain.DecodeTxHashed(raw, m.cfg.MaxTxBytes, hash)
	switch {
	case err == nil:
	case errors.Is(err, chain.ErrTxTooLarge):
		return nil, reject(ReasonTooLarge, err, "")
	case errors.Is(err, chain.ErrTxSigLength), errors.Is(err, chain.ErrTxSigHighS),
		errors.Is(err, chain.ErrTxSigBadV), errors.Is(err, chain.ErrTxSigInvalid):
		return nil, reject(ReasonBadSignature, err, "")
	case errors.Is(err, chain.ErrTxEmptyChainID):
		return nil, reject(ReasonWrongChain, err, "want %q", m.chainID)
	default:
		return nil, reject(ReasonMalformed, err, "")
	}
	if err := m.checkChainID(tx); err != nil {
		return nil, err
	}
	return tx, nil
}

func (m *Mempool) checkChainID(tx *chain.Tx) error {
	if tx.ChainID != m.chainID {
		return reject(ReasonWrongChain, nil, "got %q, want %q", tx.ChainID, m.chainID)
	}
	return nil
}

// cachedSender returns the sender of the transaction hash from the
// signature cache. A hit also means the transaction's bytes passed decode
// (size, form, chain id): only transactions that did are cached, and
// VerifySender relies on it.
func (m *Mempool) cachedSender(hash chain.Hash) (chain.Address, bool) {
	s, ok := m.sigs.get(hash)
	if ok {
		m.sigHits.Add(1)
	}
	return s, ok
}

// knownSender returns the sender of the transaction hash from the
// signature cache or, failing that, from the pool (caching it).
func (m *Mempool) knownSender(hash chain.Hash) (chain.Address, bool) {
	if s, ok := m.cachedSender(hash); ok {
		return s, true
	}
	m.mu.Lock()
	e := m.txs[hash]
	m.mu.Unlock()
	if e == nil {
		return chain.Address{}, false
	}
	m.sigHits.Add(1)
	m.sigs.put(hash, e.sender)
	return e.sender, true
}

// recoverSender recovers the sender of the decoded tx and caches it by
// hash. It never holds m.mu.
func (m *Mempool) recoverSender(tx *chain.Tx, hash chain.Hash) (chain.Address, error) {
	s, err := m.recoverUncached(tx)
	if err != nil {
		return chain.Address{}, err
	}
	m.sigs.put(hash, s)
	return s, nil
}

// recoverUncached recovers the sender of tx without caching it, for a
// transaction that skipped the checks a cache entry vouches for.
func (m *Mempool) recoverUncached(tx *chain.Tx) (chain.Address, error) {
	m.sigRecoveries.Add(1)
	s, err := m.recoverFn(tx)
	if err != nil {
		return chain.Address{}, reject(ReasonBadSignature, err, "")
	}
	return s, nil
}

// admissibleLocked runs every pool-dependent admission check. next is the
// sender's next nonce read from state. It returns the plan of held
// transactions that must be evicted to make room (see roomLocked; nil when
// none), and evicts nothing itself. When the pool is full it first drops expired transactions.
func (m *Mempool) admissibleLocked(hash chain.Hash, sender chain.Address, nonce uint64, size int, next uint64) (*evictPlan, error) {
	if _, ok := m.txs[hash]; ok {
		return nil, reject(ReasonAlreadyKnown, nil, "%s", hash)
	}
	if m.fullLocked(size) {
		m.expireLocked(m.cfg.Now())
	}
	base, pending := next, next
	acc := m.accounts[sender]
	if acc != nil {
		base = max(acc.base, next)
		pending = max(acc.pending, base)
	}
	if nonce < base {
		return nil, reject(ReasonNonceTooLow, nil, "nonce %d, sender %s next nonce %d", nonce, sender, base)
	}
	if acc != nil {
		if other := acc.byNonce[nonce]; other != nil {
			return nil, reject(ReasonNonceTaken, nil, "nonce %d of %s held by %s", nonce, sender, other.hash)
		}
	}
	if nonce > pending && nonce-pending > m.cfg.MaxNonceGap {
		return nil, reject(ReasonNonceTooFarAhead, nil, "nonce %d, sender %s pending nonce %d, max gap %d",
			nonce, sender, pending, m.cfg.MaxNonceGap)
	}
	return m.roomLocked(sender, acc, nonce == pending, size)
}

func (m *Mempool) fullLocked(size int) bool {
	return len(m.txs) >= m.cfg.MaxTxs || m.bytes+size > m.cfg.MaxBytes
}

// insert re-checks admissibility (other admissions ran meanwhile), evicts
// what that check chose, and adds the transaction. A ready transaction is
// queued for gossip at once, a queued one when it becomes ready.
func (m *Mempool) insert(tx *chain.Tx, hash chain.Hash, sender chain.Address, next uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	size := tx.Size()
	evict, err := m.admissibleLocked(hash, sender, tx.Nonce, size, next)
	if err != nil {
		return err
	}
	m.evictLocked(evict, sender)
	acc := m.accounts[sender]
	if acc == nil {
		acc = &account{base: next, pending: next, byNonce: make(map[uint64]*entry)}
		m.accounts[sender] = acc
	}
	m.ready -= acc.readyCount()
	m.seq++
	e := &entry{tx: tx, hash: hash, sender: sender, size: size, seq: m.seq, added: m.cfg.Now()}
	e.ageElem = m.age.PushBack(e)
	acc.byNonce[tx.Nonce] = e
	from := acc.pending
	for acc.byNonce[acc.pending] != nil {
		acc.pending++
	}
	m.gossipReadyLocked(acc, from)
	m.ready += acc.readyCount()
	m.classifyLocked(sender, acc)
	m.txs[hash] = e
	m.bytes += size
	m.dropped.remove(hash)
	m.admitted.Add(1)
	return nil
}

// gossipReadyLocked queues for gossip acc's ready transactions from nonce
// from on that were never queued or handed out: transactions are gossiped
// only once ready, so that one node's queued transactions (which cannot
// execute, and cost nothing to make) never fill its peers' pools.
func (m *Mempool) gossipReadyLocked(acc *account, from uint64) {
	for n := max(from, acc.base); n < acc.pending; n++ {
		if e := acc.byNonce[n]; !e.gossiped && e.gossipElem == nil {
			e.gossipElem = m.gossip.PushBack(e)
		}
	}
}

// removeLocked takes e out of the pool and restores its account's
// invariant.
//
// The account's new pending nonce needs no walk: every nonce in [base,
// pending) is held, so removing one of them makes it the new pending
// nonce, and removing a queued one leaves pending as it was.
func (m *Mempool) removeLocked(e *entry) {
	acc := m.accounts[e.sender]
	m.ready -= acc.readyCount()
	m.detachLocked(e, acc)
	if n := e.nonce(); n < acc.pending {
		acc.pending = n
	}
	m.finishLocked(e.sender, acc, acc.pending)
}

// detachLocked takes e out of the pool's indexes and its account's map,
// leaving the account's pending nonce to settleLocked.
func (m *Mempool) detachLocked(e *entry, acc *account) {
	delete(m.txs, e.hash)
	m.bytes -= e.size
	m.unreserveLocked(e)
	m.age.Remove(e.ageElem)
	if e.gossipElem != nil {
		m.gossip.Remove(e.gossipElem)
		e.gossipElem = nil
	}
	delete(acc.byNonce, e.nonce())
}

// settleLocked restores acc's invariant after its base moved or entries
// left, forgets it when empty, and counts its ready transactions back into
// m.ready (the caller subtracted them before the change).
func (m *Mempool) settleLocked(sender chain.Address, acc *account) {
	old := acc.pending
	acc.recompute()
	m.finishLocked(sender, acc, old)
}

// finishLocked completes a change to acc whose pending nonce is already
// restored: it forgets the account when empty, queues for gossip what
// became ready above the pending nonce old, counts its ready transactions
// back into m.ready and refiles it for eviction.
func (m *Mempool) finishLocked(sender chain.Address, acc *account, old uint64) {
	if len(acc.byNonce) == 0 {
		delete(m.accounts, sender)
		m.classifyLocked(sender, acc)
		return
	}
	m.gossipReadyLocked(acc, old)
	m.ready += acc.readyCount()
	m.classifyLocked(sender, acc)
}

// classifyLocked files acc (sender's account) in queuedByCount and
// heavySenders, or takes it out of them, after its transactions changed.
func (m *Mempool) classifyLocked(sender chain.Address, acc *account) {
	if q := len(acc.byNonce) - acc.readyCount(); q != acc.queuedIdx {
		if acc.queuedIdx > 0 {
			delete(m.queuedByCount[acc.queuedIdx], sender)
		}
		if q > 0 {
			bucket := m.queuedByCount[q]
			if bucket == nil {
				bucket = make(map[chain.Address]*account)
				m.queuedByCount[q] = bucket
			}
			bucket[sender] = acc
			m.maxQueuedCount = max(m.maxQueuedCount, q)
		}
		acc.queuedIdx = q
	}
	if len(acc.byNonce) > m.cfg.MaxTxsPerSender {
		m.heavySenders[sender] = acc
	} else {
		delete(m.heavySenders, sender)
	}
}

// dropLocked removes e and remembers why, for Lookup.
func (m *Mempool) dropLocked(e *entry, kind DropKind, reason string) {
	m.removeLocked(e)
	m.recordDropLocked(e, kind, reason)
}

// recordDropLocked counts the drop of e and remembers it for Lookup.
func (m *Mempool) recordDropLocked(e *entry, kind DropKind, reason string) {
	m.evicted[kind]++
	m.dropped.add(TxStatus{
		Hash: e.hash, Status: StatusDropped, Sender: e.sender, Nonce: e.nonce(),
		Size: e.size, Added: e.added, Drop: kind, Reason: reason, DroppedAt: m.cfg.Now(),
	})
	m.log.Debug("transaction dropped", "hash", e.hash, "sender", e.sender, "nonce", e.nonce(), "kind", kind, "reason", reason)
}
