package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/gorilla/websocket"

	"github.com/bafomet/bafomet/internal/testca"
	"github.com/bafomet/bafomet/rpc"
)

// A node with rpc.tls_cert/tls_key, rpc.auth and rate limits in its
// config.toml, with the files named relative to its home, serves HTTPS
// and WSS to a client with a token, refuses one without (HTTP 401,
// counted on /metrics), and applies the address's limit.
func TestNodeServesRPCWithTLSAuthAndLimits(t *testing.T) {
	tn := newTestNet(t, 1)
	home := tn.homes[0]
	ca := testca.New(t)
	ca.Issue(t, filepath.Join(home, "config"), 2)
	tok, err := rpc.NewToken()
	must(t, err)
	entry, err := rpc.TokenEntry("app", tok, rpc.PermRead|rpc.PermSubmit)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(home, "config", "rpc-tokens.toml"), []byte(entry), 0o600))
	cfg, err := LoadConfig(home)
	must(t, err)
	cfg.RPC.TLSCert, cfg.RPC.TLSKey = "config/rpc.crt", "config/rpc.key"
	cfg.RPC.Auth, cfg.RPC.TokenFile = "token", "config/rpc-tokens.toml"
	cfg.RPC.IPRequestsPerSec, cfg.RPC.IPRequestsBurst = 0.001, 4
	must(t, cfg.WriteConfig(filepath.Join(home, ConfigFile)))
	n := tn.start(0)
	if !strings.HasPrefix(n.RPCURL(), "https://") {
		t.Fatalf("RPC URL %s", n.RPCURL())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	auth := gethrpc.WithHeader("Authorization", "Bearer "+tok)
	c, err := gethrpc.DialOptions(ctx, n.RPCURL(), gethrpc.WithHTTPClient(ca.Client()), auth)
	must(t, err)
	defer c.Close()
	var st rpc.Status
	must(t, c.CallContext(ctx, &st, "chain_status"))
	if st.ChainID != "node-test" {
		t.Fatalf("chain_status over https: %+v", st)
	}
	ws, err := gethrpc.DialOptions(ctx, "wss://"+n.RPCAddr().String(),
		gethrpc.WithWebsocketDialer(websocket.Dialer{TLSClientConfig: ca.TLSConfig()}), auth)
	must(t, err)
	defer ws.Close()
	var height uint64
	must(t, ws.CallContext(ctx, &height, "chain_blockNumber"))
	var ms rpc.Mempool
	if err := c.CallContext(ctx, &ms, "mempool_status"); rpc.ErrorCode(err) != rpc.CodeForbidden {
		t.Fatalf("mempool_status with a read,submit token: %v", err)
	}
	// The address's burst of 4: chain_status, chain_blockNumber over
	// websocket and these two (a forbidden call takes none).
	must(t, c.CallContext(ctx, &height, "chain_blockNumber"))
	must(t, c.CallContext(ctx, &height, "chain_blockNumber"))
	if err := c.CallContext(ctx, &height, "chain_blockNumber"); rpc.ErrorCode(err) != rpc.CodeRateLimited {
		t.Fatalf("a call past rpc.ip_requests_burst: %v", err)
	}

	anon, err := gethrpc.DialOptions(ctx, n.RPCURL(), gethrpc.WithHTTPClient(ca.Client()))
	must(t, err)
	defer anon.Close()
	var he gethrpc.HTTPError
	if err := anon.CallContext(ctx, &st, "chain_status"); !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized {
		t.Fatalf("chain_status without a token: %v", err)
	}
	resp, err := http.Get("http://" + n.MetricsAddr().String() + "/metrics")
	must(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	must(t, err)
	for _, want := range []string{`bafomet_rpc_unauthenticated_total{reason="missing"} 1`, `bafomet_rpc_forbidden_total{permission="admin"} 1`,
		`bafomet_rpc_rate_limited_total{limit="requests",scope="ip"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// A node whose token file is missing does not start, says why, and
// leaves no listener behind: the same home starts once the file is there.
func TestNodeRefusesToStartWithoutItsTokenFile(t *testing.T) {
	tn := newTestNet(t, 1)
	home := tn.homes[0]
	cfg, err := LoadConfig(home)
	must(t, err)
	cfg.RPC.Auth, cfg.RPC.TokenFile = "token", "config/rpc-tokens.toml"
	must(t, cfg.WriteConfig(filepath.Join(home, ConfigFile)))
	cfg, err = LoadConfig(home)
	must(t, err)
	n, err := New(cfg, Options{})
	must(t, err)
	err = n.Start(context.Background())
	want := fmt.Sprintf("rpc.token_file: open %s", filepath.Join(home, "config", "rpc-tokens.toml"))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("start without the token file: %v, want %q", err, want)
	}
	must(t, n.Close())
	tok, err := rpc.NewToken()
	must(t, err)
	entry, err := rpc.TokenEntry("app", tok, rpc.PermRead)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(home, "config", "rpc-tokens.toml"), []byte(entry), 0o600))
	tn.start(0)
}
