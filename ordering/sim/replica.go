package sim

import (
	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
)

// Replica is what the simulator drives: the method set of *ordering.Core
// (see the contract in ordering/api.go). Tests substitute scripted replicas
// to check the driver itself.
type Replica interface {
	Step(m *ordering.Message) error
	Tick(nowMs uint64)
	Propose(b *chain.Block) error
	Executed(height uint64, appHash chain.Hash)
	NotePending(pending bool)
	StepCertified(b *chain.Block, c *chain.Certificate) error
	HasReady() bool
	Ready() ordering.Ready
	Advance(rd ordering.Ready)
}

// ReplicaFactory starts a replica from a config and persisted state.
type ReplicaFactory func(cfg ordering.Config, r ordering.Restore) (Replica, error)
