// Package sim is bafomet's seeded consensus simulator: n real ordering
// cores, each driven by the real driver (package ordering/driver), in one
// process over a virtual network and a virtual clock, with network faults
// (delay, loss, duplication, reordering, partitions, swizzle-clogging),
// node faults (crash and restart from persisted records, including after a
// commit before the block is stored and after a record is written before
// its message leaves; clock skew; slow nodes; slow asynchronous
// execution), Byzantine validators (scripted attacks or twins) and block
// sync, all driven by one *rand.Rand seeded from Config.Seed.
//
// The simulator does not imitate the node's driver: every node runs a
// driver.Driver, and only what the driver reaches through its interfaces
// is simulated (ports.go, exec.go): the consensus log is the node's
// storage, the transport is the virtual network with the node's frame
// limit, the executor is asynchronous (blocks finish at the next tick, or
// after random delays under FaultExec) and loses its queue in a crash, and
// the clock is virtual time plus skew. The simulator calls the driver's
// handler methods directly, one input per step.
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
