package node

import (
	"fmt"
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
)

// proposer decides when the primary turns the slot the core offers into a
// block: at once when a full block is waiting; when fewer transactions are,
// after the batching delay if no earlier proposal is in flight, else once
// the earlier height commits; and — only with create_empty_blocks — after
// the empty-block interval when none are. It runs on the driver goroutine.
type proposer struct {
	n         *Node
	timer     *time.Timer
	slot      *ordering.ProposalSlot
	slotSince time.Time // when the current slot was first offered
	lastBlock time.Time // when this node last proposed
}

func newProposer(n *Node) *proposer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &proposer{n: n, timer: t, lastBlock: time.Now()}
}

func (p *proposer) stop() { p.timer.Stop() }

// offer records the slot of the latest Ready (nil when there is none).
func (p *proposer) offer(slot *ordering.ProposalSlot) {
	if slot == nil {
		p.slot = nil
		return
	}
	if p.slot == nil || *p.slot != *slot {
		p.slotSince = time.Now()
	}
	p.slot = slot
}

// poke proposes now if the rules say so, or arms the timer for when they
// will.
func (p *proposer) poke() error {
	if p.slot == nil {
		return nil
	}
	cons := p.n.cfg.Consensus
	avail := p.n.pool.NumReapable()
	now := time.Now()
	var wait time.Duration
	switch {
	case avail >= int(p.n.gen.Consensus.MaxBlockTxs):
	case avail > 0 && p.pipelineBusy():
		return nil // the next commit pokes again: fill the block meanwhile
	case avail > 0:
		wait = cons.BatchDelay - now.Sub(p.slotSince)
	case cons.CreateEmptyBlocks:
		wait = cons.EmptyBlockInterval - now.Sub(p.lastBlock)
	default:
		return nil
	}
	if wait > 0 {
		p.timer.Reset(wait)
		return nil
	}
	return p.propose(now)
}

// pipelineBusy reports whether an earlier height this node proposed is
// still uncommitted. A partial block then waits until that height commits
// (or the block fills): the chain is busy anyway, and fewer, fuller blocks
// cost fewer synced writes and consensus rounds per transaction. An idle
// pipeline proposes a partial block after the batch delay as before.
func (p *proposer) pipelineBusy() bool {
	return p.slot.Height > p.n.core.SoftState().Committed+1
}

func (p *proposer) propose(now time.Time) error {
	n, slot := p.n, p.slot
	g := n.gen.Consensus
	batch := n.pool.Reap(int(g.MaxBlockTxs), int(g.MaxBlockBytes))
	b := &chain.Block{
		Header: chain.Header{
			Height:         slot.Height,
			ParentHash:     slot.ParentHash,
			Timestamp:      max(unixMs(now), slot.ParentTimestamp+1),
			Proposer:       n.vals.Validator(n.self).Address,
			AppHash:        slot.AppHash,
			ValidatorsHash: n.vals.Hash(),
		},
		Txs:     batch.Txs,
		Senders: batch.Senders,
	}
	if b.Txs == nil {
		b.Txs, b.Senders = [][]byte{}, []chain.Address{}
	}
	b.Header.TxRoot = b.ComputeTxRoot() // memoizes the hashes for the core and the executor
	if err := n.core.Propose(b); err != nil {
		n.pool.Release(batch.Hashes)
		p.slot = nil
		return fmt.Errorf("propose block %d: %w", slot.Height, err)
	}
	p.slot, p.lastBlock = nil, now
	n.log.Debug("proposed block", "height", slot.Height, "view", slot.View, "txs", len(b.Txs))
	return nil
}
