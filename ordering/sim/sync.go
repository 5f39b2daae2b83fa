package sim

import (
	"fmt"

	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain"
)

// syncRequest asks a peer for committed blocks above From.
type syncRequest struct {
	From uint64
}

// syncResponse carries committed blocks with their certificates, in height
// order starting at From+1.
type syncResponse struct {
	From   uint64
	Blocks []*chain.Block
	Certs  []*chain.Certificate
}

// needsSync reports whether n should ask a peer for blocks now: after a
// restart, when its driver hinted that the core is behind, or when it has
// waited a long time without executing anything while holding
// transactions.
func (s *Sim) needsSync(n *node) bool {
	if s.now < n.lastSync+s.cfg.SyncCooldownTicks && n.lastSync != 0 {
		return false
	}
	if n.syncing {
		return true
	}
	if n.syncHint > n.store.height() {
		return true
	}
	stall := 4 * uint64(s.cfg.ViewChangeTimeout)
	return n.pool.pending > 0 && s.now > n.lastProgress+stall
}

// requestSync sends a sync request to a random peer slot of another
// identity.
func (s *Sim) requestSync(n *node) {
	peers := s.targets(n, -1)
	if len(peers) == 0 {
		n.syncing = false
		return
	}
	to := peers[s.rng.IntN(len(peers))]
	payload, err := rlp.EncodeToBytes(&syncRequest{From: n.store.height()})
	if err != nil {
		s.fail(fmt.Errorf("encode sync request: %w", err))
		return
	}
	n.lastSync = max(s.now, 1)
	s.stats.SyncRequests++
	s.net.send(s.now, n.slot, to, kindSyncReq, payload)
}

// serveSync answers a sync request from slot from with up to
// MaxSyncBlocks blocks. A silent or withholding Byzantine node does not
// answer.
func (s *Sim) serveSync(n *node, from int, payload []byte) {
	var req syncRequest
	if err := rlp.DecodeBytes(payload, &req); err != nil {
		s.logf("slot %d: bad sync request from %d: %v", n.slot, from, err)
		return
	}
	if n.byz != nil && (n.byz.silentNow || n.byz.attacks&AttackWithhold != 0) {
		return // silent, or withholding what only it may hold
	}
	blocks, certs := n.store.certified(req.From, s.cfg.MaxSyncBlocks)
	if len(blocks) == 0 {
		return
	}
	if n.byz != nil && n.byz.attacks&AttackForgeSync != 0 {
		blocks = forgeBlocks(blocks)
		s.stats.ByzantineOut++
	}
	resp, err := rlp.EncodeToBytes(&syncResponse{From: req.From, Blocks: blocks, Certs: certs})
	if err != nil {
		s.fail(fmt.Errorf("encode sync response: %w", err))
		return
	}
	s.net.send(s.now, n.slot, from, kindSyncResp, resp)
}

// applySync feeds the blocks of a sync response that follow the node's
// committed height to its driver, while its executor's backlog has room.
// A full response asks for more at once.
func (s *Sim) applySync(n *node, payload []byte) {
	var resp syncResponse
	if err := rlp.DecodeBytes(payload, &resp); err != nil {
		s.logf("slot %d: bad sync response: %v", n.slot, err)
		return
	}
	if len(resp.Blocks) != len(resp.Certs) {
		s.logf("slot %d: sync response with %d blocks and %d certificates", n.slot, len(resp.Blocks), len(resp.Certs))
		return
	}
	for i, b := range resp.Blocks {
		if b.Header.Height <= max(n.store.height(), n.soft.Committed) {
			continue
		}
		if !n.drv.AcceptsSynced() {
			break // the executor's backlog is full: ask again later
		}
		err := n.drv.StepSynced(b, resp.Certs[i], nil)
		s.feed(n, err)
		if err != nil || !n.up {
			break
		}
	}
	if !n.up {
		return
	}
	n.syncing = false
	if len(resp.Blocks) == s.cfg.MaxSyncBlocks {
		s.requestSync(n)
	}
}
