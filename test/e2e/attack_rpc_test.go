package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/bafomet/bafomet/rpc"
)

// Attacks on the RPC port by one client with no credentials (issue 29,
// findings 1 and 2), against a real node process: the node's memory and
// descriptors stay bounded, and other clients keep being served.

// rssBytes returns the resident set size of process pid.
func rssBytes(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// openFDs returns the number of open descriptors of process pid.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	return len(ents)
}

// longChain starts a one-validator cluster that commits an empty block
// every millisecond until it has at least height blocks, then restarts it
// with empty blocks off, so that the chain (and the node's own memory)
// stands still while a test measures.
func longChain(t *testing.T, height uint64) *cluster {
	t.Helper()
	c := newCluster(t, 1, 1, "kv")
	c.setConfig(0, "create_empty_blocks", "false", "true")
	c.setConfig(0, "empty_block_interval", `"1s"`, `"1ms"`)
	c.startAll()
	c.waitFor(fmt.Sprintf("height %d", height), 3*time.Minute, func() bool { return c.height(0) >= height })
	c.stop(0)
	c.setConfig(0, "create_empty_blocks", "true", "false")
	c.start(0)
	return c
}

// One connection subscribes from height 1 on a long chain, reads nothing,
// and subscribes 31 more times (the review took a node from 95 MB to
// 1.03 GB RSS in 12 s this way). RSS stays within a budget, and another
// client is served meanwhile.
func TestAttackSubscriptionReplayUnread(t *testing.T) {
	if testing.Short() {
		t.Skip("real process, builds a chain of thousands of blocks")
	}
	const (
		blocks   = 6000
		subs     = 32
		rssLimit = 64 << 20 // growth allowed: rpc.ws_buffer_bytes (8 MiB) and the runtime's slack
	)
	c := longChain(t, blocks)
	pid := c.procs[0].Process.Pid
	time.Sleep(2 * time.Second) // let start-up settle
	base := rssBytes(t, pid)

	attacker := c.dialRawWS(0, 4096)
	for i := 0; i < subs; i++ {
		attacker.request("chain_subscribe", "newBlocks", map[string]any{"fromHeight": 1})
		if i == 0 {
			time.Sleep(3 * time.Second) // the review paused 3 s before the other 31
		}
	}

	other := c.dial(0, true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tip := c.height(0)
	from := tip - 19 // a short replay, served while the attacker's are stuck
	ch := make(chan *rpc.Block, 64)
	sub, err := other.Subscribe(ctx, "chain", ch, "newBlocks", map[string]uint64{"fromHeight": from})
	if err != nil {
		t.Fatalf("other client's subscription: %v", err)
	}
	defer sub.Unsubscribe()

	var peak int64
	deadline := time.Now().Add(10 * time.Second)
	got := 0
	for time.Now().Before(deadline) || got < 20 {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("other client received %d of 20 blocks in 20 s", got)
		}
		peak = max(peak, rssBytes(t, pid))
		select {
		case b := <-ch:
			if b.Height != from+uint64(got) {
				t.Fatalf("other client got block %d, want %d", b.Height, from+uint64(got))
			}
			got++
		case err := <-sub.Err():
			t.Fatalf("other client's subscription ended: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	c.requireServing(0)
	t.Logf("chain of %d blocks, %d unread replays on one connection: RSS %d MB before, peak %d MB over 10 s (+%d MB, limit +%d MB); other client received its %d blocks",
		tip, subs, base>>20, peak>>20, (peak-base)>>20, rssLimit>>20, got)
	if peak-base > rssLimit {
		t.Fatalf("RSS grew by %d MB, limit %d MB", (peak-base)>>20, rssLimit>>20)
	}
}

// 19,977 idle keep-alive connections from one host took all of node0's
// descriptors. One address now holds at most max_connections_per_ip (256)
// connections; the rest are refused at once, and a client elsewhere is
// served.
func TestAttackIdleConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("real process")
	}
	const (
		perIP    = 256 // rpc.max_connections_per_ip default
		attempts = perIP + 64
		rssLimit = 64 << 20
	)
	c := newCluster(t, 1, 1, "kv")
	c.startAll()
	pid := c.procs[0].Process.Pid
	base, baseFDs := rssBytes(t, pid), openFDs(t, pid)
	addr := strings.TrimPrefix(c.m.Nodes[0].RPC, "http://")
	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	admitted, refused := 0, 0
	for i := 0; i < attempts; i++ {
		conn, err := dialer.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		t.Cleanup(func() { conn.Close() })
		if keepAlive(conn) {
			admitted++
		} else {
			refused++
		}
	}
	fds := openFDs(t, pid)
	// A fresh client at another address, over HTTP and websocket.
	c.requireServing(0)
	ws, resp, err := websocket.DefaultDialer.Dial(c.wsURL(0), nil)
	if err != nil {
		t.Fatalf("websocket from another address: %v (%v)", err, resp)
	}
	ws.Close()
	rss := rssBytes(t, pid)
	t.Logf("%d idle keep-alive connections from one address: %d admitted, %d refused; descriptors %d -> %d; RSS %d -> %d MB",
		attempts, admitted, refused, baseFDs, fds, base>>20, rss>>20)
	if admitted != perIP || refused != attempts-perIP {
		t.Fatalf("admitted %d, refused %d: want %d admitted (max_connections_per_ip)", admitted, refused, perIP)
	}
	if fds > baseFDs+perIP+16 {
		t.Fatalf("descriptors %d -> %d with %d connections admitted", baseFDs, fds, perIP)
	}
	if rss-base > rssLimit {
		t.Fatalf("RSS grew by %d MB, limit %d MB", (rss-base)>>20, rssLimit>>20)
	}
}

// keepAlive sends one keep-alive chain_blockNumber on conn and reports
// whether it was answered with 200 (the connection then stays open, idle).
func keepAlive(conn net.Conn) bool {
	const body = `{"jsonrpc":"2.0","id":1,"method":"chain_blockNumber","params":[]}`
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	defer conn.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body); err != nil {
		return false
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// startWithFileLimit starts node i like start, with RLIMIT_NOFILE (soft and
// hard) set to nofile.
func (c *cluster) startWithFileLimit(i, nofile int) {
	c.t.Helper()
	logf, err := os.OpenFile(filepath.Join(c.dir, c.m.Nodes[i].Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" start --home "$1"`, nofile), binary, c.m.Nodes[i].Home)
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

// With all of node0's descriptors taken by idle RPC connections, a
// restarted peer could not reconnect to it. RPC connections now get at
// most half of RLIMIT_NOFILE: with a limit of 512 and 560 idle keep-alive
// connections opened from 8 addresses, node0 holds at most 256 of them
// (each new one past that replaces the oldest idle one), and a restarted
// peer is back online at node0.
func TestAttackRPCConnectionsDoNotStarvePeers(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes")
	}
	const (
		nofile   = 512
		addrs    = 8
		perAddr  = 70
		rpcShare = nofile / 2
	)
	c := newCluster(t, 4, 1, "kv")
	c.startWithFileLimit(0, nofile)
	for i := 1; i < 4; i++ {
		c.start(i)
	}
	c.waitFor("all validators online at node0", 30*time.Second, func() bool { return c.allOnline(0) })
	pid := c.procs[0].Process.Pid
	baseFDs := openFDs(t, pid)
	addr := strings.TrimPrefix(c.m.Nodes[0].RPC, "http://")
	answered := 0
	deadline := time.Now().Add(20 * time.Second) // a node out of descriptors stops accepting: dials then time out
	for a := 0; a < addrs && time.Now().Before(deadline); a++ {
		dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("127.0.0.%d", 10+a))}, Timeout: 2 * time.Second}
		for k := 0; k < perAddr && time.Now().Before(deadline); k++ {
			conn, err := dialer.Dial("tcp", addr)
			if err != nil {
				continue
			}
			t.Cleanup(func() { conn.Close() })
			if keepAlive(conn) {
				answered++
			}
		}
	}
	fds := openFDs(t, pid)
	c.stop(1)
	c.start(1)
	c.waitFor("node1 back online at node0", 30*time.Second, func() bool { return c.allOnline(0) })
	c.requireServing(0)
	t.Logf("RLIMIT_NOFILE %d: %d idle keep-alive RPC connections opened, %d answered; node0's descriptors %d -> %d; node1 restarted and back online at node0",
		nofile, addrs*perAddr, answered, baseFDs, fds)
	if fds > baseFDs+rpcShare+16 {
		t.Fatalf("node0 holds %d descriptors (%d before): RPC took more than half of RLIMIT_NOFILE %d", fds, baseFDs, nofile)
	}
	if !strings.Contains(c.log(0), "rpc.max_connections lowered") {
		t.Fatalf("node0 did not log that it lowered rpc.max_connections:\n%s", tail(c.log(0), 20))
	}
}
