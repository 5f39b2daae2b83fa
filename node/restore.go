package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
)

// consensusQueueLen bounds decoded consensus messages waiting for the
// driver; the p2p inbound queue in front of it is bounded too.
const consensusQueueLen = 1024

// newCore builds the ordering core's configuration from genesis and config,
// and restores it from the store: the executed chain, the latest stable
// checkpoint and every message this node signed since.
func (n *Node) newCore(ctx context.Context) (*ordering.Core, error) {
	restore, err := n.restoreState()
	if err != nil {
		return nil, fmt.Errorf("restore consensus state: %w", err)
	}
	if err := n.guardWipedStart(ctx, &restore); err != nil {
		return nil, fmt.Errorf("guard lost consensus records: %w", err)
	}
	if err := n.markRunning(); err != nil {
		return nil, err
	}
	core, err := ordering.New(n.coreConfig(), restore)
	if err != nil {
		return nil, fmt.Errorf("start ordering core: %w", err)
	}
	return core, nil
}

func (n *Node) coreConfig() ordering.Config {
	g := n.gen.Consensus
	base, maxTimeout := n.cfg.ViewChangeTimeouts(n.gen)
	return ordering.Config{
		ChainID:              n.gen.ChainID,
		Validators:           n.vals,
		Self:                 n.self,
		Signer:               ordering.NewKeySigner(n.key),
		Checker:              &proposalChecker{pool: n.pool},
		CheckpointInterval:   g.CheckpointInterval,
		PipelineWindow:       g.PipelineWindow,
		MaxBlockTxs:          int(g.MaxBlockTxs),
		MaxBlockBytes:        int(g.MaxBlockBytes),
		ViewChangeTimeout:    n.ticks(base),
		ViewChangeTimeoutMax: n.ticks(maxTimeout),
		MaxClockDriftMs:      g.MaxClockDriftMs,
	}
}

// ticks converts a duration to a whole number of ticks, at least one.
func (n *Node) ticks(d time.Duration) int {
	return max(1, int(d/n.cfg.Consensus.TickInterval))
}

// restoreCertificates reads the commit certificates of the executed
// heights above the stable checkpoint, at most a log window of them: view
// changes certify every height committed above the checkpoint.
func (n *Node) restoreCertificates(h uint64, stable *ordering.CheckpointProof) ([]*chain.Certificate, error) {
	low := h - min(h, ordering.DefaultLogWindowFactor*n.gen.Consensus.CheckpointInterval)
	if stable != nil {
		low = max(low, min(stable.Height, h))
	}
	var certs []*chain.Certificate
	for i := low + 1; i <= h; i++ {
		cert, err := n.store().Certificate(i)
		if err != nil {
			return nil, fmt.Errorf("certificate of %d: %w", i, err)
		}
		certs = append(certs, cert)
	}
	return certs, nil
}

// restoreState reads what the core needs from the store.
func (n *Node) restoreState() (ordering.Restore, error) {
	h := n.height.Load()
	r := ordering.Restore{Height: h, BlockHash: n.genesisHash, BlockTimestamp: n.gen.TimestampMs()}
	if h > 0 {
		b, hash, err := n.store().LatestBlock()
		if err != nil {
			return r, err
		}
		r.BlockHash, r.BlockTimestamp = hash, b.Header.Timestamp
	}
	w := n.gen.Consensus.PipelineWindow
	for i := h - min(h, w-1); i <= h; i++ {
		ah, err := n.store().AppHashAt(i)
		if err != nil {
			return r, fmt.Errorf("appHash at %d: %w", i, err)
		}
		r.AppHashes = append(r.AppHashes, ordering.AppHashAt{Height: i, AppHash: ah})
	}
	if _, enc, err := n.store().LatestCheckpoint(); err == nil {
		var p ordering.CheckpointProof
		if err := rlp.DecodeBytes(enc, &p); err != nil {
			return r, fmt.Errorf("decode stored checkpoint: %w", err)
		}
		r.Stable = &p
	} else if !errors.Is(err, chain.ErrNotFound) {
		return r, err
	}
	certs, err := n.restoreCertificates(h, r.Stable)
	if err != nil {
		return r, err
	}
	r.Certificates = certs
	for i, rec := range n.walRecords {
		m, err := ordering.DecodeMessage(rec.Data, 0)
		if err != nil {
			return r, fmt.Errorf("decode consensus record %d of %s: %w", i, n.cfg.WALPath(), err)
		}
		r.Records = append(r.Records, m)
	}
	n.walRecords = nil // the core has them now
	return r, nil
}
