package node

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/genesis"
	"github.com/bafomet/bafomet/rpc"
)

// testNet is n validator homes sharing one genesis, on free loopback ports.
type testNet struct {
	t     *testing.T
	homes []string
	gen   *genesis.Genesis
	nodes []*Node
	user  *ecdsa.PrivateKey
}

// freePort returns a free port below Linux's ephemeral range (32768 up),
// so that no listener on port 0 — in this or a parallel test process — can
// take it between now and the node's start.
func freePort(t *testing.T) int {
	t.Helper()
	for try := 0; try < 200; try++ {
		port := 10000 + rand.IntN(22000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

func newTestNet(t *testing.T, n int) *testNet {
	t.Helper()
	return newTestNetWith(t, n, genesis.DefaultConsensus())
}

// newTestNetWith is newTestNet with the given consensus parameters.
func newTestNetWith(t *testing.T, n int, cons genesis.Consensus) *testNet {
	t.Helper()
	dir := t.TempDir()
	tn := &testNet{t: t, nodes: make([]*Node, n)}
	g := &genesis.Genesis{ChainID: "node-test", GenesisTime: time.UnixMilli(time.Now().UnixMilli()).UTC(),
		Consensus: cons, App: "kv"}
	keys := make([]*ecdsa.PrivateKey, n)
	for i := range keys {
		keys[i], _ = crypto.GenerateKey()
		g.Validators = append(g.Validators, genesis.Validator{
			Name:    fmt.Sprintf("v%d", i),
			PubKey:  hex.EncodeToString(crypto.CompressPubkey(&keys[i].PublicKey)),
			Address: fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freePort(t)),
		})
	}
	genJSON, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for i := range keys {
		home := filepath.Join(dir, g.Validators[i].Name)
		must(t, os.MkdirAll(filepath.Join(home, "config"), 0o700))
		must(t, crypto.SaveECDSA(filepath.Join(home, DefaultKeyFile), keys[i]))
		must(t, os.WriteFile(filepath.Join(home, DefaultGenesisFile), genJSON, 0o644))
		cfg := DefaultConfig()
		cfg.P2P.Listen = g.Validators[i].Address
		cfg.RPC.Listen = "127.0.0.1:0"
		cfg.Metrics.Listen = "127.0.0.1:0"
		cfg.Consensus.TickInterval = 20 * time.Millisecond
		must(t, cfg.WriteConfig(filepath.Join(home, ConfigFile)))
		tn.homes = append(tn.homes, home)
	}
	tn.gen = g
	tn.user, _ = crypto.GenerateKey()
	t.Cleanup(tn.closeAll)
	return tn
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (tn *testNet) start(i int) *Node {
	tn.t.Helper()
	cfg, err := LoadConfig(tn.homes[i])
	must(tn.t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	n, err := New(cfg, Options{Logger: log})
	must(tn.t, err)
	must(tn.t, n.Start(context.Background()))
	tn.nodes[i] = n
	return n
}

func (tn *testNet) stop(i int) {
	if tn.nodes[i] != nil {
		must(tn.t, tn.nodes[i].Close())
		tn.nodes[i] = nil
	}
}

func (tn *testNet) closeAll() {
	for i := range tn.nodes {
		if tn.nodes[i] != nil {
			tn.nodes[i].Close()
		}
	}
}

// send submits a kv transaction through node i's RPC backend.
func (tn *testNet) send(i int, nonce uint64, payload string) chain.Hash {
	tn.t.Helper()
	tx, err := chain.SignTx(tn.user, tn.gen.ChainID, nonce, []byte(payload))
	must(tn.t, err)
	must(tn.t, (&backend{n: tn.nodes[i]}).SendTx(tx))
	return tx.Hash()
}

// waitHeight waits until every running node has executed height h.
func (tn *testNet) waitHeight(h uint64, timeout time.Duration) {
	tn.t.Helper()
	deadline := time.Now().Add(timeout)
	for _, n := range tn.nodes {
		for n != nil && n.Height() < h {
			if time.Now().After(deadline) {
				tn.t.Fatalf("%s at height %d, want %d after %v", n.cfg.Node.Name, n.Height(), h, timeout)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestSingleValidatorCommitsAlone(t *testing.T) {
	tn := newTestNet(t, 1)
	n := tn.start(0)
	h := tn.send(0, 0, "solo=yes")
	tn.waitHeight(1, 10*time.Second)
	info, err := (&backend{n: n}).Transaction(h)
	must(t, err)
	if info == nil || info.Status != rpc.TxCommitted || info.Height != 1 || info.Receipt.Code != chain.CodeOK {
		t.Fatalf("transaction %s: %+v", h, info)
	}
	out, err := n.exec().Query("get", []byte("solo"))
	must(t, err)
	if !strings.Contains(string(out), `"value":"yes"`) {
		t.Fatalf("kv get solo = %s", out)
	}
	var found []byte
	must(t, (&backend{n: n}).ReadAppState("kv", func(st chain.StateReader) (err error) {
		found, err = st.Get([]byte("solo"))
		return err
	}))
	if string(found) != "yes" {
		t.Fatalf("kv state solo = %q", found)
	}
	if err := (&backend{n: n}).ReadAppState("bank", func(chain.StateReader) error { return nil }); !errors.Is(err, rpc.ErrAppNotServed) {
		t.Fatalf("bank state on a kv chain: %v", err)
	}
	var names []string
	for _, app := range (&backend{n: n}).Applications() {
		names = append(names, app.Name())
	}
	if strings.Join(names, ",") != "kv,bank" {
		t.Fatalf("applications = %v, want the running kv first, then bank", names)
	}
}

// TestRestartResumesWithoutReexecution stops all four validators after
// some blocks and starts them again: each resumes at its stored height
// with the same block hashes, and the chain continues.
func TestRestartResumesWithoutReexecution(t *testing.T) {
	tn := newTestNet(t, 4)
	for i := range tn.nodes {
		tn.start(i)
	}
	for nonce := uint64(0); nonce < 5; nonce++ {
		tn.send(int(nonce)%4, nonce, fmt.Sprintf("k%d=v%d", nonce, nonce))
	}
	waitNonce(t, tn, 5)
	heights := make([]uint64, 4)
	hashes := make([]chain.Hash, 4)
	for i := range tn.nodes {
		tn.stop(i)
		heights[i], hashes[i] = storedTip(t, tn.homes[i])
	}
	for i := range tn.nodes {
		n := tn.start(i)
		_, h, err := n.store().LatestBlock()
		must(t, err)
		if n.Height() != heights[i] || h != hashes[i] {
			t.Fatalf("node %d restarted at (%d, %s), stopped at (%d, %s)", i, n.Height(), h, heights[i], hashes[i])
		}
	}
	tn.send(0, 5, "after=restart")
	waitNonce(t, tn, 6)
}

// storedTip reads the latest height and block hash of a stopped node.
func storedTip(t *testing.T, home string) (uint64, chain.Hash) {
	t.Helper()
	st, err := chain.OpenStore(filepath.Join(home, DefaultDataDir), chain.StoreOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	must(t, err)
	defer st.Close()
	b, h, err := st.LatestBlock()
	must(t, err)
	return b.Header.Height, h
}

func waitNonce(t *testing.T, tn *testNet, want uint64) {
	t.Helper()
	waitNonceWithin(t, tn, want, 20*time.Second)
}

// waitNonceWithin is waitNonce with a deadline of its own.
func waitNonceWithin(t *testing.T, tn *testNet, want uint64, timeout time.Duration) {
	t.Helper()
	addr := crypto.PubkeyToAddress(tn.user.PublicKey)
	deadline := time.Now().Add(timeout)
	for _, n := range tn.nodes {
		for n != nil {
			got, err := n.store().Nonce(addr)
			must(t, err)
			if got == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: nonce %d, want %d", n.cfg.Node.Name, got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestNonValidatorKeyRefused(t *testing.T) {
	tn := newTestNet(t, 1)
	stranger, _ := crypto.GenerateKey()
	keyPath := filepath.Join(tn.homes[0], DefaultKeyFile)
	must(t, os.Remove(keyPath))
	must(t, crypto.SaveECDSA(keyPath, stranger))
	cfg, err := LoadConfig(tn.homes[0])
	must(t, err)
	_, err = New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "is not a validator") {
		t.Fatalf("New with a stranger's key: %v", err)
	}
}

// TestMetricsMove scrapes a running node before and after a block and
// checks that the core series move.
func TestMetricsMove(t *testing.T) {
	tn := newTestNet(t, 1)
	n := tn.start(0)
	before := scrape(t, n)
	tn.send(0, 0, "m=1")
	tn.waitHeight(1, 10*time.Second)
	resp, err := http.Post("http://"+n.RPCAddr().String(), "application/json",
		strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"chain_blockNumber","params":[]}`))
	must(t, err)
	resp.Body.Close()
	after := scrape(t, n)
	for _, want := range []string{
		"bafomet_consensus_height 0", "bafomet_mempool_admitted_total 0",
	} {
		if !strings.Contains(before, want+"\n") {
			t.Errorf("before: missing %q", want)
		}
	}
	for _, want := range []string{
		"bafomet_consensus_height 1", "bafomet_mempool_admitted_total 1",
		"bafomet_consensus_block_txs_count 1", "bafomet_chain_apply_seconds_count 1",
		`bafomet_storage_bytes{part="lsm"}`, `bafomet_storage_bytes{part="blocks"}`, "bafomet_storage_disk_bytes ", "go_goroutines", "process_resident_memory_bytes",
		`bafomet_rpc_requests_total{code="0",method="chain_blockNumber"} 1`, "bafomet_rpc_ws_subscribers 0",
		"bafomet_sync_runs_total ", "bafomet_consensus_log_append_seconds_count ", "bafomet_consensus_log_segments 1",
		`bafomet_p2p_streams_refused_total{protocol="consensus"} 0`,
	} {
		if !strings.Contains(after, want) {
			t.Errorf("after: missing %q", want)
		}
	}
}

func scrape(t *testing.T, n *Node) string {
	t.Helper()
	resp, err := http.Get("http://" + n.MetricsAddr().String() + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(t, err)
	return string(body)
}
