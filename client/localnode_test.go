package client_test

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/genesis"
	"github.com/bafomet/bafomet/node"
)

// localNode is a one-validator kv chain in a temporary directory, for the
// tests and examples: URL is its JSON-RPC address, User a funded-free key
// (the kv app needs no funds).
type localNode struct {
	URL  string
	User *ecdsa.PrivateKey
	dir  string
	n    *node.Node
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startLocalNode starts a node; edit may change its config first.
func startLocalNode(edit func(*node.Config)) (*localNode, error) {
	dir, err := os.MkdirTemp("", "bafomet-client")
	if err != nil {
		return nil, err
	}
	key, _ := crypto.GenerateKey()
	g := &genesis.Genesis{ChainID: "client-test", GenesisTime: time.UnixMilli(time.Now().UnixMilli()).UTC(),
		Consensus: genesis.DefaultConsensus(), App: "kv",
		Validators: []genesis.Validator{{Name: "v0", PubKey: hex.EncodeToString(crypto.CompressPubkey(&key.PublicKey)),
			Address: fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freePort())}}}
	genJSON, err := g.Marshal()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "config"), 0o700); err != nil {
		return nil, err
	}
	if err := crypto.SaveECDSA(filepath.Join(dir, node.DefaultKeyFile), key); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, node.DefaultGenesisFile), genJSON, 0o644); err != nil {
		return nil, err
	}
	cfg := node.DefaultConfig()
	cfg.P2P.Listen = g.Validators[0].Address
	cfg.RPC.Listen = "127.0.0.1:0"
	cfg.Metrics.Listen = "127.0.0.1:0"
	cfg.Consensus.TickInterval = 20 * time.Millisecond
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.WriteConfig(filepath.Join(dir, node.ConfigFile)); err != nil {
		return nil, err
	}
	loaded, err := node.LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	n, err := node.New(loaded, node.Options{Logger: quiet})
	if err != nil {
		return nil, err
	}
	if err := n.Start(context.Background()); err != nil {
		n.Close()
		return nil, err
	}
	user, _ := crypto.GenerateKey()
	return &localNode{URL: n.RPCURL(), User: user, dir: dir, n: n}, nil
}

// Close stops the node and removes its directory.
func (l *localNode) Close() {
	l.n.Close()
	os.RemoveAll(l.dir)
}

// freePort returns a free port below Linux's ephemeral range.
func freePort() int {
	for range 200 {
		port := 10000 + rand.IntN(22000)
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			l.Close()
			return port
		}
	}
	panic("no free port")
}

// metric returns the value of an unlabelled series of the node's metrics.
func (l *localNode) metric(t *testing.T, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + l.n.MetricsAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no series %s", name)
	}
	return string(m[1])
}
