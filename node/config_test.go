package node

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/genesis"
	"github.com/bafomet/bafomet/ordering"
)

func TestDefaultConfigIsValid(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	g := &genesis.Genesis{Consensus: genesis.DefaultConsensus()}
	if err := c.CheckGenesis(g); err != nil {
		t.Fatalf("defaults do not fit default genesis: %v", err)
	}
	if c.RPC.Listen != "127.0.0.1:26601" || c.P2P.Listen != "/ip4/0.0.0.0/tcp/26600" || c.Metrics.Listen != "127.0.0.1:26602" {
		t.Fatalf("default addresses %q %q %q", c.RPC.Listen, c.P2P.Listen, c.Metrics.Listen)
	}
}

func writeHome(t *testing.T, toml string) string {
	t.Helper()
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, "config"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ConfigFile), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	return home
}

func TestLoadConfigOverridesAndPaths(t *testing.T) {
	home := writeHome(t, `
[node]
name = "alpha"
key_file = "/etc/bafomet/key"

[rpc]
listen = "0.0.0.0:9000"
cors_origins = ["https://app.example"]

[mempool]
ttl = "90s"

[consensus]
create_empty_blocks = true
view_change_timeout = "3s"

[log]
format = "json"
`)
	c, err := LoadConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Home = home
	want.Node.Name = "alpha"
	want.Node.KeyFile = "/etc/bafomet/key"
	want.RPC.Listen = "0.0.0.0:9000"
	want.RPC.CORSOrigins = []string{"https://app.example"}
	want.Mempool.TTL = 90 * time.Second
	want.Consensus.CreateEmptyBlocks = true
	want.Consensus.ViewChangeTimeout = 3 * time.Second
	want.Log.Format = "json"
	if !reflect.DeepEqual(*c, want) {
		t.Fatalf("config =\n%+v\nwant\n%+v", *c, want)
	}
	if c.GenesisPath() != filepath.Join(home, "config/genesis.json") || c.KeyPath() != "/etc/bafomet/key" ||
		c.DataPath() != filepath.Join(home, "data") {
		t.Fatalf("paths %s %s %s", c.GenesisPath(), c.KeyPath(), c.DataPath())
	}
	g := &genesis.Genesis{Consensus: genesis.DefaultConsensus()}
	base, max := c.ViewChangeTimeouts(g)
	if base != 3*time.Second || max != 60*time.Second {
		t.Fatalf("timeouts %s %s", base, max)
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	_, err := LoadConfig(t.TempDir())
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct{ name, toml, want string }{
		{"unknown key", "[rpc]\nmax_batch_lenght = 3\n", "config: unknown key rpc.max_batch_lenght (see docs/operations.md)"},
		{"unknown table", "[foo]\nbar = 1\n[node]\nnam = \"x\"\n", "config: unknown key foo.bar, node.nam (see docs/operations.md)"},
		{"wrong type", "[rpc]\nmax_batch_length = \"x\"\n",
			"config: rpc.max_batch_length: line 2: incompatible types: TOML value has type string; destination has type integer"},
		{"bad duration", "[mempool]\nttl = \"10 minutes\"\n", `config: mempool.ttl: line 2: invalid duration: "10 minutes"`},
		{"syntax", "[rpc\n", "config: toml: line 2: expected '.' or ']' to end table name, but got '\\n' instead"},
		{"bare integer duration", "[mempool]\nttl = 5\n", "config: mempool.ttl: 5ns is outside [1ms, 24h0m0s]"},
		{"two problems", "[rpc]\nmax_batch_length = 0\n[log]\nlevel = \"loud\"\n",
			"config: rpc.max_batch_length: 0 is outside [1, 16777216]\nconfig: log.level: \"loud\": want debug, info, warn or error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.toml))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v\nwant  %s", err, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string // "" = valid
	}{
		{"long name", func(c *Config) { c.Node.Name = strings.Repeat("n", 65) }, "config: node.name: longer than 64 bytes"},
		{"name at limit", func(c *Config) { c.Node.Name = strings.Repeat("n", 64) }, ""},
		{"empty genesis file", func(c *Config) { c.Node.GenesisFile = "" }, "config: node.genesis_file: must not be empty"},
		{"empty key file", func(c *Config) { c.Node.KeyFile = " " }, "config: node.key_file: must not be empty"},
		{"empty data dir", func(c *Config) { c.Node.DataDir = "" }, "config: node.data_dir: must not be empty"},
		{"empty wal dir", func(c *Config) { c.Node.WALDir = "" }, "config: node.wal_dir: must not be empty"},
		{"wal dir is the data dir", func(c *Config) { c.Node.WALDir = "./data" }, `config: node.wal_dir: "./data" overlaps node.data_dir "data": the consensus log needs a directory of its own, beside the data directory`},
		{"wal dir inside the data dir", func(c *Config) { c.Node.WALDir = "data/wal" }, `config: node.wal_dir: "data/wal" overlaps node.data_dir…`},
		{"data dir inside the wal dir", func(c *Config) { c.Node.DataDir = "wal/data" }, `config: node.wal_dir: "wal" overlaps node.data_dir "wal/data"…`},
		{"wal dir beside a data dir of similar name", func(c *Config) { c.Node.WALDir = "data-wal" }, ""},
		{"memory limit off", func(c *Config) { c.Node.MemoryLimit = 0 }, ""},
		{"memory limit too small", func(c *Config) { c.Node.MemoryLimit = 1 << 20 }, "config: node.memory_limit: 1048576 bytes: want 0 (off) or 67108864 to 1099511627776"},
		{"min free disk off", func(c *Config) { c.Node.MinFreeDisk = 0 }, ""},
		{"min free disk at its limit", func(c *Config) { c.Node.MinFreeDisk = MaxMinFreeDisk }, ""},
		{"min free disk over its limit", func(c *Config) { c.Node.MinFreeDisk = MaxMinFreeDisk + 1 }, "config: node.min_free_disk: 1125899906842625 bytes: want 0 (off) to 1125899906842624"},
		{"min free disk negative", func(c *Config) { c.Node.MinFreeDisk = -1 }, "config: node.min_free_disk: -1 bytes: want 0 (off) to 1125899906842624"},
		{"retain blocks at its limit", func(c *Config) { c.Node.RetainBlocks = MaxRetainBlocks }, ""},
		{"retain blocks without snapshots", func(c *Config) { c.Node.RetainBlocks, c.Node.SnapshotInterval = 100, 0 }, "config: node.retain_blocks: 100 needs node.snapshot_interval above 0: a node prunes only blocks below a snapshot it can serve instead"},
		{"snapshots off", func(c *Config) { c.Node.SnapshotInterval = 0 }, ""},
		{"snapshot interval at its limit", func(c *Config) { c.Node.SnapshotInterval = MaxSnapshotInterval }, ""},
		{"snapshot interval over its limit", func(c *Config) { c.Node.SnapshotInterval = MaxSnapshotInterval + 1 }, "config: node.snapshot_interval: 1000001 checkpoints: want 0 (off) to 1000000"},
		{"snapshot keep at its limits", func(c *Config) { c.Node.SnapshotKeep = MaxSnapshotKeep }, ""},
		{"snapshot keep 0", func(c *Config) { c.Node.SnapshotKeep = 0 }, "config: node.snapshot_keep: 0: want 1 to 100"},
		{"snapshot keep over its limit", func(c *Config) { c.Node.SnapshotKeep = MaxSnapshotKeep + 1 }, "config: node.snapshot_keep: 101: want 1 to 100"},
		{"state sync discovery at its limits", func(c *Config) { c.Node.StateSyncDiscovery = time.Second }, ""},
		{"state sync discovery too short", func(c *Config) { c.Node.StateSyncDiscovery = time.Second - 1 }, "config: node.state_sync_discovery: 999.999999ms: want 1s to 10m0s"},
		{"state sync discovery too long", func(c *Config) { c.Node.StateSyncDiscovery = MaxStateSyncDiscovery + 1 }, "config: node.state_sync_discovery: 10m0.000000001s: want 1s to 10m0s"},
		{"retain blocks over its limit", func(c *Config) { c.Node.RetainBlocks = MaxRetainBlocks + 1 }, "config: node.retain_blocks: 281474976710657 blocks: want 0 (keep everything) to 281474976710656"},
		{"bad p2p listen", func(c *Config) { c.P2P.Listen = "0.0.0.0:26600" }, "config: p2p.listen: bad multiaddr \"0.0.0.0:26600\": …"},
		{"udp p2p listen", func(c *Config) { c.P2P.Listen = "/ip4/0.0.0.0/udp/1" }, `config: p2p.listen: "/ip4/0.0.0.0/udp/1": want /ip4|ip6|dns|dns4|dns6/HOST/tcp/PORT`},
		{"p2p port 0", func(c *Config) { c.P2P.Listen = "/ip4/127.0.0.1/tcp/0" }, ""},
		{"backoff order", func(c *Config) { c.P2P.DialBackoffMax = 50 * time.Millisecond },
			"config: p2p.dial_backoff_max: 50ms is below p2p.dial_backoff_min 100ms"},
		{"zero backoff", func(c *Config) { c.P2P.DialBackoffMin = 0 }, "config: p2p.dial_backoff_min: 0s is outside [1ms, 24h0m0s]"},
		{"duration at limits", func(c *Config) { c.P2P.DialBackoffMin = time.Millisecond; c.P2P.DialBackoffMax = 24 * time.Hour }, ""},
		{"duration over limit", func(c *Config) { c.RPC.WSPingInterval = 24*time.Hour + 1 },
			"config: rpc.ws_ping_interval: 24h0m0.000000001s is outside [1ms, 24h0m0s]"},
		{"zero frame", func(c *Config) { c.P2P.MaxFrameBytes = 0 }, "config: p2p.max_frame_bytes: 0 is outside [1, 1073741824]"},
		{"bytes at limit", func(c *Config) { c.P2P.MaxFrameBytes = 1 << 30 }, ""},
		{"bytes over limit", func(c *Config) { c.P2P.MaxTxFrameBytes = 1<<30 + 1 }, "config: p2p.max_tx_frame_bytes: 1073741825 is outside [1, 1073741824]"},
		{"negative queue", func(c *Config) { c.P2P.OutboundQueue = -1 }, "config: p2p.outbound_queue: -1 is outside [1, 16777216]"},
		{"stream cap", func(c *Config) { c.P2P.StreamsPerPeer = 1025 }, "config: p2p.max_inbound_streams_per_peer: 1025 is outside [1, 1024]"},
		{"inbound queue zero", func(c *Config) { c.P2P.InboundQueue = 0 }, "config: p2p.inbound_queue_per_peer: 0 is outside [1, 16777216]"},
		{"inbound queue at limit", func(c *Config) { c.P2P.InboundQueue = 1 << 24 }, ""},
		{"verify workers GOMAXPROCS", func(c *Config) { c.P2P.VerifyWorkers = 0 }, ""},
		{"verify workers at limit", func(c *Config) { c.P2P.VerifyWorkers = 256 }, ""},
		{"verify workers over limit", func(c *Config) { c.P2P.VerifyWorkers = 257 }, "config: p2p.verify_workers: 257 is outside [0, 256]"},
		{"verify workers negative", func(c *Config) { c.P2P.VerifyWorkers = -1 }, "config: p2p.verify_workers: -1 is outside [0, 256]"},
		{"seen frames zero", func(c *Config) { c.P2P.SeenFrames = 0 }, "config: p2p.seen_frames: 0 is outside [1, 16777216]"},
		{"seen ttl zero", func(c *Config) { c.P2P.SeenTTL = 0 }, "config: p2p.seen_ttl: 0s is outside [1ms, 24h0m0s]"},
		{"score window zero", func(c *Config) { c.P2P.ScoreWindow = 0 }, "config: p2p.score_window: 0s is outside [1ms, 24h0m0s]"},
		{"ban invalid zero", func(c *Config) { c.P2P.BanInvalid = 0 }, "config: p2p.ban_invalid: 0 is outside [1, 16777216]"},
		{"ban repeats at limit", func(c *Config) { c.P2P.BanRepeats = 1 << 24 }, ""},
		{"ban repeats over limit", func(c *Config) { c.P2P.BanRepeats = 1<<24 + 1 }, "config: p2p.ban_repeats: 16777217 is outside [1, 16777216]"},
		{"ban duration over limit", func(c *Config) { c.P2P.BanDuration = 25 * time.Hour }, "config: p2p.ban_duration: 25h0m0s is outside [1ms, 24h0m0s]"},
		{"count at limit", func(c *Config) { c.RPC.MaxWSConnections = 1 << 24 }, ""},
		{"rpc listen no port", func(c *Config) { c.RPC.Listen = "127.0.0.1" },
			`config: rpc.listen: "127.0.0.1" is not host:port: address 127.0.0.1: missing port in address`},
		{"rpc listen bad port", func(c *Config) { c.RPC.Listen = "127.0.0.1:70000" },
			`config: rpc.listen: "127.0.0.1:70000": port "70000" is not a number from 0 to 65535`},
		{"rpc listen no host", func(c *Config) { c.RPC.Listen = ":8545" },
			`config: rpc.listen: ":8545": missing host (use 127.0.0.1 for local only, 0.0.0.0 for all interfaces)`},
		{"empty cors origin", func(c *Config) { c.RPC.CORSOrigins = []string{"*", ""} }, "config: rpc.cors_origins: entry 1 is empty"},
		{"zero batch", func(c *Config) { c.RPC.MaxBatchLength = 0 }, "config: rpc.max_batch_length: 0 is outside [1, 16777216]"},
		{"zero ws message", func(c *Config) { c.RPC.MaxWSMessageBytes = 0 }, "config: rpc.max_ws_message_bytes: 0 is outside [1, 1073741824]"},
		{"zero subs", func(c *Config) { c.RPC.MaxSubsPerConn = 0 }, "config: rpc.max_subscriptions_per_connection: 0 is outside [1, 16777216]"},
		{"zero subscriber buffer", func(c *Config) { c.RPC.SubscriberBuffer = 0 }, "config: rpc.subscriber_buffer: 0 is outside [1, 16777216]"},
		{"zero request bytes", func(c *Config) { c.RPC.MaxRequestBytes = 0 }, "config: rpc.max_request_bytes: 0 is outside [1, 1073741824]"},
		{"zero ws buffer bytes", func(c *Config) { c.RPC.WSBufferBytes = 0 }, "config: rpc.ws_buffer_bytes: 0 is outside [1, 1073741824]"},
		{"zero response bytes", func(c *Config) { c.RPC.MaxResponseBytes = 0 }, "config: rpc.max_response_bytes: 0 is outside [1, 1073741824]"},
		{"response buffer at the largest answer", func(c *Config) { c.RPC.RespBufferBytes = c.RPC.MaxResponseBytes + c.RPC.MaxBatchRespBytes }, ""},
		{"response buffer below the largest answer", func(c *Config) { c.RPC.RespBufferBytes = c.RPC.MaxResponseBytes + c.RPC.MaxBatchRespBytes - 1 },
			"config: rpc.response_buffer_bytes: 27262975 is below rpc.max_response_bytes + rpc.max_batch_response_bytes 27262976: the largest answer could never be sent"},
		{"connections at limit", func(c *Config) { c.RPC.MaxConnections = 1 << 24 }, ""},
		{"connections over limit", func(c *Config) { c.RPC.MaxConnections = 1<<24 + 1 }, "config: rpc.max_connections: 16777217 is outside [1, 16777216]"},
		{"zero connections per ip", func(c *Config) { c.RPC.MaxConnsPerIP = 0 }, "config: rpc.max_connections_per_ip: 0 is outside [1, 16777216]"},
		{"zero ws connections per ip", func(c *Config) { c.RPC.MaxWSConnsPerIP = 0 }, "config: rpc.max_ws_connections_per_ip: 0 is outside [1, 16777216]"},
		{"ws in flight at minimum", func(c *Config) { c.RPC.WSMaxInFlight = 1 }, ""},
		{"zero ws in flight", func(c *Config) { c.RPC.WSMaxInFlight = 0 }, "config: rpc.ws_max_in_flight: 0 is outside [1, 16777216]"},
		{"zero read header timeout", func(c *Config) { c.RPC.ReadHeaderTimeout = 0 }, "config: rpc.read_header_timeout: 0s is outside [1ms, 24h0m0s]"},
		{"read timeout at minimum", func(c *Config) { c.RPC.ReadTimeout = time.Millisecond }, ""},
		{"read timeout below minimum", func(c *Config) { c.RPC.ReadTimeout = time.Millisecond - 1 }, "config: rpc.read_timeout: 999.999µs is outside [1ms, 24h0m0s]"},
		{"zero write timeout", func(c *Config) { c.RPC.WriteTimeout = 0 }, "config: rpc.write_timeout: 0s is outside [1ms, 24h0m0s]"},
		{"idle timeout over a day", func(c *Config) { c.RPC.IdleTimeout = 25 * time.Hour }, "config: rpc.idle_timeout: 25h0m0s is outside [1ms, 24h0m0s]"},
		{"tls both", func(c *Config) { c.RPC.TLSCert, c.RPC.TLSKey = "config/rpc.crt", "config/rpc.key" }, ""},
		{"tls cert alone", func(c *Config) { c.RPC.TLSCert = "config/rpc.crt" },
			"config: rpc.tls_cert: set both rpc.tls_cert and rpc.tls_key (HTTPS and WSS) or neither (HTTP and WS)"},
		{"tls key alone", func(c *Config) { c.RPC.TLSKey = "config/rpc.key" }, "config: rpc.tls_cert: set both…"},
		{"auth none by default", func(c *Config) {
			if c.RPC.Auth != "none" || strings.Join(c.RPC.JWTPermissions, ",") != "read,submit" || c.RPC.JWTIssuedAtWindow != time.Minute {
				panic("rpc auth defaults changed")
			}
		}, ""},
		{"auth token", func(c *Config) { c.RPC.Auth, c.RPC.TokenFile = "token", "config/rpc-tokens.toml" }, ""},
		{"auth jwt", func(c *Config) { c.RPC.Auth, c.RPC.JWTSecretFile = "jwt", "config/jwt.hex" }, ""},
		{"auth token+jwt", func(c *Config) { c.RPC.Auth, c.RPC.TokenFile, c.RPC.JWTSecretFile = "token+jwt", "t", "j" }, ""},
		{"auth unknown", func(c *Config) { c.RPC.Auth = "basic" }, `config: rpc.auth: "basic": want none, token, jwt or token+jwt`},
		{"auth empty", func(c *Config) { c.RPC.Auth = "" }, `config: rpc.auth: "": want none, token, jwt or token+jwt`},
		{"token auth without a file", func(c *Config) { c.RPC.Auth = "token" }, `config: rpc.token_file: required by rpc.auth = "token"`},
		{"jwt auth without a secret", func(c *Config) { c.RPC.Auth, c.RPC.TokenFile = "token+jwt", "t" },
			`config: rpc.jwt_secret_file: required by rpc.auth = "token+jwt"`},
		{"token file unused", func(c *Config) { c.RPC.TokenFile = "t" }, `config: rpc.token_file: is set but rpc.auth = "none" does not use it`},
		{"jwt secret unused", func(c *Config) { c.RPC.Auth, c.RPC.TokenFile, c.RPC.JWTSecretFile = "token", "t", "j" },
			`config: rpc.jwt_secret_file: is set but rpc.auth = "token" does not use it`},
		{"jwt permissions empty", func(c *Config) { c.RPC.JWTPermissions = []string{} },
			"config: rpc.jwt_permissions: no permissions: want one or more of read, submit, admin"},
		{"jwt permissions unknown", func(c *Config) { c.RPC.JWTPermissions = []string{"read", "root"} },
			`config: rpc.jwt_permissions: unknown permission "root": want read, submit or admin`},
		{"jwt permissions all", func(c *Config) { c.RPC.JWTPermissions = []string{"admin", "submit", "read"} }, ""},
		{"jwt window zero", func(c *Config) { c.RPC.JWTIssuedAtWindow = 0 }, "config: rpc.jwt_iat_window: 0s is outside [1ms, 24h0m0s]"},
		{"rates at limits", func(c *Config) {
			c.RPC.IPRequestsPerSec, c.RPC.IPTxsPerSec, c.RPC.TokenRequestsPerSec, c.RPC.TokenTxsPerSec = 1e6, 0.001, 1e6, 0
			c.RPC.IPRequestsBurst, c.RPC.TokenMaxSubs = 1<<24, 1<<24
		}, ""},
		{"rate over limit", func(c *Config) { c.RPC.IPRequestsPerSec = 1e6 + 1 },
			"config: rpc.ip_requests_per_sec: 1.000001e+06 is outside [0, 1e+06] (0: no limit)"},
		{"negative rate", func(c *Config) { c.RPC.TokenTxsPerSec = -0.5 },
			"config: rpc.token_txs_per_sec: -0.5 is outside [0, 1e+06] (0: no limit)"},
		{"NaN rate", func(c *Config) { c.RPC.IPTxsPerSec = math.NaN() }, "config: rpc.ip_txs_per_sec: NaN is outside [0, 1e+06] (0: no limit)"},
		{"negative burst", func(c *Config) { c.RPC.TokenRequestsBurst = -1 },
			"config: rpc.token_requests_burst: -1 is outside [0, 16777216] (0: one second's worth)"},
		{"subscriptions over limit", func(c *Config) { c.RPC.IPMaxSubs = 1<<24 + 1 },
			"config: rpc.ip_max_subscriptions: 16777217 is outside [0, 16777216] (0: no limit)"},
		{"metrics off", func(c *Config) { c.Metrics.Listen = "" }, ""},
		{"debug off by default", func(c *Config) {
			if c.Debug.Listen != "" {
				panic("debug.listen has a default")
			}
		}, ""},
		{"debug on loopback", func(c *Config) { c.Debug.Listen = "127.0.0.1:26603" }, ""},
		{"debug without host", func(c *Config) { c.Debug.Listen = ":6060" },
			`config: debug.listen: ":6060": missing host (use 127.0.0.1 for local only, 0.0.0.0 for all interfaces)`},
		{"debug on metrics port", func(c *Config) { c.Debug.Listen = c.Metrics.Listen },
			"config: debug.listen: 127.0.0.1:26602 is also rpc.listen or metrics.listen: profiling has its own address"},
		{"debug on rpc port", func(c *Config) { c.Debug.Listen = c.RPC.Listen },
			"config: debug.listen: 127.0.0.1:26601 is also rpc.listen or metrics.listen: profiling has its own address"},
		{"metrics on rpc port", func(c *Config) { c.Metrics.Listen = c.RPC.Listen }, "config: metrics.listen: 127.0.0.1:26601 is also rpc.listen"},
		{"metrics bad", func(c *Config) { c.Metrics.Listen = "metrics" }, `config: metrics.listen: "metrics" is not host:port: address metrics: missing port in address`},
		{"zero mempool txs", func(c *Config) { c.Mempool.MaxTxs = 0 }, "config: mempool.max_txs: 0 is outside [1, 16777216]"},
		{"zero mempool bytes", func(c *Config) { c.Mempool.MaxBytes = 0 }, "config: mempool.max_bytes: 0 is outside [1, 1073741824]"},
		{"zero nonce gap", func(c *Config) { c.Mempool.MaxNonceGap = 0 }, "config: mempool.max_nonce_gap: 0 is outside [1, 16777216]"},
		{"per sender over total", func(c *Config) { c.Mempool.MaxTxs = 10; c.Mempool.MaxTxsPerSender = 11 },
			"config: mempool.max_txs_per_sender: 11 is above mempool.max_txs 10"},
		{"per sender at total", func(c *Config) { c.Mempool.MaxTxs = 10; c.Mempool.MaxTxsPerSender = 10 }, ""},
		{"queued at total", func(c *Config) { c.Mempool.MaxTxs, c.Mempool.MaxTxsPerSender, c.Mempool.MaxQueued = 10, 10, 10 },
			"config: mempool.max_queued: 10 is not below mempool.max_txs 10"},
		{"queued below total", func(c *Config) { c.Mempool.MaxTxs, c.Mempool.MaxTxsPerSender, c.Mempool.MaxQueued = 10, 10, 9 }, ""},
		{"negative queued", func(c *Config) { c.Mempool.MaxQueued = -1 }, "config: mempool.max_queued: -1 is outside [1, 16777216]"},
		{"zero ttl", func(c *Config) { c.Mempool.TTL = 0 }, "config: mempool.ttl: 0s is outside [1ms, 24h0m0s]"},
		{"zero batch delay", func(c *Config) { c.Consensus.BatchDelay = 0 }, ""},
		{"negative batch delay", func(c *Config) { c.Consensus.BatchDelay = -time.Second },
			"config: consensus.batch_delay: -1s is outside [0s, 24h0m0s]"},
		{"zero tick", func(c *Config) { c.Consensus.TickInterval = 0 }, "config: consensus.tick_interval: 0s is outside [1ms, 10s]"},
		{"tick at limits", func(c *Config) { c.Consensus.TickInterval = MaxTickInterval }, ""},
		{"tick over limit", func(c *Config) { c.Consensus.TickInterval = 11 * time.Second },
			"config: consensus.tick_interval: 11s is outside [1ms, 10s]"},
		{"zero empty block interval", func(c *Config) { c.Consensus.EmptyBlockInterval = 0 },
			"config: consensus.empty_block_interval: 0s is outside [1ms, 24h0m0s]"},
		{"negative timeout override", func(c *Config) { c.Consensus.ViewChangeTimeout = -1 },
			"config: consensus.view_change_timeout: -1ns is outside [0s, 24h0m0s] (0 keeps the genesis value)"},
		{"override order", func(c *Config) {
			c.Consensus.ViewChangeTimeout = 5 * time.Second
			c.Consensus.ViewChangeTimeoutMax = 4 * time.Second
		}, "config: consensus.view_change_timeout_max: 4s is below consensus.view_change_timeout 5s"},
		{"bad level", func(c *Config) { c.Log.Level = "INFO" }, `config: log.level: "INFO": want debug, info, warn or error`},
		{"bad format", func(c *Config) { c.Log.Format = "xml" }, `config: log.format: "xml": want text or json`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c)
			err := c.Validate()
			checkErr(t, err, tc.want)
		})
	}
}

