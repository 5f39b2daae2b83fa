package p2p

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// TestStrangerRefused: a host whose key is not a validator's cannot connect,
// cannot open a stream and delivers nothing.
func TestStrangerRefused(t *testing.T) {
	c := newCluster(t, 2, testLimits())
	c.waitMesh(t)
	stranger := rawHost(t, genKeys(t, 1)[0])
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := stranger.Connect(ctx, addrInfo(t, c.hosts[0])); err == nil {
		// Noise may complete on the stranger's side before our gater closes
		// the connection; then no stream may survive it.
		s, err := stranger.NewStream(ctx, c.hosts[0].PeerID(), ConsensusID)
		if err == nil {
			_ = WriteFrame(s, []byte("forged"), DefaultConsensusFrameMax)
			_ = s.Close()
		}
	}
	waitFor(t, "gater refusal", func() bool { return c.hosts[0].Metrics().GaterRefused >= 1 })
	// A frame from a validator still arrives first: nothing from the stranger.
	if !c.hosts[1].Send(0, ProtoConsensus, []byte("real")) {
		t.Fatal("Send refused")
	}
	if in := recv(t, c.hosts[0]); in.From != 1 || string(in.Data) != "real" {
		t.Fatalf("received %+v, want the validator's frame", in)
	}
	if m := c.hosts[0].Metrics(); m.Consensus.MsgsIn != 1 || m.PeersConnected != 1 {
		t.Fatalf("metrics after stranger: %+v", m)
	}
	for _, conn := range c.hosts[0].host.Network().Conns() {
		if conn.RemotePeer() == stranger.ID() {
			t.Fatal("stranger holds a connection")
		}
	}
}

// TestGaterDialRefused: the host never dials a peer outside the set.
func TestGaterDialRefused(t *testing.T) {
	c := newCluster(t, 1, testLimits())
	stranger := rawHost(t, genKeys(t, 1)[0])
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info := stranger.Peerstore().PeerInfo(stranger.ID())
	info.Addrs = stranger.Addrs()
	if err := c.hosts[0].host.Connect(ctx, info); err == nil {
		t.Fatal("dial to a stranger succeeded")
	}
	if got := c.hosts[0].Metrics().GaterRefused; got == 0 {
		t.Fatal("GaterRefused = 0 after a refused dial")
	}
}

// TestHelloMismatch: a peer of another chain or genesis is disconnected at
// the hello and never becomes a connected peer.
func TestHelloMismatch(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"chain id", func(cfg *Config) { cfg.ChainID = "other-chain" }},
		{"genesis hash", func(cfg *Config) { cfg.GenesisHash = common.HexToHash("0x22") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &cluster{keys: genKeys(t, 2)}
			c.hosts = append(c.hosts, c.startHost(t, 0, localListen, testLimits(), nil))
			c.addrs = append(c.addrs, tcpAddrs(c.hosts[0]))
			c.hosts = append(c.hosts, c.startHost(t, 1, localListen, testLimits(), tt.mod))
			waitFor(t, "hello rejections on both sides", func() bool {
				return c.hosts[0].Metrics().HelloRejected >= 1 && c.hosts[1].Metrics().HelloRejected >= 1
			})
			for i, h := range c.hosts {
				if connectedTo(h, 1-i) {
					t.Fatalf("host %d counts a mismatched peer as connected", i)
				}
			}
		})
	}
}

