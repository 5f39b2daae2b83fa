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
// rd := Ready() and does four things, in this order:
//
//  1. Persist: durably store rd.Persist (fsync) BEFORE any message leaves.
//     These are the messages this node signed (and, before each Commit, the
//     prepared certificate it commits on). Restore.Records gives them back.
//     Records may be pruned by Message.Height below rd.Stable.Height; view
//     change and new view records carry the high watermark as Height so the
//     record that pins the node's view outlives that pruning.
//  2. Send: deliver rd.Messages (To is an index or Broadcast).
//  3. Apply: execute rd.Committed blocks in order (they come in height
//     order with no gap, each with a commit certificate that verifies with
//     chain.Certificate.Verify) and report each with Executed(height,
//     appHash). Store rd.Evidence; prune records below rd.Stable.
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
// # Safety of chained pipelining across view changes
//
// Rule P: an honest node sends Prepare(v, h, B) only if B's parent is its
// committed block at h−1, or is the block the same primary pre-prepared at
// h−1 in the same view v and this node prepared it.
//
// Rule C: it sends Commit(v, h, B) only when it holds a prepared
// certificate in v for B and for every uncommitted ancestor of B.
//
// Hence an honest node that committed B at h holds prepared certificates
// for the whole chain from its stable checkpoint up to B. A view change
// message carries the sender's stable checkpoint, the commit certificates
// of the heights it committed above it, and, for each height above the
// highest of those, its highest-view prepared certificate (with the block).
// Committed heights travel as certificates, not blocks, so a view change
// stays small however far the checkpoint trails (carrying every block above
// the checkpoint made view changes outgrow the frame limit under load and
// never complete). The new primary computes the carried chain from a quorum
// of view changes: start at the highest decided height among them — a
// stable checkpoint or a commit certificate, both pin the block by hash;
// for each next height take the certificate with the highest view; stop at
// the first gap or the first block whose parent is not the carried block
// below it. Heights up to the decided one are not re-proposed: a node that
// holds such a block commits it with the carried certificate, one that does
// not is behind and fetches it by block sync (a certificate's q signers
// include f+1 honest validators that prepared the block, so it can always
// be had), and nothing is proposed or accepted at or below it. NewView
// re-proposes exactly that chain in the new view (original timestamps; the
// clock-drift check applies only to fresh proposals), and every backup
// recomputes it from the view changes inside the NewView and rejects a
// NewView that differs. Proposals not on the carried chain are void.
//
// Why no fork: if B was committed at h in view v, q validators sent
// Commit(v, h, B), so by rule C each held certificates in v for B and its
// uncommitted ancestors. Any quorum of view changes for a later view
// intersects that set in f+1 validators, one of them honest, who carries
// those certificates (or a stable checkpoint or commit certificate at or
// above h, which pins the chain by block hash: a commit certificate at
// h' ≥ h means h' is committed, and the committed chain is one chain). By induction on views, as in PBFT, every
// certificate in a view above v at a height ≤ h is for the same block as
// the committed chain, so the highest-view choice picks the committed
// block at each height up to h and the parent links hold; the carried
// chain therefore extends through B, and every later view re-proposes it.
// Rule P keeps an honest node from preparing a block whose ancestry is not
// the chain it prepared in that same view, so a certificate never vouches
// for a block on a different branch from the one its ancestors' did.
//
// # Liveness
//
// The view-change timer runs while the node holds pending work
// (NotePending) or knows an uncommitted proposal; it expires after
// ViewChangeTimeout ticks without a commit, doubling per consecutive view
// change up to ViewChangeTimeoutMax. A node waiting for a NewView escalates
// to the next view only once it holds q view changes for its own view (as
// in PBFT), so a node alone in a view change waits for the others instead of
// racing ahead. f+1 view changes for higher views make a node join the
// smallest of them. While stuck, a node re-sends its latest messages every
// RetransmitTicks (at most MaxRetransmits times per stuck period); a primary
// answers a view change for its current view with its NewView. Commits from
// f+1 validators for a block this node lacks restart its timer (the view is
// alive; this node must sync). After a NewView, validators that already
// committed a re-proposed block prepare and commit it again in the new view
// (it is committed, so this cannot help a conflicting block), so that
// validators that missed it gather a quorum in the new view.
//
// # Crashes and wiped data
//
// A restored node never signs a different hash for a (type, view, height)
// it signed, never pre-prepares twice at one (view, height), and resumes in
// a view at least as high as any it signed in. A node that lost its records
// is restored with Restore.NoVoteThroughHeight and Restore.MinView above
// anything it may have signed: it votes at no height at or below the first
// and in no view below the second.
package ordering
