package p2p

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Default limits. Every one of them is overridable through Config; a zero
// field in Config means "use the default".
const (
	DefaultListenAddr                 = "/ip4/0.0.0.0/tcp/26656"
	DefaultConsensusFrameMax          = 4 << 20 // a pre-prepare carries a whole block
	DefaultTxFrameMax                 = 256 << 10
	DefaultHelloFrameMax              = 1 << 10
	DefaultSyncRequestMax             = 4 << 10
	DefaultSyncResponseMax            = 16 << 20 // blocksync's DefaultMaxResponseBytes
	DefaultSendQueueLen               = 1024
	DefaultInboundQueueLen            = 4096
	DefaultSyncServeMax               = 8
	DefaultConnsPerIPMax              = 64
	DefaultInboundStreamsPerPeer      = 8
	DefaultDialTimeout                = 5 * time.Second
	DefaultHelloTimeout               = 5 * time.Second
	DefaultWriteTimeout               = 10 * time.Second
	DefaultFrameReadTimeout           = 2 * DefaultWriteTimeout
	DefaultSyncTimeout                = 30 * time.Second
	DefaultBackoffMin                 = 100 * time.Millisecond
	DefaultBackoffMax                 = 30 * time.Second
	DefaultStatusInterval             = 10 * time.Second
	maxHelloChainIDLen                = 128
	protocolVersion              uint = 1
)

// DefaultConsensusInboundPerPeer is Limits.ConsensusInboundPerPeer's
// default.
const DefaultConsensusInboundPerPeer = 1024

// Peer is one validator as the network layer sees it.
type Peer struct {
	// Index is the validator's position in the genesis validator set.
	Index int
	// PubKey is the validator's 33-byte compressed secp256k1 public key; the
	// peer ID is derived from it. Either PubKey or ID must be set.
	PubKey []byte
	// ID is the libp2p peer ID; derived from PubKey when empty.
	ID peer.ID
	// Addrs are the multiaddrs the validator listens on. A trailing /p2p/<id>
	// component is allowed and must name the same peer. A validator with no
	// address is never dialled; it may still dial us.
	Addrs []string
}

// Limits bounds every queue, frame and wait of the host. Zero fields take the
// Default* values.
type Limits struct {
	ConsensusFrameMax int // largest consensus frame payload, bytes
	TxFrameMax        int // largest tx-gossip frame payload, bytes
	HelloFrameMax     int // largest hello message, bytes
	SyncRequestMax    int // largest sync request, bytes
	SyncResponseMax   int // largest sync response, bytes
	SendQueueLen      int // frames queued per peer per protocol before Send drops
	InboundQueueLen   int // transaction-gossip frames buffered in TxInbound()
	SyncServeMax      int // sync requests served at once; more are refused
	// ConsensusInboundPerPeer bounds the consensus frames buffered for one
	// peer until Inbound() takes them; when a peer's queue is full its
	// newest frame is dropped, and no other peer's queue is touched.
	ConsensusInboundPerPeer int
	// ConnsPerIPMax caps concurrent connections from one IPv4 address (or
	// IPv6 /56). libp2p's default of 8 is too low for several validators
	// behind one address; loopback is never limited.
	ConnsPerIPMax int
	// InboundStreamsPerPeer caps the consensus and tx streams one peer may
	// have open to this host at once; more are reset and counted as
	// refused. An honest peer keeps one per protocol, and a second for a
	// moment while it replaces a failed one.
	InboundStreamsPerPeer int

	DialTimeout  time.Duration // one dial attempt
	HelloTimeout time.Duration // the whole hello exchange
	WriteTimeout time.Duration // one frame write; a peer that does not read is reset
	// FrameReadTimeout bounds reading one inbound consensus or tx frame,
	// from its first byte to its last; a stream that takes longer is
	// reset. An idle stream, between frames, has no deadline.
	FrameReadTimeout time.Duration
	SyncTimeout      time.Duration // one sync request/response, both sides
	BackoffMin       time.Duration // first redial delay after a failure
	BackoffMax       time.Duration // cap of the exponential redial delay
	StatusInterval   time.Duration // how often a connected peer is re-checked
}

// Config configures a Host.
type Config struct {
	// Key is the validator's secp256k1 key; it is also the libp2p identity.
	Key *ecdsa.PrivateKey
	// ListenAddr is the multiaddr to listen on, e.g. /ip4/0.0.0.0/tcp/26656.
	ListenAddr string
	// Validators is the whole genesis validator set, in any order, possibly
	// including this node (which is recognised by its key and not dialled).
	Validators []Peer
	// Followers are peer IDs of non-validators allowed to connect. They may
	// gossip transactions and request blocks; they are never dialled and
	// their consensus streams are refused.
	Followers []peer.ID
	// ChainID and GenesisHash must match on both sides of a connection.
	ChainID     string
	GenesisHash common.Hash
	Limits      Limits
	// Logger receives the host's logs; slog.Default() when nil.
	Logger *slog.Logger
}