func TestHelloCheck(t *testing.T) {
	mine := hello{Version: 1, ChainID: "a", GenesisHash: common.HexToHash("0x01"), Height: 5}
	tests := []struct {
		name   string
		theirs hello
		ok     bool
	}{
		{"same, other height", hello{Version: 1, ChainID: "a", GenesisHash: common.HexToHash("0x01"), Height: 900}, true},
		{"version", hello{Version: 2, ChainID: "a", GenesisHash: common.HexToHash("0x01")}, false},
		{"chain id", hello{Version: 1, ChainID: "b", GenesisHash: common.HexToHash("0x01")}, false},
		{"genesis", hello{Version: 1, ChainID: "a", GenesisHash: common.HexToHash("0x02")}, false},
	}
	for _, tt := range tests {
		if err := mine.check(tt.theirs); (err == nil) != tt.ok {
			t.Errorf("%s: check = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

// TestHelloReportsHeight: the status height of a peer comes from its hello.
func TestHelloReportsHeight(t *testing.T) {
	c := &cluster{keys: genKeys(t, 2)}
	h := c.startHost(t, 0, localListen, testLimits(), nil)
	h.SetHeight(42)
	mal := rawHost(t, c.keys[1])
	theirs := rawHello(t, mal, h, testChainID)
	if theirs.Height != 42 || theirs.ChainID != testChainID || theirs.GenesisHash != testGenesis {
		t.Fatalf("hello answer %+v", theirs)
	}
	waitFor(t, "peer height", func() bool { return h.Peers()[0].Height == 7 && h.Peers()[0].Connected })
}

// TestStreamBeforeHelloRefused: a validator that skips the hello cannot
// deliver frames.
func TestStreamBeforeHelloRefused(t *testing.T) {
	c := &cluster{keys: genKeys(t, 2)}
	lim := testLimits()
	lim.HelloTimeout = 200 * time.Millisecond
	h := c.startHost(t, 0, localListen, lim, nil)
	mal := rawHost(t, c.keys[1])
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := mal.Connect(ctx, addrInfo(t, h)); err != nil {
		t.Fatal(err)
	}
	s := rawStream(t, mal, h, ProtoTx)
	_ = WriteFrame(s, []byte("early"), DefaultTxFrameMax)
	waitFor(t, "refusal", func() bool { return h.Metrics().Tx.Refused == 1 })
	if m := h.Metrics(); m.Tx.MsgsIn != 0 || len(h.Inbound()) != 0 || len(h.TxInbound()) != 0 {
		t.Fatalf("frame before hello delivered: %+v", m.Tx)
	}
}

// TestBadFrameDisconnects: a validator that sends an oversized or malformed
// frame loses its connection; a frame exactly at the limit is delivered.
func TestBadFrameDisconnects(t *testing.T) {
	const limit = 32
	tests := []struct {
		name string
		raw  []byte
	}{
		{"oversized", binary.AppendUvarint(nil, limit+1)},
		{"huge announced", binary.AppendUvarint(nil, 1<<62)},
		{"zero length", []byte{0}},
		{"non-minimal prefix", []byte{0x81, 0x00}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := genKeys(t, 2)
			c := &cluster{keys: keys}
			lim := testLimits()
			lim.ConsensusFrameMax = limit
			h := c.startHost(t, 0, localListen, lim, nil)
			mal := rawHost(t, keys[1])
			mal.SetStreamHandler(HelloID, answerHello)
			rawHello(t, mal, h, testChainID)
			s := rawStream(t, mal, h, ProtoConsensus)
			atLimit := bytes.Repeat([]byte{9}, limit)
			if err := WriteFrame(s, atLimit, limit); err != nil {
				t.Fatal(err)
			}
			if in := recv(t, h); !bytes.Equal(in.Data, atLimit) || in.From != 1 {
				t.Fatalf("frame at limit delivered as %+v", in)
			}
			if _, err := s.Write(append(tt.raw, bytes.Repeat([]byte{1}, 8)...)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "disconnect", func() bool {
				return h.Metrics().Consensus.Malformed == 1 && len(h.host.Network().ConnsToPeer(mal.ID())) == 0
			})
			if m := h.Metrics(); m.Consensus.MsgsIn != 1 || m.Consensus.BytesIn != limit {
				t.Fatalf("metrics after bad frame %+v", m.Consensus)
			}
		})
	}
}

// TestStreamWaitsForHello: a stream that arrives just before its peer's
// hello completes is held, not refused, and its frame is delivered.
func TestStreamWaitsForHello(t *testing.T) {
	c := &cluster{keys: genKeys(t, 2)}
	h := c.startHost(t, 0, localListen, testLimits(), nil)
	mal := rawHost(t, c.keys[1])
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := mal.Connect(ctx, addrInfo(t, h)); err != nil {
		t.Fatal(err)
	}
	s := rawStream(t, mal, h, ProtoTx)
	if err := WriteFrame(s, []byte("early"), DefaultTxFrameMax); err != nil {
		t.Fatal(err)
	}
	rawHello(t, mal, h, testChainID)
	if in := recv(t, h); in.From != 1 || string(in.Data) != "early" {
		t.Fatalf("received %+v", in)
	}
	if got := h.Metrics().Tx.Refused; got != 0 {
		t.Fatalf("Tx.Refused = %d, want 0", got)
	}
}
