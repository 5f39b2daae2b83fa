package bench

import (
	"context"
	"time"
)

// senderLoop submits s's transactions in nonce order until stop ends or
// it runs out: it takes a window slot per transaction (released when the
// transaction commits or is refused for good) and, in open loop, a token.
// Requests under way when stop ends run to their answer under ctx, so that
// the end of sending loses no transaction the node took.
func (r *runner) senderLoop(ctx, stop context.Context, s *sender) {
	next := 0
	for next < len(s.txs) {
		if stop.Err() != nil {
			return // select below may pick a free slot over the end
		}
		k := min(r.cfg.Batch, len(s.txs)-next)
		if !r.acquire(stop, s, k) {
			return
		}
		r.submit(ctx, stop, s, s.txs[next:next+k])
		next += k
	}
	if stop.Err() == nil {
		r.tr.senderExhausted()
	}
}

// acquire takes k window slots and, in open loop, k tokens; on ctx's end
// it gives the slots back and returns false.
func (r *runner) acquire(ctx context.Context, s *sender, k int) bool {
	got := 0
	release := func() {
		for ; got > 0; got-- {
			<-s.slots
		}
	}
	for ; got < k; got++ {
		select {
		case s.slots <- struct{}{}:
		case <-ctx.Done():
			release()
			return false
		}
	}
	if r.tokens == nil {
		return true
	}
	for range k {
		select {
		case <-r.tokens:
		case <-ctx.Done():
			release()
			return false
		}
	}
	return true
}

// submit sends txs (holding one slot each) until each is accepted, held
// or refused for good, resending the transient refusals after RetryDelay.
// When stop ends, transactions waiting to be resent are given up and their
// slots released; when ctx ends, answers are not awaited.
func (r *runner) submit(ctx, stop context.Context, s *sender, txs []signedTx) {
	todo := txs
	for len(todo) > 0 {
		at := time.Now()
		for _, tx := range todo {
			r.tr.submitting(s, tx.hash, at)
		}
		errs := send(ctx, r.clients[s.target], r.cfg.RequestTimeout, todo)
		if ctx.Err() != nil {
			return // answers cut short by the end of sending: left outstanding
		}
		var again []signedTx
		var kinds []outcome
		for i, tx := range todo {
			reason, out := classify(errs[i])
			switch out {
			case outAccepted:
				r.tr.accept(at)
			case outHeld, outFinal:
				r.tr.refuse(tx.hash, reason, at, out)
			case outRetry:
				r.tr.refuse(tx.hash, reason, at, out)
				again, kinds = append(again, tx), append(kinds, out)
			case outTransport:
				r.tr.failed(at)
				if r.tr.isPending(tx.hash) {
					again, kinds = append(again, tx), append(kinds, out)
				}
			}
		}
		todo = again
		if len(todo) == 0 {
			return
		}
		select {
		case <-stop.Done():
			for i, tx := range todo {
				r.tr.abandon(tx.hash, s, kinds[i])
			}
			return
		case <-time.After(r.cfg.RetryDelay):
		}
	}
}
