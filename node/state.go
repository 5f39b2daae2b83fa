package node

import (
	"errors"
	"fmt"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/mempool"
)

// committedState is the mempool's view of committed state: nonces from the
// store and the application's admission check against the latest view.
type committedState struct {
	store func() *chain.Store // the node's current store
	app   chain.Application
}

var (
	_ mempool.State     = (*committedState)(nil)
	_ mempool.Rechecker = (*committedState)(nil)
)

// NextNonce returns addr's next nonce in committed state.
func (s *committedState) NextNonce(addr chain.Address) (uint64, error) {
	return s.store().Nonce(addr)
}

// CheckTx runs the application's admission check against the latest
// committed state. ctx.Height is the mempool's next height; the view opens
// its Badger transaction only if the application reads state, so a check
// that reads nothing (kv) never waits for a block commit in flight.
func (s *committedState) CheckTx(ctx chain.TxContext, payload []byte) error {
	v, err := s.store().StateView()
	if err != nil {
		return fmt.Errorf("open state view: %w", err)
	}
	defer v.Close()
	return s.app.CheckTx(ctx, payload, v)
}

// RecheckScope forwards the application's re-check scope to the mempool.
func (s *committedState) RecheckScope() chain.RecheckScope { return chain.RecheckScopeOf(s.app) }

// proposalChecker validates the contents of a proposed block on a backup:
// every transaction decodes within the size limit, is for this chain, and
// was signed by the sender the block names (mempool.VerifyBatch, whose
// limit and chain id are the genesis ones). Transactions already known to
// the mempool cost neither decoding nor signature recovery.
type proposalChecker struct {
	pool *mempool.Mempool
}

// Errors returned by CheckProposal.
var (
	errProposalSenders = errors.New("proposal names the wrong sender")
	errProposalTx      = errors.New("proposal holds an invalid transaction")
)

// CheckProposal implements ordering.ProposalChecker.
func (p *proposalChecker) CheckProposal(b *chain.Block) error {
	if len(b.Txs) != len(b.Senders) {
		return fmt.Errorf("%w: %d transactions, %d senders", chain.ErrSendersMismatch, len(b.Txs), len(b.Senders))
	}
	senders, err := p.pool.VerifyBatch(b)
	if err != nil {
		return fmt.Errorf("%w: %v", errProposalTx, err)
	}
	for i, s := range senders {
		if s != b.Senders[i] {
			return fmt.Errorf("%w: tx %d signed by %s, block says %s", errProposalSenders, i, s, b.Senders[i])
		}
	}
	return nil
}