// withDefaults returns l with every zero field replaced by its default.
func (l Limits) withDefaults() Limits {
	setInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	setDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	setInt(&l.ConsensusFrameMax, DefaultConsensusFrameMax)
	setInt(&l.TxFrameMax, DefaultTxFrameMax)
	setInt(&l.HelloFrameMax, DefaultHelloFrameMax)
	setInt(&l.SyncRequestMax, DefaultSyncRequestMax)
	setInt(&l.SyncResponseMax, DefaultSyncResponseMax)
	setInt(&l.SendQueueLen, DefaultSendQueueLen)
	setInt(&l.InboundQueueLen, DefaultInboundQueueLen)
	setInt(&l.ConsensusInboundPerPeer, DefaultConsensusInboundPerPeer)
	setInt(&l.SyncServeMax, DefaultSyncServeMax)
	setInt(&l.ConnsPerIPMax, DefaultConnsPerIPMax)
	setInt(&l.InboundStreamsPerPeer, DefaultInboundStreamsPerPeer)
	setDur(&l.DialTimeout, DefaultDialTimeout)
	setDur(&l.HelloTimeout, DefaultHelloTimeout)
	setDur(&l.WriteTimeout, DefaultWriteTimeout)
	setDur(&l.FrameReadTimeout, DefaultFrameReadTimeout)
	setDur(&l.SyncTimeout, DefaultSyncTimeout)
	setDur(&l.BackoffMin, DefaultBackoffMin)
	setDur(&l.BackoffMax, DefaultBackoffMax)
	setDur(&l.StatusInterval, DefaultStatusInterval)
	return l
}

// validate reports the first limit that is negative or inconsistent.
func (l Limits) validate() error {
	ints := []struct {
		name string
		v    int
	}{
		{"ConsensusFrameMax", l.ConsensusFrameMax}, {"TxFrameMax", l.TxFrameMax},
		{"HelloFrameMax", l.HelloFrameMax}, {"SyncRequestMax", l.SyncRequestMax},
		{"SyncResponseMax", l.SyncResponseMax}, {"SendQueueLen", l.SendQueueLen},
		{"InboundQueueLen", l.InboundQueueLen}, {"ConsensusInboundPerPeer", l.ConsensusInboundPerPeer},
		{"SyncServeMax", l.SyncServeMax},
		{"ConnsPerIPMax", l.ConnsPerIPMax}, {"InboundStreamsPerPeer", l.InboundStreamsPerPeer},
	}
	for _, f := range ints {
		if f.v <= 0 {
			return fmt.Errorf("limit %s must be positive, got %d", f.name, f.v)
		}
	}
	durs := []struct {
		name string
		v    time.Duration
	}{
		{"DialTimeout", l.DialTimeout}, {"HelloTimeout", l.HelloTimeout},
		{"WriteTimeout", l.WriteTimeout}, {"FrameReadTimeout", l.FrameReadTimeout},
		{"SyncTimeout", l.SyncTimeout},
		{"BackoffMin", l.BackoffMin}, {"BackoffMax", l.BackoffMax},
		{"StatusInterval", l.StatusInterval},
	}
	for _, f := range durs {
		if f.v <= 0 {
			return fmt.Errorf("limit %s must be positive, got %v", f.name, f.v)
		}
	}
	if l.BackoffMax < l.BackoffMin {
		return fmt.Errorf("limit BackoffMax (%v) is below BackoffMin (%v)", l.BackoffMax, l.BackoffMin)
	}
	return nil
}

// remote is a resolved validator: its ID and dialable addresses.
type remote struct {
	index int
	id    peer.ID
	addrs []ma.Multiaddr
}

// resolvePeers checks the validator list and resolves IDs and addresses.
func resolvePeers(vals []Peer) ([]remote, error) {
	if len(vals) == 0 {
		return nil, errors.New("validator list is empty")
	}
	out := make([]remote, 0, len(vals))
	seenIdx := make(map[int]bool, len(vals))
	seenID := make(map[peer.ID]int, len(vals))
	for _, v := range vals {
		r, err := resolvePeer(v)
		if err != nil {
			return nil, err
		}
		if seenIdx[v.Index] {
			return nil, fmt.Errorf("validator index %d listed twice", v.Index)
		}
		if j, dup := seenID[r.id]; dup {
			return nil, fmt.Errorf("validators %d and %d have the same peer id %s", j, v.Index, r.id)
		}
		seenIdx[v.Index], seenID[r.id] = true, v.Index
		out = append(out, r)
	}
	return out, nil
}

func resolvePeer(v Peer) (remote, error) {
	if v.Index < 0 {
		return remote{}, fmt.Errorf("validator index %d is negative", v.Index)
	}
	id := v.ID
	if len(v.PubKey) > 0 {
		derived, err := PeerIDFromPubKey(v.PubKey)
		if err != nil {
			return remote{}, fmt.Errorf("validator %d: %w", v.Index, err)
		}
		if id != "" && id != derived {
			return remote{}, fmt.Errorf("validator %d: peer id %s does not match its key (%s)", v.Index, id, derived)
		}
		id = derived
	}
	if id == "" {
		return remote{}, fmt.Errorf("validator %d has neither a public key nor a peer id", v.Index)
	}
	r := remote{index: v.Index, id: id}
	for _, s := range v.Addrs {
		addr, err := ma.NewMultiaddr(s)
		if err != nil {
			return remote{}, fmt.Errorf("validator %d: address %q: %w", v.Index, s, err)
		}
		transport, pid := peer.SplitAddr(addr)
		if pid != "" && pid != id {
			return remote{}, fmt.Errorf("validator %d: address %q names peer %s, key gives %s", v.Index, s, pid, id)
		}
		if transport == nil {
			return remote{}, fmt.Errorf("validator %d: address %q has no transport part", v.Index, s)
		}
		r.addrs = append(r.addrs, transport)
	}
	return r, nil
}
