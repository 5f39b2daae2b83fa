package p2p

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// keepConnected is the one goroutine per peer that keeps the connection up.
//
// Dialling policy: both sides of every validator pair dial each other
// whenever they are not connected. A simultaneous dial can leave two
// connections between a pair; libp2p uses either for new streams and the
// hello and frame streams do not care which, so nothing needs to break the
// tie. In exchange a pair reconnects as soon as either side can reach the
// other, and a peer listed without addresses (or with a stale one) is still
// reached when it dials us. Followers are never dialled.
//
// After a failed dial or hello the keeper waits an exponentially growing,
// jittered delay from Limits.BackoffMin up to Limits.BackoffMax, which
// only a connection from the peer cuts short; a success resets it. While connected it re-runs the hello every
// Limits.StatusInterval to refresh the peer's height. While the peer is
// banned (Host.Ban) the keeper only waits for the ban to end.
func (h *Host) keepConnected(p *peerState) {
	delay := h.lim.BackoffMin
	for {
		wait, failed := h.lim.StatusInterval, false
		if banned := p.bannedFor(now()); banned > 0 {
			p.setDown() // neither dial nor greet it until the ban ends
			wait = banned
		} else if err := h.ensure(p); err != nil {
			if h.ctx.Err() != nil {
				return
			}
			h.log.Debug("p2p: peer unreachable", "peer", p.index, "id", p.id, "retry_in", delay, "err", err)
			wait = jitter(delay, rand.Int64N)
			delay = nextBackoff(delay, h.lim.BackoffMax)
			// A failure waits out its delay unless the peer connects
			// meanwhile: a connection the other side closes at once (it
			// refuses or bans this node) wakes the keeper too, and must
			// not make it redial in a tight loop.
			failed = true
		} else {
			delay = h.lim.BackoffMin
		}
		if !h.sleep(p, wait, failed) {
			return
		}
	}
}

// sleep waits for d, or for a wake-up of p's keeper; after a failure
// (backoff) only a wake-up that finds p connected counts. It reports false
// when the host is closing.
func (h *Host) sleep(p *peerState, d time.Duration, backoff bool) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return false
		case <-timer.C:
			return true
		case <-p.wake:
			if !backoff || h.host.Network().Connectedness(p.id) == network.Connected {
				return true
			}
		}
	}
}

// ensure dials p if it is not connected (and has addresses), then runs the
// hello if it is due.
func (h *Host) ensure(p *peerState) error {
	if h.host.Network().Connectedness(p.id) != network.Connected {
		p.setDown()
		if len(p.addrs) == 0 || !p.validator {
			return nil
		}
		if err := h.dial(p); err != nil {
			return err
		}
	}
	if !p.helloDue(now(), h.lim.StatusInterval) {
		return nil
	}
	return h.sayHello(h.ctx, p)
}

func (h *Host) dial(p *peerState) error {
	ctx, cancel := context.WithTimeout(h.ctx, h.lim.DialTimeout)
	defer cancel()
	// Force a direct dial: our own backoff replaces the swarm's, which
	// would otherwise refuse to redial a restarted peer for minutes.
	ctx = network.WithForceDirectDial(ctx, "bafomet keeper")
	if err := h.host.Connect(ctx, peer.AddrInfo{ID: p.id, Addrs: p.addrs}); err != nil {
		h.ctr.dialFailures.Add(1)
		return fmt.Errorf("dialling validator %d: %w", p.index, err)
	}
	return nil
}

// nextBackoff doubles d, capped at limit.
func nextBackoff(d, limit time.Duration) time.Duration {
	if d >= limit/2 {
		return limit
	}
	return 2 * d
}
