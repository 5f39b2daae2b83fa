// Package mempool holds transactions between admission and commit.
//
// # Admission
//
// Add admits a transaction in wire form only after every check passes, in
// this order: size (Config.MaxTxBytes), not already held, decoding, chain
// id, signature (sender recovery, cached by transaction hash), nonce not
// below the sender's committed next nonce, nonce not already taken by a held
// transaction of the same sender (there is no replacement), nonce at most
// Config.MaxNonceGap past the sender's pending nonce, room (see "Room and
// fair shares" below; it may evict held transactions, but only once every
// check has passed), and the application's CheckTx against committed
// state. Each refusal is a
// *RejectError carrying a Reason and matching one Err* sentinel with
// errors.Is. A refused transaction is not remembered, so a client may
// resubmit it once the cause is gone (for example after "mempool full").
//
// Signature recovery, the state reads and CheckTx run outside the mempool's
// lock, so admissions proceed in parallel across cores.
//
// # Ready and queued
//
// Each sender's transactions are kept by nonce. Those whose nonces run
// without a gap from the sender's committed next nonce are ready (status
// "pending"); the pending nonce is the first nonce after them. The others
// are queued (status "queued") behind the gap and become ready as soon as
// the missing nonces arrive or commit. SenderInfo shows both lists and the
// missing nonces.
//
// # Room and fair shares
//
// Transactions that cannot execute yet cost nothing to make (fresh keys,
// any nonces), so they get a bound of their own: Config.MaxQueued, smaller
// than the pool (a quarter of Config.MaxTxs by default). The pool's own
// limits (Config.MaxTxs, Config.MaxBytes) are shared by all senders with
// no cap per sender while there is room. When a limit is reached (expired
// transactions are dropped first), the sender holding the most gives way:
//
//   - A queued transaction that finds Config.MaxQueued reached, or the pool
//     full, evicts the newest queued transaction of the sender holding the
//     most queued ones, if that sender would still hold more than this one;
//     otherwise it is refused (ErrFull).
//   - A ready transaction that finds the pool full evicts queued
//     transactions first, from the sender holding the most queued, newest
//     nonce first. When nothing is queued, it evicts the newest ready
//     transaction of the sender holding the most, if that sender holds more
//     than its fair share (Config.MaxTxsPerSender) and more than this
//     sender would. Otherwise it is refused: ErrSenderFull when the sender
//     holds its fair share or more, ErrFull when it does not.
//
// Transactions reserved in this node's proposals are never evicted. An
// evicted transaction is dropped with DropEvicted, so a client polling its
// status learns it left (see below). Newest nonces go first so that what is
// left of a sender's transactions stays as ready as it was.
//
// # Reaping and fairness
//
// Reap returns ready transactions for the primary's next block and reserves
// them without removing them. Senders take turns: they are ordered by the
// admission time of their first reapable transaction, oldest first, and
// each round takes one transaction from each sender, each sender's in nonce
// order. A flood from one sender therefore gets one slot per round like
// everyone else, and on a full pool it is the first to be refused and
// evicted.
//
// A reserved transaction is not reaped again, so a pipelined next block
// continues with each sender's following nonces. A reservation ends when
// the transaction commits (Update removes it), when the driver releases it
// (Release for a voided proposal, ReleaseProposed on a view change), or on
// its own after Config.ReserveHeights committed heights, by which time any
// block it could have been proposed for is decided. A block that never
// commits thus never loses its transactions.
//
// # Lifetimes and "dropped"
//
// Accepted means accepted: once Add returns nil the transaction stays until
// it commits or leaves by exactly one of these rules, after which Lookup
// reports status "dropped" with the rule (DropKind) and a reason:
//
//   - DropNonceOvertaken: a committed transaction of the same sender used
//     its nonce (for example a different transaction with that nonce
//     committed through another validator).
//   - DropRecheck: after a commit, the application's CheckTx against the
//     new state refused it. Update re-checks every held transaction.
//   - DropTTL: it was held for Config.TTL since admission, whether queued
//     behind a gap that never filled or ready but never included.
//   - DropEvicted: the pool was full (or, for a queued transaction,
//     Config.MaxQueued was reached) and a transaction with a better claim
//     took its place, by the rules of "Room and fair shares": it was
//     queued, or its sender held more than its fair share and more than
//     the newcomer's sender. The reason names which, and what its sender
//     held.
//
// Dropping a ready transaction leaves its sender's later nonces queued
// behind the new gap; they become ready again if the missing transaction is
// resubmitted, or expire by TTL. Drops are counted in Stats().Evicted, and
// the last Config.MaxDropped of them stay visible through Lookup. For
// RelayedDropGrace after a drop, AddRelayed refuses a peer's copy of it
// (peers resend what they hold, and TTLs run out at different times on
// different nodes); a client may resubmit it with Add at any time. A
// committed transaction leaves the mempool silently: its status is the
// chain's to report.
//
// # Gossip
//
// TakeGossip hands each transaction to the p2p layer exactly once, when it
// is ready: on admission, or later when its gap fills. A queued transaction
// is never gossiped (nor re-sent by TakeStale), so the queue one client
// fills on one node stays on that node and cannot fill its peers'; the
// proposer, which reaps only ready transactions, loses nothing by it.
// Transactions arriving by gossip go through Add like any other; one
// already held is refused as known and not queued again.
//
// # Proposal checking
//
// VerifySender and VerifyBatch check a proposed block's transactions on a
// backup. A transaction already held or verified before costs neither
// decoding nor secp256k1 recovery (its hash names bytes that passed the
// same checks); the others are decoded and recovered once, in parallel
// across GOMAXPROCS workers, and cached (bounded LRU, Config.SigCacheSize).
// Only transactions that passed the size, form and chain-id checks are
// ever cached.
//
// # Concurrency
//
// Every method is safe for concurrent use. There are no callbacks and no
// locks for callers to manage.
package mempool
