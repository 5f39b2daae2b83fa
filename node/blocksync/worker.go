package blocksync

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// errEmptyResponse is a peer's answer with no block although it claims the
// height asked for.
var errEmptyResponse = errors.New("blocksync: no blocks although the peer claims them")

// result is the outcome of one request.
type result struct {
	id     uint64
	items  []Item
	bytes  int
	height uint64 // the height the peer claimed
	// earliest is the lowest height the peer holds, from its response or
	// its ErrPruned answer (0: from 1).
	earliest uint64
	err      error
}

// fetch asks req.peer for req.span and verifies the answer. It runs on its
// own goroutine, so verification of several ranges runs in parallel.
func (f *Fetcher) fetch(ctx context.Context, req request) result {
	ctx, cancel := context.WithTimeout(ctx, f.lim.RequestTimeout)
	defer cancel()
	enc := EncodeRequest(&Request{
		Version: ProtocolVersion, Kind: KindBlocks,
		From: req.span.from, Count: req.span.len(), MaxBytes: uint64(f.lim.MaxResponseBytes),
	})
	raw, err := f.cfg.Requester.Request(ctx, req.peer, enc)
	if err != nil {
		return result{id: req.id, err: fmt.Errorf("request %d..%d: %w", req.span.from, req.span.to, err)}
	}
	items, resp, err := f.check(raw, req.span)
	if err != nil {
		return result{id: req.id, err: err}
	}
	return result{id: req.id, items: items, bytes: len(raw), height: resp.Height, earliest: resp.Earliest}
}

// check decodes and verifies a response to a request for sp.
func (f *Fetcher) check(raw []byte, sp span) ([]Item, *Response, error) {
	n := int(sp.len())
	resp, err := DecodeResponse(raw, ResponseLimits{
		MaxBytes: f.lim.MaxResponseBytes, MaxBlocks: n, MaxCheckpoints: n, MaxCheckpointBytes: f.lim.MaxCheckpointBytes,
	})
	if err != nil {
		return nil, nil, err
	}
	hashes, err := f.v.VerifyRange(resp.Blocks, sp.from, f.lim.VerifyParallelism)
	if err != nil {
		return nil, nil, err
	}
	items := make([]Item, len(resp.Blocks))
	for i := range resp.Blocks {
		items[i] = Item{Block: &resp.Blocks[i].Block, Certificate: &resp.Blocks[i].Certificate, Hash: hashes[i]}
	}
	for _, enc := range resp.Checkpoints {
		p, err := f.v.DecodeCheckpoint(enc)
		if err != nil {
			return nil, nil, err
		}
		if p.Height < sp.from || p.Height-sp.from >= uint64(len(items)) {
			return nil, nil, fmt.Errorf("%w: height %d outside the blocks sent", ErrBadCheckpoint, p.Height)
		}
		it := &items[p.Height-sp.from]
		if it.Checkpoint != nil {
			return nil, nil, fmt.Errorf("%w: two proofs at height %d", ErrBadCheckpoint, p.Height)
		}
		if p.BlockHash != it.Hash {
			return nil, nil, fmt.Errorf("%w: proof at %d is for block %s, block is %s", ErrBadCheckpoint, p.Height, p.BlockHash, it.Hash)
		}
		it.Checkpoint = p
	}
	return items, resp, nil
}

// handle applies a finished request's outcome.
func (f *Fetcher) handle(ctx context.Context, r result, now time.Time) {
	req := f.sched.complete(r.id)
	pruned, isPruned := PrunedEarliest(r.err)
	switch {
	case r.err != nil && ctx.Err() != nil:
		f.sched.requeue(req.span) // stopping: not the peer's fault
	case isPruned:
		// An honest answer: the peer no longer holds the range. Ask the
		// others for it; the peer stays in for later ranges.
		f.sched.requeue(req.span)
		f.sched.noteEarliest(req.peer, max(pruned, req.span.from+1))
		f.log.Info("sync peer has pruned the range", "peer", req.peer, "from", req.span.from, "peer_earliest", pruned)
		if !f.sched.anyHolds(req.span.from) {
			f.log.Warn("no sync peer holds the next blocks: all have pruned them; this node needs state sync",
				"height", req.span.from)
		}
	case r.err != nil:
		f.sched.requeue(req.span)
		f.fault(req.peer, req.span, r.err, now)
	case len(r.items) == 0 && r.height < req.span.from:
		f.sched.requeue(req.span)
		f.sched.noteHeight(req.peer, r.height)
		f.sched.leaveOut(req.peer, now.Add(f.lim.BehindRetry))
		f.log.Debug("sync peer is behind", "peer", req.peer, "peer_height", r.height, "wanted", req.span.from)
	case len(r.items) == 0:
		f.sched.requeue(req.span)
		f.fault(req.peer, req.span, fmt.Errorf("%w: asked %d..%d, peer height %d", errEmptyResponse, req.span.from, req.span.to, r.height), now)
	default:
		for i := range r.items {
			r.items[i].Peer = req.peer
		}
		f.sched.noteHeight(req.peer, r.height)
		f.sched.noteEarliest(req.peer, r.earliest)
		f.sched.accept(req, r.items, r.bytes)
	}
}

// fault leaves a peer out for the cool-down after it failed a range.
func (f *Fetcher) fault(peer int, sp span, err error, now time.Time) {
	f.sched.leaveOut(peer, now.Add(f.lim.PeerCooldown))
	f.mu.Lock()
	f.status.Faults++
	f.mu.Unlock()
	f.log.Warn("sync peer dropped for a cool-down", "peer", peer, "from", sp.from, "to", sp.to, "cooldown", f.lim.PeerCooldown, "err", err)
}
