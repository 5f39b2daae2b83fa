// Package blocksync is bafomet's block-sync engine: the read-only server
// that answers /bafomet/sync/1 requests from a node's store, and the
// fetcher that brings a lagging node up to a target height by requesting
// ranges of blocks with their commit certificates from several peers in
// parallel.
//
// The fetcher trusts no peer. Every block it hands over has a commit
// certificate that verifies against the genesis validator set and certifies
// exactly that block, a transactions root that matches its transactions,
// the genesis validators hash, and a parent hash that links it to the
// previous block, back to the node's own latest block. A peer that answers
// with anything else — a forged certificate, a wrong parent, garbage, or
// nothing before its deadline — is dropped for a cool-down and its range is
// fetched from another peer, so one Byzantine peer can slow a sync down but
// neither stop nor corrupt it.
//
// Stable checkpoint proofs travel with the blocks. The fetcher verifies each
// one (a quorum of validators' signed Checkpoint messages for one height,
// block hash and appHash) and hands it over with the block at its height;
// after executing that block the node calls CheckAppHash, and a mismatch
// means its state diverged from the network's, so it must stop.
//
// The engine never calls into node state: the node pulls verified blocks,
// in height order, from Fetcher.Blocks and feeds them to its consensus core
// and executor itself.
//
// A node that does not know how far behind it is asks its peers with
// Probe: a peer's height counts only with a certificate that verifies.
//
// A server whose store holds blocks only from some height up (it pruned
// older ones, node.retain_blocks, or started from a snapshot) says so in
// every response (Response.Earliest, a trailing optional field, absent
// when it holds everything, so such a server answers byte for byte as
// before) and answers a range that starts below it with ErrPruned, whose
// text names its earliest height. That is an honest answer, not a fault:
// the fetcher reads it (PrunedEarliest; over p2p only the text arrives),
// asks other peers for that range, and keeps asking the pruned peer for
// ranges it holds. When no peer holds the next range the fetcher waits,
// logging that the node needs state sync; it faults no one.
//
// Usage in the node:
//
//	srv, _ := blocksync.NewServer(store, blocksync.ServerConfig{})
//	host.SetRequestHandler(srv.Handle)
//
//	f, _ := blocksync.NewFetcher(blocksync.Config{ChainID: id, Validators: vs,
//		Peers: peers, Requester: host, Start: h, StartHash: hash, Target: t})
//	go f.Run(ctx)
//	for it := range f.Blocks() {
//		// core.StepCertified(it.Block, it.Certificate); execute; then
//		// if it.Checkpoint != nil { CheckAppHash(it.Checkpoint, height, appHash) }
//	}
package blocksync
