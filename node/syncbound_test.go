package node

import (
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/genesis"
	"github.com/bafomet/bafomet/node/blocksync"
	"github.com/bafomet/bafomet/p2p"
)

// TestSyncResponseBound: a block-sync response is bounded by one value on
// both sides. p2p's Request reads at most what the sync server builds and
// the fetcher accepts (syncResponseMax), for the default frame size and
// another, and the packages' defaults agree with each other and with the
// node's default.
func TestSyncResponseBound(t *testing.T) {
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	vs, err := chain.NewValidatorSet([]chain.Validator{{Name: "v0", PubKey: crypto.CompressPubkey(&key.PublicKey), Multiaddr: "/ip4/127.0.0.1/tcp/1"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, frame := range []int{DefaultMaxFrameBytes, 8 << 20} {
		cfg := DefaultConfig()
		cfg.P2P.MaxFrameBytes = frame
		n := &Node{cfg: &cfg, gen: &genesis.Genesis{ChainID: "bound"}, vals: vs, key: key}
		got := n.p2pConfig().Limits.SyncResponseMax
		if got == 0 {
			got = p2p.DefaultSyncResponseMax
		}
		if want := n.syncResponseMax(); got != want {
			t.Errorf("max_frame_bytes %d: p2p reads sync responses up to %d bytes, the sync server and fetcher use %d", frame, got, want)
		}
	}
	cfg := DefaultConfig()
	n := &Node{cfg: &cfg}
	if p2p.DefaultSyncResponseMax != blocksync.DefaultMaxResponseBytes || blocksync.DefaultServeMaxBytes != blocksync.DefaultMaxResponseBytes || n.syncResponseMax() != blocksync.DefaultMaxResponseBytes {
		t.Errorf("defaults differ: p2p %d, fetcher %d, server %d, node %d",
			p2p.DefaultSyncResponseMax, blocksync.DefaultMaxResponseBytes, blocksync.DefaultServeMaxBytes, n.syncResponseMax())
	}
}
