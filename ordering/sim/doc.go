// Package sim is bafomet's seeded consensus simulator: n real ordering
// cores in one process over a virtual network and a virtual clock, with
// network faults (delay, loss, duplication, reordering, partitions,
// swizzle-clogging), node faults (crash and restart from persisted records,
// clock skew, slow nodes), Byzantine validators (scripted attacks or twins)
// and block sync, all driven by one *rand.Rand seeded from Config.Seed.
//
// Each node is driven exactly as the real node drives its core: after every
// input, persist Ready.Persist, send Ready.Messages (encoded to bytes and
// decoded by each receiver), execute Ready.Committed with a fake state
// machine and report Executed, then Advance.
//
// The invariants — agreement, validity, certificate validity, liveness
// after healing, no honest equivocation, in-order delivery — are checked in
// the step whose events could break them. A violation names the seed and
// step; Run with the same Config reproduces the run byte for byte.
//
//	r, err := sim.Run(sim.Config{Seed: 7, Nodes: 4, Byzantine: 1, Blocks: 20,
//		Faults: sim.DefaultFaults(1)}, sim.Options{})
//
// docs/simulation.md describes the model, the invariants and `bafomet sim`.
package sim
