package driver

import (
	"fmt"
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
)

// proposer decides when the primary turns the slot the core offers into a
// block: at once when a full block is waiting; when fewer transactions
// are, after the batch delay if no earlier proposal is in flight, else
// once the earlier height commits; and — only with CreateEmptyBlocks —
// after the empty-block interval when none are. It reads time only from
// the driver's clock and, instead of a timer, records when it next wants
// to be poked (NextPoke).
type proposer struct {
	d         *Driver
	slot      *ordering.ProposalSlot
	slotSince time.Time // when the current slot was first offered
	lastBlock time.Time // when this node last proposed
	pokeAt    time.Time // when the rules next say to propose, if armed
	armed     bool
}

// offer records the slot of the latest Ready (nil when there is none).
func (p *proposer) offer(slot *ordering.ProposalSlot) {
	if slot == nil {
		p.slot = nil
		return
	}
	if p.slot == nil || *p.slot != *slot {
		p.slotSince = p.d.d.Clock.Now()
	}
	p.slot = slot
}

// poke proposes now if the rules say so, or records when they will.
func (p *proposer) poke() {
	p.armed = false
	if p.slot == nil {
		return
	}
	cfg := p.d.cfg
	avail := p.d.d.Mempool.NumReapable()
	now := p.d.d.Clock.Now()
	var wait time.Duration
	switch {
	case avail >= cfg.MaxBlockTxs:
	case avail > 0 && p.pipelineBusy():
		return // the next commit pokes again: fill the block meanwhile
	case avail > 0:
		wait = cfg.BatchDelay - now.Sub(p.slotSince)
	case cfg.CreateEmptyBlocks:
		wait = cfg.EmptyBlockInterval - now.Sub(p.lastBlock)
	default:
		return
	}
	if wait > 0 {
		p.pokeAt, p.armed = now.Add(wait), true
		return
	}
	if err := p.propose(now); err != nil {
		p.d.log.Error("propose", "err", err)
	}
}

// pipelineBusy reports whether an earlier height this node proposed is
// still uncommitted. A partial block then waits until that height commits
// (or the block fills): the chain is busy anyway, and fewer, fuller blocks
// cost fewer synced writes and consensus rounds per transaction. An idle
// pipeline proposes a partial block after the batch delay.
func (p *proposer) pipelineBusy() bool {
	return p.slot.Height > p.d.d.Core.SoftState().Committed+1
}

func (p *proposer) propose(now time.Time) error {
	cfg, slot, pool := p.d.cfg, p.slot, p.d.d.Mempool
	batch := pool.Reap(cfg.MaxBlockTxs, cfg.MaxBlockBytes)
	b := &chain.Block{
		Header: chain.Header{
			Height:         slot.Height,
			ParentHash:     slot.ParentHash,
			Timestamp:      max(unixMs(now), slot.ParentTimestamp+1),
			Proposer:       cfg.Proposer,
			AppHash:        slot.AppHash,
			ValidatorsHash: cfg.ValidatorsHash,
		},
		Txs:     batch.Txs,
		Senders: batch.Senders,
	}
	if b.Txs == nil {
		b.Txs, b.Senders = [][]byte{}, []chain.Address{}
	}
	b.Header.TxRoot = b.ComputeTxRoot() // memoizes the hashes for the core and the executor
	if err := p.d.d.Core.Propose(b); err != nil {
		pool.Release(batch.Hashes)
		p.slot = nil
		return fmt.Errorf("propose block %d: %w", slot.Height, err)
	}
	p.slot, p.lastBlock = nil, now
	p.d.log.Debug("proposed block", "height", slot.Height, "view", slot.View, "txs", len(b.Txs))
	return nil
}