// checkErr compares err with want exactly, or by prefix when want ends
// in "…"; want "" means no error.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want %s", want)
	}
	if prefix, ok := strings.CutSuffix(want, "…"); ok {
		if !strings.HasPrefix(err.Error(), prefix) {
			t.Fatalf("err = %v\nwant prefix %s", err, prefix)
		}
		return
	}
	if err.Error() != want {
		t.Fatalf("err = %v\nwant  %s", err, want)
	}
	var ke *KeyError
	if !errors.As(err, &ke) {
		t.Fatalf("error %v carries no *KeyError", err)
	}
}

func TestCheckGenesis(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config, p *genesis.Consensus)
		want   string
	}{
		{"frame exactly fits the block", func(c *Config, p *genesis.Consensus) {
			c.P2P.MaxFrameBytes = int(p.MaxBlockBytes) + FrameOverheadBytes
		}, ""},
		{"frame too small for the block", func(c *Config, p *genesis.Consensus) {
			c.P2P.MaxFrameBytes = int(p.MaxBlockBytes) + FrameOverheadBytes - 1
		}, "config: p2p.max_frame_bytes: 2162687 cannot carry a block of genesis max_block_bytes 2097152 (need at least 2162688)"},
		{"tx frame too small", func(c *Config, p *genesis.Consensus) { c.P2P.MaxTxFrameBytes = 1000 },
			"config: p2p.max_tx_frame_bytes: 1000 cannot carry a transaction of genesis max_tx_bytes 65536 (need at least 66560)"},
		{"request too small", func(c *Config, p *genesis.Consensus) { c.RPC.MaxRequestBytes = 2*65536 + RequestOverheadBytes - 1 },
			"config: rpc.max_request_bytes: 132095 cannot carry a hex transaction of genesis max_tx_bytes 65536 (need at least 132096)"},
		{"request exactly fits", func(c *Config, p *genesis.Consensus) { c.RPC.MaxRequestBytes = 2*65536 + RequestOverheadBytes }, ""},
		{"response exactly fits a block", func(c *Config, p *genesis.Consensus) {
			c.RPC.MaxResponseBytes = 5*int(p.MaxBlockBytes) + FrameOverheadBytes
		}, ""},
		{"response too small for a block", func(c *Config, p *genesis.Consensus) {
			c.RPC.MaxResponseBytes = 5*int(p.MaxBlockBytes) + FrameOverheadBytes - 1
		}, "config: rpc.max_response_bytes: 10551295 cannot carry a block of genesis max_block_bytes 2097152 with its transactions (need at least 10551296)"},
		{"mempool smaller than a tx", func(c *Config, p *genesis.Consensus) { c.Mempool.MaxBytes = 65535 },
			"config: mempool.max_bytes: 65535 is below genesis max_tx_bytes 65536"},
		{"override max below genesis base", func(c *Config, p *genesis.Consensus) { c.Consensus.ViewChangeTimeoutMax = time.Second },
			"config: consensus.view_change_timeout_max: 1s is below the view-change timeout 2s"},
		{"override base above genesis max", func(c *Config, p *genesis.Consensus) { c.Consensus.ViewChangeTimeout = 2 * time.Minute },
			"config: consensus.view_change_timeout_max: 1m0s is below the view-change timeout 2m0s"},
		{"tick longer than timeout", func(c *Config, p *genesis.Consensus) { p.ViewChangeTimeoutMs = 40 },
			"config: consensus.tick_interval: 50ms is longer than the view-change timeout 40ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			g := &genesis.Genesis{Consensus: genesis.DefaultConsensus()}
			tc.mutate(&c, &g.Consensus)
			checkErr(t, c.CheckGenesis(g), tc.want)
		})
	}
}

