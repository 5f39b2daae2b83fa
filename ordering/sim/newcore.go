package sim

import "github.com/bafomet/bafomet/ordering"

// newCore is the default ReplicaFactory: the real PBFT core.
func newCore(cfg ordering.Config, r ordering.Restore) (Replica, error) {
	return ordering.New(cfg, r)
}
