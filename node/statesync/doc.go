// Package statesync lets a node join from a snapshot instead of replaying
// every block: the server side answers peers' requests for the snapshots a
// node keeps (package chain/snapshot), and the Restorer finds a snapshot
// its peers agree on and restores it.
//
// Trust. A manifest is used only when f+1 distinct validators offer it
// with the same hash (at least one is honest, and honest nodes cut the
// same state into the same chunks), and only with a stable checkpoint
// proof — a quorum of validators' signed Checkpoint messages for its
// height, block hash and appHash — that verifies against the validator
// set. Each chunk must hash to what the manifest names, and the
// accumulator of every entry (chain.LtHash) must hash to the certified
// appHash before the import is finished. A peer that serves a wrong,
// truncated or no chunk is left out for a cool-down and the chunk is
// fetched from another peer.
//
// Requests travel on the block-sync protocol with kinds of their own
// (IsRequest), so the p2p layer needs nothing new.
package statesync
