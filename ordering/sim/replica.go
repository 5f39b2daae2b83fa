package sim

import (
	"github.com/bafomet/bafomet/ordering"
	"github.com/bafomet/bafomet/ordering/driver"
)

// Replica is what each simulated node's driver owns: the method set of
// *ordering.Core (see the contract in ordering/api.go). Tests substitute
// scripted replicas to check the driver and the simulator themselves.
type Replica = driver.Core

// ReplicaFactory starts a replica from a config and persisted state.
type ReplicaFactory func(cfg ordering.Config, r ordering.Restore) (Replica, error)
