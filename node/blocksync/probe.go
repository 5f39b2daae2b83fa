package blocksync

import (
	"context"
	"fmt"
	"sync"
)

// maxStatusBytes bounds a status response: a certificate with one
// signature per validator, far below this for any realistic set.
const maxStatusBytes = 1 << 20

// PeerHeight is one peer's answer to a status request.
type PeerHeight struct {
	Peer   int
	Height uint64 // verified: the peer holds a valid certificate for it
	View   uint64 // the view of that certificate (0 at genesis)
	// Earliest is the lowest height whose block the peer says it holds
	// (1 unless it pruned older blocks or started from a snapshot). Like
	// Height before its certificate, it is a claim.
	Earliest uint64
	Err      error // the request failed or the answer did not verify
}

// Probe asks every peer for its status in parallel and returns the
// answers in peers' order. A height counts only when the peer's latest
// certificate verifies and is for that height, so no peer can claim a
// height the network never reached. Each request ends with ctx.
func Probe(ctx context.Context, r Requester, v *Verifier, peers []int) []PeerHeight {
	out := make([]PeerHeight, len(peers))
	req := EncodeRequest(&Request{Version: ProtocolVersion, Kind: KindStatus})
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, view, earliest, err := probeOne(ctx, r, v, p, req)
			out[i] = PeerHeight{Peer: p, Height: h, View: view, Earliest: earliest, Err: err}
		}()
	}
	wg.Wait()
	return out
}

// probeOne returns the peer's verified height, its certificate's view and
// the earliest height the peer says it holds.
func probeOne(ctx context.Context, r Requester, v *Verifier, peer int, req []byte) (height, view, earliest uint64, err error) {
	raw, err := r.Request(ctx, peer, req)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("status of peer %d: %w", peer, err)
	}
	resp, err := DecodeResponse(raw, ResponseLimits{MaxBytes: maxStatusBytes})
	if err != nil {
		return 0, 0, 0, fmt.Errorf("status of peer %d: %w", peer, err)
	}
	if resp.Height == 0 {
		return 0, 0, resp.holdsFrom(), nil
	}
	c := resp.Latest
	if c == nil || c.Height != resp.Height {
		return 0, 0, 0, fmt.Errorf("status of peer %d: %w: height %d without its certificate", peer, ErrBadCertificate, resp.Height)
	}
	if err := c.Verify(v.chainID, v.vs); err != nil {
		return 0, 0, 0, fmt.Errorf("status of peer %d: %w: %w", peer, ErrBadCertificate, err)
	}
	return resp.Height, c.View, resp.holdsFrom(), nil
}

// MaxHeight returns the highest verified height among answers without an
// error, and how many peers answered.
func MaxHeight(answers []PeerHeight) (height uint64, answered int) {
	for _, a := range answers {
		if a.Err == nil {
			height = max(height, a.Height)
			answered++
		}
	}
	return height, answered
}
