// Package driver owns an ordering core and carries out what it asks. It is
// the one driver of bafomet: the node wires it to a Badger-backed consensus
// log, libp2p, the mempool, the executor loop and block sync; the seeded
// simulator (ordering/sim) wires the same Driver to simulated ones, so the
// simulator checks the code that runs.
//
// A Driver handles one input at a time — Tick, Step, StepSynced, Executed,
// TxArrived, Poke — and after each drains the core's Ready in the order
// ordering/doc.go demands:
//
//  1. persist rd.Persist with one durable Log.Append, before any message
//     leaves; if the append fails the driver stops without sending;
//  2. send rd.Messages, each encoded once, through the Transport; a
//     message whose encoding exceeds Config.MaxFrameBytes is logged,
//     counted (Stats.Oversize) and not sent;
//  3. hand rd.Committed to the Executor, which executes asynchronously and
//     reports back through Driver.Executed;
//  4. store rd.Stable and prune the log below it; report evidence and the
//     soft state (a new view returns voided proposals to the mempool; a
//     core that is behind hints block sync);
//  5. Advance, then offer rd.Propose to the proposer.
//
// The handling path starts no goroutine, reads time only through the
// Clock and does I/O only through the interfaces in ports.go, so a
// simulator can call it directly and deterministically. An error it
// cannot survive (a failed append, checkpoint store or execution, a state
// that contradicts a synced checkpoint) stops it: the error wraps
// ErrStopped and every later input returns it.
//
// The proposer does not own a timer: NextPoke says when it next wants
// Poke called. Run is the node's loop around a Driver (one goroutine
// selecting on ticks, messages, synced blocks, executor results, mempool
// wake-ups and the proposer's timer), and ExecLoop the node's asynchronous
// executor behind an Applier.
package driver
