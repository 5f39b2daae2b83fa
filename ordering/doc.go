// Package ordering is bafomet's PBFT ordering core (Castro & Liskov, TOCS
// 2002, adapted to a chain): a pure, deterministic state machine. It starts
// no goroutine, reads no clock, does no I/O and iterates no map in an order
// that reaches its outputs. Time arrives as Tick, messages as Step, and
// everything the node must do comes back as data in Ready.
//
// # Driving the core
//
// After every input (Step, Tick, Propose, Executed, NotePending,
// StepCertified) the driver checks HasReady and, while it is true, takes
// rd := Ready() and, unless rd.SignErr is set (the Signer failed: stop the
// node), does four things, in this order:
//
//  1. Persist: durably store rd.Persist (fsync) BEFORE any message leaves.
//     These are the messages this node signed, before each Commit the
//     prepared certificate it commits on, and the NewView it entered its
//     view by. Restore.Records gives them back. A Record may be discarded
//     once a stable checkpoint reaches its Height; the record that pins
//     the node's view (its view change, or its view's NewView) is handed
//     out again with a higher Height before a checkpoint would take it.
//  2. Send: deliver rd.Messages (To is an index or Broadcast).
//  3. Apply: hand rd.Committed to the executor (they come in height order
//     with no gap, each with a commit certificate that verifies with
//     chain.Certificate.Verify). Execution may be asynchronous: the driver
//     reports each executed height later, in order, with Executed(height,
//     appHash), and the core needs it only before it votes for the height
//     a pipeline window later. A crash may lose committed blocks that were
//     not yet executed; the core's records and the view changes it sends
//     after a restart are built so that nothing relies on them. Store
//     rd.Evidence; prune records by rd.Stable.
//  4. Advance(rd).
//
// When rd.Propose is non-nil this node is the primary and may propose that
// slot: build a block with the slot's height, parent, appHash and a
// timestamp after the parent's and call Propose. The driver may decline
// (no transactions); the slot is offered again on the next Ready after a
// Tick or NotePending(true). rd.SoftState.Behind asks the driver to
// block-sync and feed certified blocks through StepCertified.
//
// # Protocol
//
// Sequence number = height; the primary of view v is validator v mod n;
// quorum q = ⌊2n/3⌋+1. PrePrepare(v, h, B) from the primary, Prepare and
// Commit(v, h, hash(B)) from the others; prepared = pre-prepare + q−1
// matching prepares from backups; committed = q matching commits with the
// block pre-prepared, and those commits' signatures (over
// chain.CommitDigest) are the block's certificate. Every message is
// verified on Step (signature over a per-type domain digest with the chain
// id, sender, view, height window) and every nested message too.
//
// Pipelining: with W = PipelineWindow the primary may have heights
// committed+1 … committed+W in flight. A proposal names its parent by hash
// even if that parent is uncommitted. The header of block h carries the
// appHash after height h−W, and the appHash of the genesis state (height 0)
// while h ≤ W. A backup prepares h only after executing h−W and checking
// that appHash against its own.
//
// Checkpoints: after executing h with h % CheckpointInterval == 0 a node
// signs Checkpoint{h, blockHash, appHash}; q matching make it stable, the
// log at and below it is discarded, and only heights in (stable,
// stable+LogWindow] are accepted, so memory stays flat.
//
// # View changes
//
// A view change carries the sender's stable checkpoint, the commit
// certificates of every height it committed above it, and, for each height
// above the highest of those, its highest-view prepared certificate. A
// prepared certificate's pre-prepare carries only its block's header: the
// signature covers the block hash, which is the header's, and the header
// names the parent, so a view change weighs a few hundred bytes a height
// however large the blocks are (MaxViewChangeBytes). The blocks travel one
// to a message: each validator sends the new primary the original
// pre-prepares of the certificates its view change carries.
//
// The new primary computes from a quorum of view changes the decided
// height (decidedBase): the highest stable checkpoint among them, raised
// through every next height one of them certifies. Above it, the carried
// chain: for each next height the prepared certificate with the highest
// view, stopping at the first gap or the first block whose parent is not
// the carried block below it. Once it holds every carried block it sends
// NewView — the view changes and a header-only re-proposal of the carried
// chain (original timestamps; the clock-drift check applies only to fresh
// proposals) — and then each re-proposal in full. Every backup recomputes
// both from the view changes inside the NewView and rejects a NewView that
// differs; it takes a re-proposed block from what it holds or from the
// primary's full pre-prepare, whose hash the NewView fixed. Proposals not
// on the carried chain are void, and nothing is proposed or accepted at or
// below the decided height. A node commits each decided height whose block
// it holds with the certificate the NewView carries, whenever the heights
// below it are in place; a node that lacks one is behind and fetches it by
// block sync.
//
// # Safety of chained pipelining across view changes
//
// Rule P: an honest node sends Prepare(v, h, B) only if B's parent is its
// committed block at h−1, or is the block the same primary pre-prepared at
// h−1 in the same view v and this node prepared it.
//
// Rule C: it sends Commit(v, h, B) only when it holds a prepared
// certificate in v for B and for every uncommitted ancestor of B, and it
// persisted them first.
//
// Rule V: an honest view change certifies every height its sender
// committed above its stable checkpoint (after a restart, every height it
// stored, read back from the store), and carries a prepared certificate
// for every height above the highest of those that it prepared.
//
// Why no fork: if B was committed at h in view v, q validators sent
// Commit(v, h, B), so by rule C each persisted prepared certificates in v
// for B and its uncommitted ancestors. Any quorum of view changes for a
// later view intersects that set in f+1 validators, one of them honest, X.
// If X's stable checkpoint or stored chain reaches h, then by rule V every
// height from the quorum's highest checkpoint up to h is certified without
// a gap, so h is decided and its block is pinned by hash (certificates at
// one height name one block: the committed chain is one chain). Otherwise
// X carries its prepared certificate at h (its records kept it: they are
// pruned only below a stable checkpoint, and a crash loses only what it
// had not stored), so, by induction on views as in PBFT, every
// certificate at h in a view above v is for B, the highest-view choice
// picks B, the parent links hold down to the decided height, and the
// carried chain extends through B; every later view re-proposes it. Rule P
// keeps an honest node from preparing a block whose ancestry is not the
// chain it prepared in that same view, so a certificate never vouches for
// a block on a different branch from the one its ancestors' did.
//
// Why decided heights stay decided across a crash: a backup persists the
// NewView it enters a view by before it votes in the view, and the record
// that pins its view is re-persisted above every checkpoint that would
// prune it; restore re-installs the NewView, so a restarted node neither
// accepts nor proposes a fresh block at or below the decided height, and
// commits the decided heights from its records.
//
// Why decided heights can be had: a decided height h is certified without
// a gap from a stable checkpoint. Each certificate's q signers include f+1
// honest validators that persisted the block's prepared certificate (rule
// C), so an honest node that prepared it commits it from its own records;
// a node that did not fetches it by block sync from one that committed it.
// A validator that shows a high certificate and withholds those below it
// does not raise the decided height.
//
// # Liveness
//
// The view-change timer runs while the node holds pending work
// (NotePending) or knows an uncommitted proposal; it expires after
// ViewChangeTimeout ticks without a commit, doubling per consecutive view
// change up to ViewChangeTimeoutMax. A node waiting for a NewView escalates
// to the next view only once it holds q view changes for its own view (as
// in PBFT), so a node alone in a view change waits for the others instead
// of racing ahead. f+1 view changes for higher views make a node join the
// smallest of them. While stuck, a node re-sends its latest messages (in a
// view change also the blocks it carries) after RetransmitTicks, then at
// intervals doubling up to RetransmitTicksMax, and never stops: after a
// partition of any length, with no quorum on any side, every stuck node is
// heard again within RetransmitTicksMax ticks of the network healing. A
// primary answers a view change for its current view with its NewView.
// Commits from f+1 validators for a block this node lacks restart its
// timer (the view is alive; this node must sync). After a NewView,
// validators that already committed a re-proposed block prepare and commit
// it again in the new view (it is committed, so this cannot help a
// conflicting block), so that validators that missed it gather a quorum in
// the new view. Every message a view change needs fits a frame of one
// block plus MaxNewViewBytes; the node refuses a frame limit below that.
//
// # Crashes and wiped data
//
// A restored node never signs a different hash for a (type, view, height)
// it signed, never pre-prepares twice at one (view, height), and resumes in
// a view at least as high as any it signed in or entered. A node that lost
// its records is restored with Restore.NoVoteThroughHeight and
// Restore.MinView above anything it may have signed: it votes at no height
// at or below the first and in no view below the second.
package ordering
