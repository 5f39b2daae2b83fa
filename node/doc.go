// Package node wires one validator together and runs its lifecycle: it
// loads config, genesis and key, opens the store and the consensus log,
// restores the ordering core, and starts and stops the components in
// order. It holds no protocol logic: the ordering core (package ordering)
// decides, and the driver (package ordering/driver) carries out what the
// core asks through adapters defined here (driver.go).
//
// # Goroutines
//
// Start starts these; Close cancels their context and waits for every one
// of them before it closes the p2p host, the consensus log and the store.
//
//   - driver loop (drive → driver.Driver.Run): the only goroutine that
//     touches the ordering core. It owns the core, the proposer and the
//     checkpoint proofs of synced blocks; it appends to the consensus log
//     and sends consensus frames through the p2p host. It selects on the
//     tick interval, decoded consensus messages (consensusIn), synced
//     blocks (syncer.items), executor results, mempool wake-ups (txWake)
//     and the proposer's timer. An error it cannot survive ends it and is
//     sent on Fatal.
//   - executor loop (driver.ExecLoop.Run, started and awaited by the
//     driver loop): owns the chain executor's writes. It applies committed
//     blocks in batches, updates the mempool (mempool.Update), the
//     executed height and the p2p hello height, and signals blockNotify.
//   - syncer (syncer.run): owns block sync. It watches for lag (hints from
//     the driver, peers' hello heights, a stalled height), runs a
//     blocksync.Fetcher (one more goroutine per sync run, awaited by the
//     run) and passes verified blocks to the driver loop.
//   - checkConsensus, p2p.verify_workers of them (GOMAXPROCS by
//     default): take consensus frames from the p2p host, which hands them
//     out one peer at a time in turn, and pass each through the consensus
//     gate (inbound.go): repeats dropped before anything else, decoding,
//     a bound on the signatures a view change or new view carries, and
//     every signature verified against the validator set the core uses,
//     so the core's own checks are cache lookups. They queue what passes
//     for the driver loop (consensusIn) and ban peers that send invalid
//     or repeated frames.
//   - admitGossip, one per GOMAXPROCS: admits gossiped transaction frames
//     into the mempool (signature recovery in parallel) and wakes the
//     driver.
//   - gossipTxs: broadcasts newly admitted transactions in frames, re-sends
//     stale ones and enforces the mempool's time-to-live.
//   - collectGarbage: runs Badger's value-log GC now and then.
//   - prune (only with node.retain_blocks set): every pruneEvery it
//     deletes the heights pruneTarget allows (below latest −
//     retain_blocks, the snapshot floor and the latest stable checkpoint
//     − pipeline_window) through chain.Store.Prune, in small Badger
//     transactions that hold the store's write lock only to commit, and
//     deletes block-file segments that hold only pruned blocks.
//   - p2p host (p2p.Host): its own goroutines — one per peer keeping the
//     connection up, stream handlers, send queues — stopped by its Close.
//   - rpc server (rpc.Server): the HTTP/websocket server, the fan-out of
//     blockNotify to subscriptions and per-subscription goroutines, stopped
//     by its Close.
//   - metrics server (when metrics.listen is set): Prometheus and pprof
//     over HTTP, stopped by its Close.
//
// # The path of a transaction
//
//  1. A client sends it over JSON-RPC (rpc → backend.SendTx → mempool.AddTx),
//     or a peer gossips it (admitGossip → mempool.AddRelayed); the mempool checks it and queues
//     it by sender and nonce, and the driver is woken (txWake).
//  2. gossipTxs sends it to every validator, whose mempools admit it too.
//  3. The primary's driver reaps it into a block (the proposer, once the
//     core offers a slot) and proposes it; the core signs a PrePrepare,
//     which the driver persists and then sends.
//  4. The validators' cores exchange Prepare and Commit; q matching commits
//     are the block's commit certificate, and each core delivers the block
//     in Ready.Committed.
//  5. The driver hands it to the executor loop, which applies it with its
//     certificate in one Badger transaction, reports the appHash back to
//     the core, and calls mempool.Update (dropping committed transactions,
//     re-checking nonces).
//  6. blockNotify wakes the rpc server, which publishes the block and its
//     receipts to websocket subscribers; eth_getTransactionReceipt finds it.
package node
