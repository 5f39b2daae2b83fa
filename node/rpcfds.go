package node

// Descriptors: every RPC connection holds a file descriptor, and so do
// p2p streams, the store's files and the metrics listener. RPC clients
// get at most half of the process's RLIMIT_NOFILE (Go raises the soft
// limit to the hard one at start), whatever rpc.max_connections says, so
// that however many clients connect, the other half stays for p2p,
// consensus and the store.

// rpcConnLimit returns rpc.max_connections, lowered to half of
// RLIMIT_NOFILE when that is smaller (logged as a warning).
func (n *Node) rpcConnLimit() int {
	configured := n.cfg.RPC.MaxConnections
	nofile, err := openFileLimit()
	if err != nil {
		n.log.Warn("cannot read RLIMIT_NOFILE; rpc.max_connections applies as configured", "err", err)
		return configured
	}
	limit := rpcConnBudget(configured, nofile)
	if limit < configured {
		n.log.Warn("rpc.max_connections lowered to half of the open-file limit, so that RPC clients cannot starve p2p and consensus of descriptors",
			"configured", configured, "rlimit_nofile", nofile, "max_connections", limit)
	}
	return limit
}

// rpcConnBudget is configured, capped at half of nofile (at least 1).
// nofile 0 means unknown or unlimited.
func rpcConnBudget(configured int, nofile uint64) int {
	if nofile == 0 {
		return configured
	}
	half := max(nofile/2, 1)
	if uint64(configured) > half {
		return int(half)
	}
	return configured
}
