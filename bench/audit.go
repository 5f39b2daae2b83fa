package bench

import (
	"context"
	"errors"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/client"
	"github.com/bafomet/bafomet/rpc"
)

// DefaultAuditSample bounds how many transactions still outstanding after
// the drain the run looks up with chain_getTransaction, to say where they
// are (pending, queued behind a gap, dropped and why, unknown).
const DefaultAuditSample = 200

// sample returns up to n outstanding transactions (an arbitrary subset).
func (t *tracker) sample(n int) map[chain.Hash]inflight {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[chain.Hash]inflight, min(n, len(t.pending)))
	for h, p := range t.pending {
		if len(out) == n {
			break
		}
		out[h] = p
	}
	return out
}

// audit asks the node each sampled outstanding transaction was sent to
// where it is, and counts the answers: the status ("pending", "queued",
// "committed" — a block the follower missed), "dropped: <reason>",
// "unknown" when the node has never heard of it, or "lookup failed".
func (r *runner) audit(ctx context.Context) map[string]int {
	counts := map[string]int{}
	for h, p := range r.tr.sample(r.cfg.AuditSample) {
		res, err := r.clients[p.sender.target].Transaction(ctx, h)
		if errors.Is(err, client.ErrNotFound) {
			res, err = nil, nil
		}
		counts[auditLabel(res, err)]++
	}
	if len(counts) == 0 {
		return nil
	}
	return counts
}

func auditLabel(res *rpc.TxResult, err error) string {
	switch {
	case err != nil:
		return "lookup failed"
	case res == nil:
		return "unknown"
	case res.Status == rpc.TxDropped && res.Reason != nil:
		return "dropped: " + *res.Reason
	}
	return string(res.Status)
}
