package p2p

import (
	"strings"
	"testing"
	"time"

	ethcrypto "github.com/ethereum/go-ethereum/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestLimitsDefaults(t *testing.T) {
	got := Limits{TxFrameMax: 10, BackoffMax: time.Minute}.withDefaults()
	want := Limits{
		ConsensusFrameMax: DefaultConsensusFrameMax, TxFrameMax: 10, HelloFrameMax: DefaultHelloFrameMax,
		SyncRequestMax: DefaultSyncRequestMax, SyncResponseMax: DefaultSyncResponseMax,
		SendQueueLen: DefaultSendQueueLen, InboundQueueLen: DefaultInboundQueueLen, SyncServeMax: DefaultSyncServeMax,
		ConsensusInboundPerPeer: DefaultConsensusInboundPerPeer,
		ConnsPerIPMax:           DefaultConnsPerIPMax, InboundStreamsPerPeer: DefaultInboundStreamsPerPeer,
		DialTimeout: DefaultDialTimeout, HelloTimeout: DefaultHelloTimeout, WriteTimeout: DefaultWriteTimeout,
		FrameReadTimeout: DefaultFrameReadTimeout,
		SyncTimeout:      DefaultSyncTimeout, BackoffMin: DefaultBackoffMin, BackoffMax: time.Minute,
		StatusInterval: DefaultStatusInterval,
	}
	if got != want {
		t.Fatalf("withDefaults = %+v\nwant %+v", got, want)
	}
	if err := got.validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLimitsValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Limits)
		want string
	}{
		{"negative frame", func(l *Limits) { l.TxFrameMax = -1 }, "limit TxFrameMax must be positive, got -1"},
		{"negative queue", func(l *Limits) { l.SendQueueLen = -5 }, "limit SendQueueLen must be positive, got -5"},
		{"negative timeout", func(l *Limits) { l.SyncTimeout = -time.Second }, "limit SyncTimeout must be positive, got -1s"},
		{"negative stream cap", func(l *Limits) { l.InboundStreamsPerPeer = -1 }, "limit InboundStreamsPerPeer must be positive, got -1"},
		{"negative frame read timeout", func(l *Limits) { l.FrameReadTimeout = -time.Second }, "limit FrameReadTimeout must be positive, got -1s"},
		{"backoff inverted", func(l *Limits) { l.BackoffMin, l.BackoffMax = time.Second, time.Millisecond }, "limit BackoffMax (1ms) is below BackoffMin (1s)"},
	}
	for _, tt := range tests {
		l := Limits{}
		tt.mod(&l)
		err := l.withDefaults().validate()
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestPeerIDs(t *testing.T) {
	key := genKeys(t, 1)[0]
	fromKey, err := PeerIDFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, pub := range map[string][]byte{
		"compressed":   ethcrypto.CompressPubkey(&key.PublicKey),
		"uncompressed": ethcrypto.FromECDSAPub(&key.PublicKey),
	} {
		got, err := PeerIDFromPubKey(pub)
		if err != nil || got != fromKey {
			t.Errorf("%s: PeerIDFromPubKey = %s, %v; want %s", name, got, err, fromKey)
		}
	}
	if _, err := PeerIDFromPubKey(make([]byte, 20)); err == nil {
		t.Error("20-byte key accepted")
	}
	if _, err := PeerIDFromKey(nil); err == nil {
		t.Error("nil key accepted")
	}
}

func TestResolvePeers(t *testing.T) {
	keys := genKeys(t, 2)
	pub := func(i int) []byte { return ethcrypto.CompressPubkey(&keys[i].PublicKey) }
	id0, _ := PeerIDFromKey(keys[0])
	id1, _ := PeerIDFromKey(keys[1])
	tests := []struct {
		name string
		vals []Peer
		want string // error substring; "" = ok
	}{
		{"ok with p2p suffix", []Peer{{Index: 0, PubKey: pub(0), Addrs: []string{"/ip4/127.0.0.1/tcp/1/p2p/" + id0.String()}}}, ""},
		{"ok by id", []Peer{{Index: 0, ID: id0}, {Index: 1, PubKey: pub(1), ID: id1}}, ""},
		{"empty", nil, "validator list is empty"},
		{"suffix names another peer", []Peer{{Index: 0, PubKey: pub(0), Addrs: []string{"/ip4/127.0.0.1/tcp/1/p2p/" + id1.String()}}}, "names peer"},
		{"id does not match key", []Peer{{Index: 0, PubKey: pub(0), ID: id1}}, "does not match its key"},
		{"bad address", []Peer{{Index: 0, PubKey: pub(0), Addrs: []string{"127.0.0.1:26656"}}}, `address "127.0.0.1:26656"`},
		{"no key", []Peer{{Index: 0}}, "neither a public key nor a peer id"},
		{"duplicate index", []Peer{{Index: 0, PubKey: pub(0)}, {Index: 0, PubKey: pub(1)}}, "index 0 listed twice"},
		{"duplicate key", []Peer{{Index: 0, PubKey: pub(0)}, {Index: 1, PubKey: pub(0)}}, "same peer id"},
		{"negative index", []Peer{{Index: -1, PubKey: pub(0)}}, "negative"},
	}
	for _, tt := range tests {
		_, err := resolvePeers(tt.vals)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestNewRejects(t *testing.T) {
	keys := genKeys(t, 2)
	id0, _ := PeerIDFromKey(keys[0])
	base := func() Config {
		return Config{Key: keys[0], ListenAddr: localListen, Validators: validatorList(keys, nil), ChainID: testChainID, Logger: testLogger()}
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no chain id", func(c *Config) { c.ChainID = "" }, "empty chain id"},
		{"long chain id", func(c *Config) { c.ChainID = strings.Repeat("c", maxHelloChainIDLen+1) }, "chain id is 129 bytes"},
		{"no key", func(c *Config) { c.Key = nil }, "no private key"},
		{"follower is self", func(c *Config) { c.Followers = []peer.ID{id0} }, "is also a validator or this node"},
		{"bad limit", func(c *Config) { c.Limits.InboundQueueLen = -1 }, "InboundQueueLen"},
		{"bad per-peer queue", func(c *Config) { c.Limits.ConsensusInboundPerPeer = -1 }, "ConsensusInboundPerPeer"},
		{"bad listen addr", func(c *Config) { c.ListenAddr = "tcp://x" }, "starting libp2p"},
	}
	for _, tt := range tests {
		cfg := base()
		tt.mod(&cfg)
		h, err := New(cfg)
		if err == nil {
			_ = h.Close()
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	h, err := New(base())
	if err != nil {
		t.Fatal(err)
	}
	if h.Self() != 0 || len(h.Peers()) != 1 || h.Peers()[0].Index != 1 {
		t.Fatalf("self %d, peers %+v", h.Self(), h.Peers())
	}
	if err := h.Close(); err != nil { // Close without Start
		t.Fatal(err)
	}
}

// TestSendQueueLimit: with the peer unreachable, exactly SendQueueLen frames
// wait in its queue (plus the one its writer holds) and the next is dropped.
func TestSendQueueLimit(t *testing.T) {
	const queueLen = 3
	lim := testLimits()
	lim.SendQueueLen = queueLen
	c := &cluster{keys: genKeys(t, 2)}
	h := c.startHost(t, 0, localListen, lim, nil) // validator 1 has no address and never dials
	if !h.Send(1, ProtoConsensus, []byte{0}) {
		t.Fatal("first Send refused")
	}
	waitFor(t, "writer holds the first frame", func() bool { return len(h.byIdx[1].queues[ProtoConsensus]) == 0 })
	for i := 1; i <= queueLen; i++ {
		if !h.Send(1, ProtoConsensus, []byte{byte(i)}) {
			t.Fatalf("Send %d refused below the limit", i)
		}
	}
	if h.Send(1, ProtoConsensus, []byte{9}) {
		t.Fatal("Send accepted above the queue limit")
	}
	if !h.Send(1, ProtoTx, []byte{1}) {
		t.Fatal("a full consensus queue refused a tx frame")
	}
	if got := h.Metrics().Consensus.DroppedOut; got != 1 {
		t.Fatalf("DroppedOut = %d, want 1", got)
	}
}
