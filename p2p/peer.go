package p2p

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// PeerStatus describes one configured peer, for operators and metrics.
type PeerStatus struct {
	Index     int // validator index; -1 for a follower
	ID        peer.ID
	Validator bool
	Connected bool // a connection is open and the hello check passed
	Height    uint64
	LastSeen  time.Time // last frame or hello from the peer; zero if never
	BytesIn   uint64
	BytesOut  uint64
	// DroppedIn counts the peer's consensus frames dropped because its
	// inbound queue was full or it was banned.
	DroppedIn uint64
	// BannedUntil is when the peer's ban ends; zero if it was never banned.
	BannedUntil time.Time
}

// peerState is everything the host keeps about one configured peer.
type peerState struct {
	index     int
	id        peer.ID
	addrs     []ma.Multiaddr
	validator bool
	// queues[proto] holds frames waiting for the writer of that protocol;
	// nil for followers, which are never sent to.
	queues [numStreamed]chan []byte
	// wake pokes the connection keeper (capacity 1, never blocks).
	wake chan struct{}
	// in holds consensus frames received from the peer until the host's
	// merge hands them to Inbound(); nil for followers.
	in chan Inbound

	droppedIn     atomic.Uint64
	bannedUntilNs atomic.Int64

	lastSeenNs        atomic.Int64
	bytesIn, bytesOut atomic.Uint64
	// inStreams counts the peer's open inbound consensus and tx streams.
	inStreams atomic.Int32

	mu        sync.Mutex
	verified  bool          // hello passed on the current connection
	ready     chan struct{} // closed while verified
	height    uint64        // status from the peer's last hello
	helloedAt time.Time     // when the last hello exchange succeeded
}

func newPeerState(index int, id peer.ID, addrs []ma.Multiaddr, validator bool, queueLen, inLen int) *peerState {
	p := &peerState{
		index: index, id: id, addrs: addrs, validator: validator,
		wake:  make(chan struct{}, 1),
		ready: make(chan struct{}),
	}
	if validator {
		for i := range p.queues {
			p.queues[i] = make(chan []byte, queueLen)
		}
		p.in = make(chan Inbound, inLen)
	}
	return p
}

// ban extends the peer's ban to until; it reports whether the peer was
// not banned at now.
func (p *peerState) ban(now, until time.Time) (fresh bool) {
	for {
		old := p.bannedUntilNs.Load()
		if old >= until.UnixNano() {
			return false
		}
		if p.bannedUntilNs.CompareAndSwap(old, until.UnixNano()) {
			return old <= now.UnixNano()
		}
	}
}

// bannedFor returns how long the peer's ban still runs at now; 0 if it is
// not banned.
func (p *peerState) bannedFor(now time.Time) time.Duration {
	return max(0, time.Duration(p.bannedUntilNs.Load()-now.UnixNano()))
}

// poke wakes the connection keeper without blocking.
func (p *peerState) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// openInbound takes one of the peer's max inbound stream slots; it reports
// false, taking none, when all are in use. closeInbound gives it back.
func (p *peerState) openInbound(max int) bool {
	if p.inStreams.Add(1) > int32(max) {
		p.inStreams.Add(-1)
		return false
	}
	return true
}

func (p *peerState) closeInbound() { p.inStreams.Add(-1) }

func (p *peerState) seen(now time.Time) { p.lastSeenNs.Store(now.UnixNano()) }

// setVerified records a successful hello and releases waiting writers. It
// reports whether the peer was not verified before.
func (p *peerState) setVerified(height uint64, now time.Time) (fresh bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.verified {
		p.verified, fresh = true, true
		close(p.ready)
	}
	p.height = height
	p.helloedAt = now
	p.seen(now)
	return fresh
}

// setDown records that the peer has no connection any more.
func (p *peerState) setDown() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.verified {
		p.verified = false
		p.ready = make(chan struct{})
	}
}

func (p *peerState) isVerified() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.verified
}

// readyCh returns a channel that is closed while the peer is verified.
func (p *peerState) readyCh() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready
}

// helloDue reports whether a hello must run: never verified, or the last
// status is older than interval.
func (p *peerState) helloDue(now time.Time, interval time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.verified || now.Sub(p.helloedAt) >= interval
}

func (p *peerState) status() PeerStatus {
	p.mu.Lock()
	st := PeerStatus{Index: p.index, ID: p.id, Validator: p.validator, Connected: p.verified, Height: p.height}
	p.mu.Unlock()
	if ns := p.lastSeenNs.Load(); ns != 0 {
		st.LastSeen = time.Unix(0, ns)
	}
	st.BytesIn, st.BytesOut = p.bytesIn.Load(), p.bytesOut.Load()
	st.DroppedIn = p.droppedIn.Load()
	if ns := p.bannedUntilNs.Load(); ns != 0 {
		st.BannedUntil = time.Unix(0, ns)
	}
	return st
}
