package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// Inbound is one frame received from a peer.
type Inbound struct {
	From  int // validator index of the sender; -1 for a follower
	Peer  peer.ID
	Proto Protocol
	Data  []byte
}

// RequestHandler serves one sync request from peer from (a validator index,
// or -1 for a follower). ctx ends at the sync deadline or when the host
// closes. An error is sent back to the requester as a RemoteError.
type RequestHandler func(ctx context.Context, from int, req []byte) ([]byte, error)

// Host is a validator's libp2p endpoint. Create it with New, then Start it;
// Close stops it. Its methods are safe for concurrent use.
type Host struct {
	lim   Limits
	cfg   Config
	log   *slog.Logger
	host  host.Host
	self  int                // own validator index, -1 when not a validator
	peers []*peerState       // every configured peer but self: validators by index, then followers
	byIdx map[int]*peerState // validators
	byID  map[peer.ID]*peerState

	inbound   chan Inbound  // consensus frames, fed by mergeInbound from the peers' queues
	inWake    chan struct{} // a frame entered a peer's consensus queue (capacity 1)
	txInbound chan Inbound  // transaction-gossip frames
	ctr       counters
	height    atomic.Uint64
	handler   atomic.Pointer[RequestHandler]
	syncSem   chan struct{}

	mu      sync.Mutex
	started bool
	closed  bool
	ctx     context.Context // lives from Start to Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup // every goroutine the host runs, including stream handlers
}

// New builds a host listening on cfg.ListenAddr. It accepts connections at
// once (the gater is already in force) but dials nobody until Start.
func New(cfg Config) (*Host, error) {
	h, err := newHostState(cfg)
	if err != nil {
		return nil, err
	}
	priv, err := PrivKey(cfg.Key)
	if err != nil {
		return nil, err
	}
	allowed := make(map[peer.ID]bool, len(h.byID))
	for id := range h.byID {
		allowed[id] = true
	}
	listen := cfg.ListenAddr
	if listen == "" {
		listen = DefaultListenAddr
	}
	rm, err := resourceManager(h.lim.ConnsPerIPMax)
	if err != nil {
		return nil, err
	}
	lh, err := libp2p.New(
		libp2p.ResourceManager(rm),
		libp2p.Identity(priv),
		libp2p.ListenAddrStrings(listen),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ConnectionGater(&gater{allowed: allowed, banned: h.bannedID, refused: &h.ctr.gaterRefused, log: h.log}),
		libp2p.ConnectionManager(connmgr.NullConnMgr{}),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.Ping(false),
	)
	if err != nil {
		return nil, fmt.Errorf("p2p: starting libp2p on %s: %w", listen, err)
	}
	h.host = lh
	for _, p := range h.peers {
		lh.Peerstore().AddAddrs(p.id, p.addrs, peerstore.PermanentAddrTTL)
	}
	lh.SetStreamHandler(HelloID, h.handleHello)
	lh.SetStreamHandler(ConsensusID, h.frameHandler(ProtoConsensus))
	lh.SetStreamHandler(TxID, h.frameHandler(ProtoTx))
	lh.SetStreamHandler(SyncID, h.handleSync)
	return h, nil
}

// resourceManager is libp2p's default resource manager with the per-IP
// connection cap raised to connsPerIP.
func resourceManager(connsPerIP int) (network.ResourceManager, error) {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.AutoScale()),
		rcmgr.WithLimitPerSubnet(
			[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 32, ConnCount: connsPerIP}},
			[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 56, ConnCount: connsPerIP}},
		))
	if err != nil {
		return nil, fmt.Errorf("p2p: resource manager: %w", err)
	}
	return rm, nil
}