func TestWriteConfigRoundTrip(t *testing.T) {
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, "config"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.Node.Name = "node7"
	c.RPC.CORSOrigins = []string{"*"}
	c.Consensus.ViewChangeTimeoutMax = 90 * time.Second
	c.Metrics.Listen = ""
	path := filepath.Join(home, ConfigFile)
	if err := c.WriteConfig(path); err != nil {
		t.Fatal(err)
	}
	back, err := LoadConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	c.Home = home
	if !reflect.DeepEqual(*back, c) {
		t.Fatalf("round trip:\n%+v\n%+v", *back, c)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v (%v)", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(filepath.Join(home, "config"))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	if err := c.WriteConfig(filepath.Join(home, "missing", "config.toml")); err == nil {
		t.Fatal("WriteConfig into a missing directory succeeded")
	}
}

// TestMemoryLimit: the default limit applies to a default genesis, a
// genesis that allows big blocks raises it to fit the larger memtables,
// 0 turns it off, and SetMemoryLimit sets the runtime's limit.
func TestMemoryLimit(t *testing.T) {
	big := genesis.DefaultConsensus()
	big.MaxBlockTxs = 100_000
	bigWant := 2*chain.MemTableBytesFor(big.MaxBlockTxs, big.MaxBlockBytes) + memoryHeadroom
	for _, c := range []struct {
		name  string
		cons  genesis.Consensus
		limit int64
		want  int64
	}{
		{"default", genesis.DefaultConsensus(), DefaultMemoryLimit, DefaultMemoryLimit},
		{"big blocks raise a small limit", big, MinMemoryLimit, bigWant},
		{"big blocks within the default", big, DefaultMemoryLimit, DefaultMemoryLimit},
		{"off", genesis.DefaultConsensus(), 0, 0},
	} {
		tn := newTestNetWith(t, 1, c.cons)
		cfg, err := LoadConfig(tn.homes[0])
		must(t, err)
		cfg.Node.MemoryLimit = c.limit
		t.Setenv("GOMEMLIMIT", "")
		before := debug.SetMemoryLimit(-1)
		n, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler), SetMemoryLimit: true})
		must(t, err)
		got, applied := n.MemoryLimit(), debug.SetMemoryLimit(before)
		n.Close()
		if got != c.want {
			t.Errorf("%s: MemoryLimit = %d, want %d", c.name, got, c.want)
		}
		if wantApplied := map[bool]int64{true: before, false: c.want}[c.want == 0]; applied != wantApplied {
			t.Errorf("%s: runtime limit set to %d, want %d", c.name, applied, wantApplied)
		}
	}
	if bigWant <= MinMemoryLimit || bigWant >= DefaultMemoryLimit {
		t.Fatalf("big-block limit %d not between the minimum and the default", bigWant)
	}
}

// The frame must carry the largest NewView of the validator set, not only
// a block: 16 validators with checkpoint_interval 100 need more than the
// default 4 MiB.
func TestCheckGenesisFrameCarriesANewView(t *testing.T) {
	g := &genesis.Genesis{Consensus: genesis.DefaultConsensus(), Validators: make([]genesis.Validator, 16)}
	need := ordering.MaxNewViewBytes(16, ordering.DefaultLogWindowFactor*g.Consensus.CheckpointInterval)
	c := DefaultConfig()
	c.P2P.MaxFrameBytes = need - 1
	checkErr(t, c.CheckGenesis(g), fmt.Sprintf("config: p2p.max_frame_bytes: %d cannot carry a NewView of 16 validators with checkpoint_interval 100 (need at least %d; raise it, or lower the genesis checkpoint_interval)", need-1, need))
	c.P2P.MaxFrameBytes = need
	checkErr(t, c.CheckGenesis(g), "")
}
