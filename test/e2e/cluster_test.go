// Package e2e runs real bafomet processes on 127.0.0.1 and drives them the
// way users do: the CLI to generate a testnet, JSON-RPC and websocket to
// submit and observe, signals to stop and kill.
package e2e

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/client"
	"github.com/bafomet/bafomet/rpc"
)

// binary is the bafomet executable built once for the package's tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bafomet-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "bafomet")
	build := exec.Command("go", "build", "-o", binary, "github.com/bafomet/bafomet/cmd/bafomet")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build bafomet:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// manifest is testnet.json.
type manifest struct {
	ChainID string `json:"chain_id"`
	Nodes   []struct {
		Name, Home, Address, RPC string
		PeerID                   string `json:"peer_id"`
		P2P                      string `json:"p2p"`
	} `json:"nodes"`
	Accounts []struct {
		Address string `json:"address"`
		KeyFile string `json:"key_file"`
	} `json:"accounts"`
}

// cluster is a testnet of real processes.
type cluster struct {
	t     *testing.T
	bin   string // the node binary: bafomet, or one built on package cli
	dir   string
	m     manifest
	procs []*exec.Cmd
	waits []chan error
	keys  []*ecdsa.PrivateKey // account keys
}

// newCluster generates a testnet of n validators with the given app and
// number of accounts, on free ports of 127.0.0.1.
func newCluster(t *testing.T, n, accounts int, app string) *cluster {
	t.Helper()
	return newClusterOf(t, binary, n, accounts, app)
}

// newClusterOf is newCluster with the node binary bin, which generates the
// testnet and runs the validators.
func newClusterOf(t *testing.T, bin string, n, accounts int, app string) *cluster {
	t.Helper()
	dir := t.TempDir()
	base := freeBasePort(t, n)
	out, err := exec.Command(bin, "testnet", "--validators", strconv.Itoa(n), "--out", dir,
		"--base-port", strconv.Itoa(base), "--accounts", strconv.Itoa(accounts), "--app", app).CombinedOutput()
	if err != nil {
		t.Fatalf("%s testnet: %v\n%s", filepath.Base(bin), err, out)
	}
	c := &cluster{t: t, bin: bin, dir: dir, procs: make([]*exec.Cmd, n), waits: make([]chan error, n)}
	data, err := os.ReadFile(filepath.Join(dir, "testnet.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &c.m); err != nil {
		t.Fatal(err)
	}
	for _, a := range c.m.Accounts {
		k, err := crypto.LoadECDSA(a.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		c.keys = append(c.keys, k)
	}
	t.Cleanup(c.killAll)
	return c
}

// freeBasePort finds P such that P+10i+{0,1,2} are free for i < n.
func freeBasePort(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 100; try++ {
		base := 10000 + rand.IntN(32768-10000-10*n) // below the ephemeral range, where port-0 listeners land
		if portsFree(base, n) {
			return base
		}
	}
	t.Fatal("no free port range found")
	return 0
}

func portsFree(base, n int) bool {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		for j := 0; j < 3; j++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+10*i+j))
			if err != nil {
				return false
			}
			ls = append(ls, l)
		}
	}
	return true
}

// start starts node i and waits until its RPC answers.
func (c *cluster) start(i int) {
	c.t.Helper()
	logf, err := os.OpenFile(filepath.Join(c.dir, c.m.Nodes[i].Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(c.bin, "start", "--home", c.m.Nodes[i].Home)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); logf.Close() }()
	c.procs[i], c.waits[i] = cmd, done
	c.waitRPC(i)
}

// startAll starts every node and waits until each runs consensus (a node
// serves RPC at once, and starts consensus once its peers answered).
func (c *cluster) startAll() {
	for i := range c.m.Nodes {
		c.start(i)
	}
	for i := range c.m.Nodes {
		c.waitConsensus(i)
	}
}

// waitConsensus waits until node i logs that it started consensus.
func (c *cluster) waitConsensus(i int) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(c.log(i), "consensus started") {
		if time.Now().After(deadline) {
			c.t.Fatalf("%s did not start consensus within 30s\n%s", c.m.Nodes[i].Name, tail(c.log(i), 30))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *cluster) waitRPC(i int) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var h uint64
		if err := c.call(i, &h, "chain_blockNumber"); err == nil {
			return
		}
		select {
		case err := <-c.waits[i]:
			c.t.Fatalf("%s exited during start-up: %v\n%s", c.m.Nodes[i].Name, err, c.log(i))
		case <-time.After(100 * time.Millisecond):
		}
	}
	c.t.Fatalf("%s: RPC not ready after 20s\n%s", c.m.Nodes[i].Name, c.log(i))
}

// kill sends SIGKILL to node i and waits for it to die.
func (c *cluster) kill(i int) {
	if c.procs[i] == nil {
		return
	}
	_ = c.procs[i].Process.Kill()
	<-c.waits[i]
	c.procs[i] = nil
}

// stop sends SIGTERM to node i and requires a clean exit within 10 s.
func (c *cluster) stop(i int) {
	c.t.Helper()
	if c.procs[i] == nil {
		return
	}
	_ = c.procs[i].Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.waits[i]:
		if err != nil {
			c.t.Errorf("%s: unclean exit after SIGTERM: %v\n%s", c.m.Nodes[i].Name, err, c.log(i))
		}
	case <-time.After(10 * time.Second):
		c.t.Errorf("%s: still running 10s after SIGTERM", c.m.Nodes[i].Name)
		_ = c.procs[i].Process.Kill()
		<-c.waits[i]
	}
	c.procs[i] = nil
}

func (c *cluster) killAll() {
	for i := range c.procs {
		c.kill(i)
	}
	if c.t.Failed() {
		for i := range c.m.Nodes {
			c.t.Logf("=== log of %s (tail)\n%s", c.m.Nodes[i].Name, tail(c.log(i), 40))
		}
	}
}

func (c *cluster) log(i int) string {
	data, _ := os.ReadFile(filepath.Join(c.dir, c.m.Nodes[i].Name+".log"))
	return string(data)
}

func tail(s string, lines int) string {
	n := 0
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			n++
			if n > lines {
				return s[i+1:]
			}
		}
	}
	return s
}

// call makes one JSON-RPC call to node i with bafomet's client; a refusal
// is a *client.Error.
func (c *cluster) call(i int, result any, method string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, c.m.Nodes[i].RPC, client.Options{})
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.Call(ctx, result, method, args...)
}

// mustCall is call that fails the test on error.
func (c *cluster) mustCall(i int, result any, method string, args ...any) {
	c.t.Helper()
	if err := c.call(i, result, method, args...); err != nil {
		c.t.Fatalf("%s %s: %v", c.m.Nodes[i].Name, method, err)
	}
}

// block returns node i's block at height h.
func (c *cluster) block(i int, h uint64) *rpc.Block {
	c.t.Helper()
	var b *rpc.Block
	c.mustCall(i, &b, "chain_getBlockByNumber", h, false)
	return b
}

// signTx signs a kv transaction for account a.
func (c *cluster) signTx(a int, nonce uint64, payload string) *chain.Tx {
	c.t.Helper()
	tx, err := chain.SignTx(c.keys[a], c.m.ChainID, nonce, []byte(payload))
	if err != nil {
		c.t.Fatal(err)
	}
	return tx
}