// newHostState validates cfg and builds everything but the libp2p host.
func newHostState(cfg Config) (*Host, error) {
	lim := cfg.Limits.withDefaults()
	if err := lim.validate(); err != nil {
		return nil, fmt.Errorf("p2p: %w", err)
	}
	if cfg.ChainID == "" {
		return nil, errors.New("p2p: empty chain id")
	}
	if len(cfg.ChainID) > maxHelloChainIDLen {
		return nil, fmt.Errorf("p2p: chain id is %d bytes, limit %d", len(cfg.ChainID), maxHelloChainIDLen)
	}
	selfID, err := PeerIDFromKey(cfg.Key)
	if err != nil {
		return nil, err
	}
	remotes, err := resolvePeers(cfg.Validators)
	if err != nil {
		return nil, fmt.Errorf("p2p: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	h := &Host{
		lim: lim, cfg: cfg, log: log.With("component", "p2p"), self: -1,
		byIdx:   make(map[int]*peerState, len(remotes)),
		byID:    make(map[peer.ID]*peerState, len(remotes)+len(cfg.Followers)),
		inbound: make(chan Inbound), inWake: make(chan struct{}, 1), txInbound: make(chan Inbound, lim.InboundQueueLen),
		syncSem: make(chan struct{}, lim.SyncServeMax),
	}
	sort.Slice(remotes, func(i, j int) bool { return remotes[i].index < remotes[j].index })
	for _, r := range remotes {
		if r.id == selfID {
			h.self = r.index
			continue
		}
		p := newPeerState(r.index, r.id, r.addrs, true, lim.SendQueueLen, lim.ConsensusInboundPerPeer)
		h.peers = append(h.peers, p)
		h.byIdx[r.index], h.byID[r.id] = p, p
	}
	for _, id := range cfg.Followers {
		if _, dup := h.byID[id]; dup || id == selfID {
			return nil, fmt.Errorf("p2p: follower %s is also a validator or this node", id)
		}
		p := newPeerState(-1, id, nil, false, 0, 0)
		h.peers = append(h.peers, p)
		h.byID[id] = p
	}
	return h, nil
}

// Start begins dialling the validators, keeping the connections up and
// writing queued frames. It returns an error if the host was started or
// closed before. ctx bounds nothing after Start returns; use Close.
func (h *Host) Start(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errors.New("p2p: host is closed")
	}
	if h.started {
		return errors.New("p2p: host already started")
	}
	sub, err := h.host.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		return fmt.Errorf("p2p: subscribing to connection events: %w", err)
	}
	h.started = true
	h.ctx, h.cancel = context.WithCancel(context.WithoutCancel(ctx))
	h.goTracked(func() { h.watchConnections(sub) })
	h.goTracked(h.mergeInbound)
	for _, p := range h.peers {
		h.goTracked(func() { h.keepConnected(p) })
		for proto := range p.queues {
			if p.queues[proto] != nil {
				h.goTracked(func() { h.writeLoop(p, Protocol(proto)) })
			}
		}
	}
	h.log.Info("p2p: started", "peer_id", h.host.ID(), "addrs", h.host.Addrs(), "self", h.self, "peers", len(h.peers))
	return nil
}

// goTracked runs f in a goroutine that Close waits for. Caller holds h.mu.
func (h *Host) goTracked(f func()) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		f()
	}()
}

// track registers a stream handler goroutine; it returns false once the
// host is closing, and the handler must then give up at once.
func (h *Host) track() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || !h.started {
		return false
	}
	h.wg.Add(1)
	return true
}

// Close stops every goroutine the host started, closes all connections and
// the listener, waits for the goroutines to finish, and then closes the
// Inbound channel. It is safe to call more than once.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	started := h.started
	if started {
		h.cancel()
	}
	h.mu.Unlock()
	err := h.host.Close()
	h.wg.Wait()
	close(h.inbound)
	close(h.txInbound)
	if err != nil {
		return fmt.Errorf("p2p: closing libp2p host: %w", err)
	}
	return nil
}

// Inbound delivers consensus frames from peers, taking one frame from each
// peer's queue in turn (see mergeInbound), so a peer that floods delays
// another peer's frame by at most one frame of its own per round. Each
// peer's queue holds Limits.ConsensusInboundPerPeer frames; when it is
// full, that peer's newly received frame is dropped (and counted in
// DroppedIn, for the protocol and for the peer) so that its older frames
// keep their order. The channel is closed by Close.
func (h *Host) Inbound() <-chan Inbound { return h.inbound }

// TxInbound delivers transaction-gossip frames, on a channel of their own
// so that a flood of transactions can never crowd out consensus frames. It
// is bounded by Limits.InboundQueueLen; when it is full the peer's stream
// is not read until there is room, so TCP flow control slows the sender
// instead of frames being lost. The channel is closed by Close.
func (h *Host) TxInbound() <-chan Inbound { return h.txInbound }

