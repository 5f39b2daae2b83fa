package p2p

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	ethcrypto "github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

const (
	testChainID  = "bafomet-test"
	localListen  = "/ip4/127.0.0.1/tcp/0"
	eventually   = 10 * time.Second
	pollInterval = 20 * time.Millisecond
)

var testGenesis = common.HexToHash("0x1111111111111111111111111111111111111111111111111111111111111111")

// testLimits keeps redials quick so tests converge in well under a second.
func testLimits() Limits {
	return Limits{BackoffMin: 20 * time.Millisecond, BackoffMax: 300 * time.Millisecond, HelloTimeout: 2 * time.Second}
}

func testLogger() *slog.Logger {
	if os.Getenv("P2P_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func genKeys(t *testing.T, n int) []*ecdsa.PrivateKey {
	t.Helper()
	keys := make([]*ecdsa.PrivateKey, n)
	for i := range keys {
		k, err := ethcrypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
	}
	return keys
}

// cluster is n validator hosts on 127.0.0.1. Host i knows the addresses of
// hosts 0..i-1 only, so every pair is connected by the later host's dial.
type cluster struct {
	keys  []*ecdsa.PrivateKey
	hosts []*Host
	addrs [][]string
}

func validatorList(keys []*ecdsa.PrivateKey, addrs [][]string) []Peer {
	vals := make([]Peer, len(keys))
	for i, k := range keys {
		vals[i] = Peer{Index: i, PubKey: ethcrypto.CompressPubkey(&k.PublicKey)}
		if i < len(addrs) {
			vals[i].Addrs = addrs[i]
		}
	}
	return vals
}

func newCluster(t *testing.T, n int, lim Limits) *cluster {
	t.Helper()
	c := &cluster{keys: genKeys(t, n)}
	for i := range n {
		h := c.startHost(t, i, localListen, lim, nil)
		c.hosts = append(c.hosts, h)
		c.addrs = append(c.addrs, tcpAddrs(h))
	}
	return c
}

// startHost starts validator i of c, knowing the addresses in c.addrs.
func (c *cluster) startHost(t *testing.T, i int, listen string, lim Limits, mod func(*Config)) *Host {
	t.Helper()
	cfg := Config{
		Key: c.keys[i], ListenAddr: listen, Validators: validatorList(c.keys, c.addrs),
		ChainID: testChainID, GenesisHash: testGenesis, Limits: lim, Logger: testLogger(),
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("New host %d: %v", i, err)
	}
	t.Cleanup(func() { _ = h.Close() })
	if err := h.Start(context.Background()); err != nil {
		t.Fatalf("Start host %d: %v", i, err)
	}
	return h
}

func tcpAddrs(h *Host) []string {
	var out []string
	for _, a := range h.Addrs() {
		out = append(out, a.String())
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(eventually)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(pollInterval)
	}
}

func connectedTo(h *Host, index int) bool {
	for _, p := range h.Peers() {
		if p.Index == index {
			return p.Connected
		}
	}
	return false
}

func (c *cluster) waitMesh(t *testing.T) {
	t.Helper()
	waitFor(t, "full mesh", func() bool {
		for i, h := range c.hosts {
			for j := range c.hosts {
				if i != j && !connectedTo(h, j) {
					return false
				}
			}
		}
		return true
	})
}

// recv returns the next inbound frame of h or fails after a while.
func recv(t *testing.T, h *Host) Inbound {
	t.Helper()
	select {
	case in := <-h.Inbound():
		return in
	case in := <-h.TxInbound():
		return in
	case <-time.After(eventually):
		t.Fatal("no inbound frame")
		return Inbound{}
	}
}

// rawHost is a bare libp2p host with the same transports as Host but no
// gater and no bafomet protocols: a stranger, or a misbehaving validator
// when given a validator's key.
func rawHost(t *testing.T, key *ecdsa.PrivateKey) host.Host {
	t.Helper()
	priv, err := PrivKey(key)
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(
		libp2p.Identity(priv), libp2p.ListenAddrStrings(localListen),
		libp2p.Transport(tcp.NewTCPTransport), libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport), libp2p.DisableRelay(), libp2p.DisableMetrics(),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func addrInfo(t *testing.T, h *Host) peer.AddrInfo {
	t.Helper()
	info, err := peer.AddrInfoFromP2pAddr(h.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	return *info
}

// rawHello connects raw to target and runs the initiator's hello with the
// given chain id, returning the remote's hello.
func rawHello(t *testing.T, raw host.Host, target *Host, chainID string) hello {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventually)
	defer cancel()
	if err := raw.Connect(ctx, addrInfo(t, target)); err != nil {
		t.Fatalf("raw connect: %v", err)
	}
	s, err := raw.NewStream(ctx, target.PeerID(), HelloID)
	if err != nil {
		t.Fatalf("raw hello stream: %v", err)
	}
	defer s.Close()
	enc, err := rlp.EncodeToBytes(hello{Version: protocolVersion, ChainID: chainID, GenesisHash: testGenesis, Height: 7})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFrame(s, enc, DefaultHelloFrameMax); err != nil {
		t.Fatalf("raw hello write: %v", err)
	}
	frame, err := ReadFrame(bufio.NewReader(s), DefaultHelloFrameMax)
	if err != nil {
		t.Fatalf("raw hello read: %v", err)
	}
	var theirs hello
	if err := rlp.DecodeBytes(frame, &theirs); err != nil {
		t.Fatal(err)
	}
	return theirs
}

func rawStream(t *testing.T, raw host.Host, target *Host, proto Protocol) network.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventually)
	defer cancel()
	s, err := raw.NewStream(ctx, target.PeerID(), proto.ID())
	if err != nil {
		t.Fatalf("raw %s stream: %v", proto, err)
	}
	return s
}

func isClosedErr(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "closed") || err == io.EOF)
}

// answerHello is a raw host's responder side of the hello. Failures are
// ignored: the host under test may legitimately drop the raw peer mid-way,
// and each test asserts on the host's side.
func answerHello(s network.Stream) {
	defer s.Close()
	if _, err := ReadFrame(bufio.NewReader(s), DefaultHelloFrameMax); err != nil {
		_ = s.Reset()
		return
	}
	enc, err := rlp.EncodeToBytes(hello{Version: protocolVersion, ChainID: testChainID, GenesisHash: testGenesis})
	if err != nil {
		panic(err)
	}
	_ = WriteFrame(s, enc, DefaultHelloFrameMax)
}