// Send queues frame for validator to on proto (ProtoConsensus or ProtoTx)
// without blocking. It returns false, and counts a drop, when the peer's
// queue for proto is full, the frame is empty or above the protocol's limit,
// the peer is unknown or this node, or the host is closed. The host keeps
// frame; the caller must not modify it afterwards.
func (h *Host) Send(to int, proto Protocol, frame []byte) bool {
	if !proto.streamed() {
		return false
	}
	p := h.byIdx[to]
	ctr := &h.ctr.proto[proto]
	if p == nil || len(frame) == 0 || len(frame) > h.lim.frameMax(proto) || h.isClosed() {
		ctr.droppedOut.Add(1)
		return false
	}
	select {
	case p.queues[proto] <- frame:
		return true
	default:
		ctr.droppedOut.Add(1)
		return false
	}
}

// Broadcast queues frame for every other validator; see Send. It returns
// the number of validators it was queued for.
func (h *Host) Broadcast(proto Protocol, frame []byte) int {
	n := 0
	for _, p := range h.peers {
		if p.validator && h.Send(p.index, proto, frame) {
			n++
		}
	}
	return n
}

func (h *Host) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// SetHeight sets the chain height this node announces in its hello.
func (h *Host) SetHeight(height uint64) { h.height.Store(height) }

// Peers returns the status of every configured peer but this node:
// validators by index, then followers.
func (h *Host) Peers() []PeerStatus {
	out := make([]PeerStatus, len(h.peers))
	for i, p := range h.peers {
		out[i] = p.status()
	}
	return out
}

// PeerID returns this node's libp2p peer ID.
func (h *Host) PeerID() peer.ID { return h.host.ID() }

// Self returns this node's validator index, or -1 if it is not a validator.
func (h *Host) Self() int { return h.self }

// Addrs returns the addresses the host listens on, each ending in /p2p/<id>.
func (h *Host) Addrs() []ma.Multiaddr {
	addrs, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: h.host.ID(), Addrs: h.host.Addrs()})
	if err != nil {
		return nil
	}
	return addrs
}

// watchConnections marks peers down when their last connection closes and
// wakes their keeper on every change.
func (h *Host) watchConnections(sub event.Subscription) {
	defer sub.Close()
	for {
		select {
		case <-h.ctx.Done():
			return
		case e, ok := <-sub.Out():
			if !ok {
				return
			}
			ev := e.(event.EvtPeerConnectednessChanged)
			p := h.byID[ev.Peer]
			if p == nil {
				continue
			}
			if ev.Connectedness != network.Connected {
				p.setDown()
				h.log.Info("p2p: peer disconnected", "peer", p.index, "id", p.id)
			}
			p.poke()
		}
	}
}

// admit returns the configured peer behind a stream for proto, or nil if
// the stream must be refused: unknown or banned peer, a follower on the consensus
// protocol, or a peer whose hello has not passed within HelloTimeout. (The
// wait covers the moment when a peer that just read our hello answer opens
// a stream before our side of its hello has finished.)
func (h *Host) admit(s network.Stream, proto Protocol) *peerState {
	p := h.byID[s.Conn().RemotePeer()]
	if p != nil && p.bannedFor(now()) == 0 && (proto != ProtoConsensus || p.validator) && h.awaitVerified(p) {
		return p
	}
	h.ctr.proto[proto].refused.Add(1)
	return nil
}

func (h *Host) awaitVerified(p *peerState) bool {
	timer := time.NewTimer(h.lim.HelloTimeout)
	defer timer.Stop()
	select {
	case <-p.readyCh():
		return true
	case <-timer.C:
		return false
	case <-h.ctx.Done():
		return false
	}
}

// misbehaved closes every connection to p after a malformed frame.
func (h *Host) misbehaved(p *peerState, proto Protocol, err error) {
	h.ctr.proto[proto].malformed.Add(1)
	h.log.Warn("p2p: peer sent a bad frame; disconnecting", "peer", p.index, "id", p.id, "proto", proto, "err", err)
	if cerr := h.host.Network().ClosePeer(p.id); cerr != nil {
		h.log.Debug("p2p: closing misbehaving peer", "peer", p.index, "err", cerr)
	}
}

// now is the host's clock, for last-seen and hello times only.
func now() time.Time { return time.Now() }
