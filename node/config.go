package node

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/bafomet/bafomet/genesis"
	"github.com/bafomet/bafomet/ordering"
	"github.com/bafomet/bafomet/ordering/driver"
	"github.com/bafomet/bafomet/p2p"
	"github.com/bafomet/bafomet/rpc"
)

// Node home layout, relative to the home directory (docs/operations.md).
const (
	ConfigFile         = "config/config.toml"
	DefaultGenesisFile = "config/genesis.json"
	DefaultKeyFile     = "config/validator.key"
	DefaultDataDir     = "data"
	DefaultWALDir      = "wal"
)

// Default ports: a node's p2p, RPC and metrics ports are consecutive, and
// `bafomet testnet` gives node i the ports DefaultBasePort+10i+{0,1,2}.
const (
	DefaultBasePort    = 26600
	DefaultP2PPort     = DefaultBasePort
	DefaultRPCPort     = DefaultBasePort + 1
	DefaultMetricsPort = DefaultBasePort + 2
)

// Defaults of the remaining settings; docs/operations.md explains each.
const (
	DefaultDialBackoffMin      = 100 * time.Millisecond
	DefaultDialBackoffMax      = 30 * time.Second
	DefaultMaxFrameBytes       = driver.DefaultMaxFrameBytes
	DefaultMaxTxFrameBytes     = 256 << 10
	DefaultOutboundQueue       = 1024
	DefaultStreamsPerPeer      = p2p.DefaultInboundStreamsPerPeer
	DefaultInboundQueue        = p2p.DefaultConsensusInboundPerPeer
	DefaultSeenFrames          = 1 << 14
	DefaultSeenTTL             = time.Second
	DefaultScoreWindow         = 10 * time.Second
	DefaultBanInvalid          = 10
	DefaultBanRepeats          = 5000
	DefaultBanDuration         = time.Minute
	DefaultMaxRequestBytes     = 5 << 20
	DefaultMaxBatchLength      = 100
	DefaultMaxWSMessageBytes   = 5 << 20
	DefaultMaxWSConnections    = 256
	DefaultMaxSubsPerConn      = 32
	DefaultSubscriberBuffer    = 256
	DefaultWSBufferBytes       = 8 << 20
	DefaultWSPingInterval      = 30 * time.Second
	DefaultWSPongTimeout       = 30 * time.Second
	DefaultSubscriberStall     = 5 * time.Second
	DefaultMaxBatchRespBytes   = 10 << 20
	DefaultMaxResponseBytes    = 16 << 20
	DefaultResponseBufferBytes = 128 << 20
	DefaultRPCMaxConnections   = 1024
	DefaultRPCMaxConnsPerIP    = 256
	DefaultMaxWSConnsPerIP     = 64
	DefaultWSMaxInFlight       = 4
	DefaultRPCReadHeaderTO     = 10 * time.Second
	DefaultRPCReadTimeout      = 30 * time.Second
	DefaultRPCWriteTimeout     = 30 * time.Second
	DefaultRPCIdleTimeout      = 60 * time.Second
	DefaultRPCAuth             = string(rpc.AuthNone)
	DefaultJWTIssuedAtWindow   = rpc.DefaultJWTIssuedAtWindow
	DefaultMempoolMaxTxs       = 10_000
	DefaultMempoolMaxBytes     = 64 << 20
	DefaultMempoolMaxPerSender = 64
	DefaultMempoolMaxNonceGap  = 16
	DefaultMempoolTTL          = 10 * time.Minute
	DefaultBatchDelay          = 20 * time.Millisecond
	DefaultTickInterval        = 50 * time.Millisecond
	DefaultEmptyBlockInterval  = time.Second
	DefaultLogLevel            = "info"
	DefaultLogFormat           = "text"

	// DefaultMemoryLimit is a ceiling above a busy node's working set,
	// not a target: a soft limit below the live heap makes the garbage
	// collector run back to back and hand every freed page to the kernel,
	// so the next memtable arena or table builder faults its pages in
	// again — on a 2-core VM that turned Badger's memtable switch into a
	// pause of over a second (docs/performance.md). At 2,000 tx/s a
	// node's anonymous memory was 150–190 MB after a minute and 600–770
	// MB after ten.
	DefaultMemoryLimit = 1 << 30

	// DefaultMinFreeDisk is node.min_free_disk: room for a few minutes of
	// a busy chain's growth above the store's reserve, so that an
	// operator alerted by the pause has time to act before anything
	// stops.
	DefaultMinFreeDisk = 1 << 30

	// DefaultSnapshotInterval is node.snapshot_interval: a snapshot every
	// 10 stable checkpoints (1,000 blocks at the default
	// checkpoint_interval).
	DefaultSnapshotInterval = 10
	// DefaultSnapshotKeep is node.snapshot_keep.
	DefaultSnapshotKeep = 2
	// DefaultStateSyncThreshold is node.state_sync_threshold, in blocks.
	DefaultStateSyncThreshold = 10_000
	// DefaultStateSyncDiscovery is node.state_sync_discovery.
	DefaultStateSyncDiscovery = 15 * time.Second
)

// Bounds that Validate and CheckGenesis enforce.
const (
	// FrameOverheadBytes is the room a consensus frame needs beside a block
	// of genesis max_block_bytes (message fields, certificates, signatures).
	FrameOverheadBytes = 64 << 10
	// RequestOverheadBytes is the room a JSON-RPC request or gossip frame
	// needs beside one transaction.
	RequestOverheadBytes  = 1 << 10
	MinMemoryLimit        = 64 << 20
	MaxMemoryLimit        = 1 << 40
	MaxMinFreeDisk        = 1 << 50
	MaxSnapshotInterval   = 1_000_000
	MaxSnapshotKeep       = 100
	MaxStateSyncDiscovery = 10 * time.Minute
	MaxRetainBlocks       = 1 << 48
	MinTickInterval       = time.Millisecond
	MaxTickInterval       = 10 * time.Second

	cfgMaxNameLen = 64
	cfgMaxBytes   = 1 << 30 // upper bound of every byte-size setting
	cfgMaxCount   = 1 << 24 // upper bound of every count setting
	// cfgMaxStreamsPerPeer bounds p2p.max_inbound_streams_per_peer: each
	// stream may hold a partly received frame.
	cfgMaxStreamsPerPeer = 1024
	// cfgMaxVerifyWorkers bounds p2p.verify_workers.
	cfgMaxVerifyWorkers = 256
	cfgMinDuration      = time.Millisecond // a bare TOML integer is nanoseconds; this catches "ttl = 5"
	cfgMaxDuration      = 24 * time.Hour
	cfgFileMode         = os.FileMode(0o644)
	// cfgMaxRate bounds every requests or transactions per second
	// setting.
	cfgMaxRate = 1e6
)

// DefaultJWTPermissions are rpc.jwt_permissions: what a JWT may do unless
// the operator grants more (admin) or less.
func DefaultJWTPermissions() []string { return []string{"read", "submit"} }

// Config is a node's configuration, read from HOME/config/config.toml.
// Relative paths in it are relative to Home.
type Config struct {
	Node      NodeConfig      `toml:"node"`
	P2P       P2PConfig       `toml:"p2p"`
	RPC       RPCConfig       `toml:"rpc"`
	Metrics   MetricsConfig   `toml:"metrics"`
	Debug     DebugConfig     `toml:"debug"`
	Mempool   MempoolConfig   `toml:"mempool"`
	Consensus ConsensusConfig `toml:"consensus"`
	Log       LogConfig       `toml:"log"`

	// Home is the node's home directory, set by LoadConfig; not in the file.
	Home string `toml:"-"`
}

// NodeConfig names the node and its files.
type NodeConfig struct {
	Name        string `toml:"name"`         // label in logs; empty means the genesis validator name
	GenesisFile string `toml:"genesis_file"` // default config/genesis.json
	KeyFile     string `toml:"key_file"`     // default config/validator.key
	DataDir     string `toml:"data_dir"`     // default data; Badger and the block file
	// WALDir holds the consensus log: every message this validator signed
	// since its last stable checkpoint, synced before it was sent. It
	// belongs with data_dir (wipe both or neither; see docs/operations.md).
	WALDir string `toml:"wal_dir"` // default wal
	// MemoryLimit is the Go runtime's soft memory limit in bytes for
	// `bafomet start` (0 turns it off; the GOMEMLIMIT environment variable
	// overrides it). The node raises it to what the Badger memtables sized
	// from genesis need (see Node.MemoryLimit).
	MemoryLimit int64 `toml:"memory_limit"`
	// MinFreeDisk is the free space, in bytes, the node keeps on the
	// filesystems of data_dir and wal_dir: below it the validator pauses
	// (refuses transactions, neither proposes nor votes) until space is
	// freed. 0 turns the pause off. The node raises it to twice the
	// store's own reserve (docs/operations.md, "A full disk").
	MinFreeDisk int64 `toml:"min_free_disk"`
	// SnapshotInterval makes the node keep a snapshot of the state every
	// this many stable checkpoints, for peers to join from by state sync
	// and for `bafomet snapshot export`; 0 takes and serves none.
	SnapshotInterval uint64 `toml:"snapshot_interval"`
	// SnapshotKeep is how many of the newest snapshots the node keeps.
	SnapshotKeep int `toml:"snapshot_keep"`
	// StateSync lets a node whose store holds no block, or that is more
	// than StateSyncThreshold blocks behind the best height its peers
	// prove, restore a snapshot its peers agree on at start instead of
	// replaying every block.
	StateSync          bool          `toml:"state_sync"`
	StateSyncThreshold uint64        `toml:"state_sync_threshold"`
	StateSyncDiscovery time.Duration `toml:"state_sync_discovery"` // how long to look for a snapshot before block sync
	// RetainBlocks is how many blocks below the latest the node keeps:
	// it prunes blocks, receipts, certificates, appHashes and their
	// indexes older than latest − retain_blocks, never above its oldest
	// state snapshot nor what its ordering core needs at a restart
	// (pruneTarget). 0, the default, keeps everything.
	RetainBlocks uint64 `toml:"retain_blocks"`
}

// P2PConfig configures the libp2p host.
type P2PConfig struct {
	Listen          string        `toml:"listen"`                       // multiaddr, e.g. /ip4/0.0.0.0/tcp/26600
	DialBackoffMin  time.Duration `toml:"dial_backoff_min"`             // first redial delay
	DialBackoffMax  time.Duration `toml:"dial_backoff_max"`             // cap of the exponential redial delay
	MaxFrameBytes   int           `toml:"max_frame_bytes"`              // largest consensus frame (carries a block)
	MaxTxFrameBytes int           `toml:"max_tx_frame_bytes"`           // largest transaction-gossip frame
	OutboundQueue   int           `toml:"outbound_queue"`               // frames queued per peer and protocol
	StreamsPerPeer  int           `toml:"max_inbound_streams_per_peer"` // consensus and tx streams one peer may have open
	InboundQueue    int           `toml:"inbound_queue_per_peer"`       // consensus frames buffered per peer before its new ones drop
	VerifyWorkers   int           `toml:"verify_workers"`               // goroutines checking consensus messages; 0 means GOMAXPROCS
	SeenFrames      int           `toml:"seen_frames"`                  // consensus frame hashes remembered per generation, to drop repeats
	SeenTTL         time.Duration `toml:"seen_ttl"`                     // how long a consensus frame is remembered (ttl to 3×ttl)
	ScoreWindow     time.Duration `toml:"score_window"`                 // the window ban_invalid and ban_repeats count in
	BanInvalid      int           `toml:"ban_invalid"`                  // invalid consensus frames in a window that ban a peer
	BanRepeats      int           `toml:"ban_repeats"`                  // repeated consensus frames in a window that ban a peer
	BanDuration     time.Duration `toml:"ban_duration"`                 // how long a banned peer is refused
}

// RPCConfig configures the JSON-RPC and websocket server.
type RPCConfig struct {
	Listen            string        `toml:"listen"` // host:port
	CORSOrigins       []string      `toml:"cors_origins"`
	Explorer          bool          `toml:"explorer"` // serve the block explorer at /explorer/
	MaxRequestBytes   int           `toml:"max_request_bytes"`
	MaxBatchLength    int           `toml:"max_batch_length"`
	MaxWSMessageBytes int           `toml:"max_ws_message_bytes"`
	MaxWSConnections  int           `toml:"max_ws_connections"`
	MaxSubsPerConn    int           `toml:"max_subscriptions_per_connection"`
	SubscriberBuffer  int           `toml:"subscriber_buffer"` // blocks buffered per subscription
	WSBufferBytes     int           `toml:"ws_buffer_bytes"`   // notification bytes loaded, not yet written, per websocket connection
	WSPingInterval    time.Duration `toml:"ws_ping_interval"`
	WSPongTimeout     time.Duration `toml:"ws_pong_timeout"`          // close a connection silent this long after a ping
	SubscriberStall   time.Duration `toml:"subscriber_stall_timeout"` // end a subscription whose buffer stays full this long
	MaxBatchRespBytes int           `toml:"max_batch_response_bytes"`
	MaxResponseBytes  int           `toml:"max_response_bytes"`    // one call's response, or one websocket message
	RespBufferBytes   int           `toml:"response_buffer_bytes"` // responses being written, all clients
	MaxConnections    int           `toml:"max_connections"`       // HTTP and websocket; at most half of RLIMIT_NOFILE
	MaxConnsPerIP     int           `toml:"max_connections_per_ip"`
	MaxWSConnsPerIP   int           `toml:"max_ws_connections_per_ip"`
	WSMaxInFlight     int           `toml:"ws_max_in_flight"` // requests one websocket has in progress
	ReadHeaderTimeout time.Duration `toml:"read_header_timeout"`
	ReadTimeout       time.Duration `toml:"read_timeout"`  // whole request, headers and body
	WriteTimeout      time.Duration `toml:"write_timeout"` // end of request headers to end of response
	IdleTimeout       time.Duration `toml:"idle_timeout"`  // keep-alive connection between requests

	TLSCert           string        `toml:"tls_cert"`        // PEM certificate (chain); with tls_key the port serves HTTPS and WSS only
	TLSKey            string        `toml:"tls_key"`         // PEM private key of tls_cert
	Auth              string        `toml:"auth"`            // none, token, jwt or token+jwt
	TokenFile         string        `toml:"token_file"`      // API tokens (docs/rpc.md); with auth token or token+jwt
	JWTSecretFile     string        `toml:"jwt_secret_file"` // 32-byte HS256 secret in hex; with auth jwt or token+jwt
	JWTPermissions    []string      `toml:"jwt_permissions"` // what every valid JWT may do
	JWTIssuedAtWindow time.Duration `toml:"jwt_iat_window"`  // how far a JWT's iat may be from the node's clock

	// Rate limits of each client IP address and of each token (the token
	// file may give a token its own); 0 is no limit, a burst of 0 is one
	// second's worth.
	IPRequestsPerSec    float64 `toml:"ip_requests_per_sec"`
	IPRequestsBurst     int     `toml:"ip_requests_burst"`
	IPTxsPerSec         float64 `toml:"ip_txs_per_sec"`
	IPTxsBurst          int     `toml:"ip_txs_burst"`
	IPMaxSubs           int     `toml:"ip_max_subscriptions"`
	TokenRequestsPerSec float64 `toml:"token_requests_per_sec"`
	TokenRequestsBurst  int     `toml:"token_requests_burst"`
	TokenTxsPerSec      float64 `toml:"token_txs_per_sec"`
	TokenTxsBurst       int     `toml:"token_txs_burst"`
	TokenMaxSubs        int     `toml:"token_max_subscriptions"`
}

// MetricsConfig configures the Prometheus endpoint.
type MetricsConfig struct {
	Listen string `toml:"listen"` // host:port; empty turns metrics off
}

// DebugConfig configures Go's profiler (/debug/pprof/), served on its own
// listener and only when Listen is set: profiles reveal the command line,
// and CPU profiles and traces cost CPU, so it is never on an address
// operators did not choose for it.
type DebugConfig struct {
	Listen string `toml:"listen"` // host:port; empty (the default) turns profiling off
}

// MempoolConfig bounds the mempool.
type MempoolConfig struct {
	MaxTxs          int           `toml:"max_txs"`
	MaxBytes        int           `toml:"max_bytes"`
	MaxQueued       int           `toml:"max_queued"`         // txs behind a nonce gap, all senders; 0: a quarter of max_txs
	MaxTxsPerSender int           `toml:"max_txs_per_sender"` // a sender's fair share of a full pool, not a cap
	MaxNonceGap     int           `toml:"max_nonce_gap"`      // how far ahead of a sender's next nonce a tx may be
	TTL             time.Duration `toml:"ttl"`
}

// ConsensusConfig holds the node-local consensus settings. Parameters every
// validator must agree on live in genesis; only the view-change timeouts,
// which affect liveness but never safety, may be overridden here.
type ConsensusConfig struct {
	CreateEmptyBlocks  bool          `toml:"create_empty_blocks"`
	EmptyBlockInterval time.Duration `toml:"empty_block_interval"` // with create_empty_blocks
	BatchDelay         time.Duration `toml:"batch_delay"`          // primary waits this long to fill a block
	TickInterval       time.Duration `toml:"tick_interval"`        // one tick of the ordering core
	// ViewChangeTimeout and ViewChangeTimeoutMax override the genesis
	// values when non-zero.
	ViewChangeTimeout    time.Duration `toml:"view_change_timeout"`
	ViewChangeTimeoutMax time.Duration `toml:"view_change_timeout_max"`
}

// LogConfig configures log/slog output.
type LogConfig struct {
	Level  string `toml:"level"`  // debug, info, warn or error
	Format string `toml:"format"` // text or json
}

// DefaultConfig returns the configuration used for every key a file omits.
func DefaultConfig() Config {
	return Config{
		Node: NodeConfig{GenesisFile: DefaultGenesisFile, KeyFile: DefaultKeyFile, DataDir: DefaultDataDir, WALDir: DefaultWALDir, MemoryLimit: DefaultMemoryLimit,
			MinFreeDisk: DefaultMinFreeDisk, SnapshotInterval: DefaultSnapshotInterval, SnapshotKeep: DefaultSnapshotKeep,
			StateSync: true, StateSyncThreshold: DefaultStateSyncThreshold, StateSyncDiscovery: DefaultStateSyncDiscovery},
		P2P: P2PConfig{
			Listen:         "/ip4/0.0.0.0/tcp/" + strconv.Itoa(DefaultP2PPort),
			DialBackoffMin: DefaultDialBackoffMin, DialBackoffMax: DefaultDialBackoffMax,
			MaxFrameBytes: DefaultMaxFrameBytes, MaxTxFrameBytes: DefaultMaxTxFrameBytes,
			OutboundQueue: DefaultOutboundQueue, StreamsPerPeer: DefaultStreamsPerPeer,
			InboundQueue: DefaultInboundQueue, SeenFrames: DefaultSeenFrames, SeenTTL: DefaultSeenTTL,
			ScoreWindow: DefaultScoreWindow, BanInvalid: DefaultBanInvalid, BanRepeats: DefaultBanRepeats,
			BanDuration: DefaultBanDuration,
		},
		RPC: RPCConfig{
			Listen:          "127.0.0.1:" + strconv.Itoa(DefaultRPCPort),
			CORSOrigins:     []string{},
			MaxRequestBytes: DefaultMaxRequestBytes, MaxBatchLength: DefaultMaxBatchLength,
			MaxWSMessageBytes: DefaultMaxWSMessageBytes, MaxWSConnections: DefaultMaxWSConnections,
			MaxSubsPerConn: DefaultMaxSubsPerConn, SubscriberBuffer: DefaultSubscriberBuffer, WSBufferBytes: DefaultWSBufferBytes,
			WSPingInterval: DefaultWSPingInterval, WSPongTimeout: DefaultWSPongTimeout,
			SubscriberStall: DefaultSubscriberStall, MaxBatchRespBytes: DefaultMaxBatchRespBytes,
			MaxResponseBytes: DefaultMaxResponseBytes, RespBufferBytes: DefaultResponseBufferBytes,
			MaxConnections: DefaultRPCMaxConnections, MaxConnsPerIP: DefaultRPCMaxConnsPerIP, MaxWSConnsPerIP: DefaultMaxWSConnsPerIP,
			WSMaxInFlight:     DefaultWSMaxInFlight,
			ReadHeaderTimeout: DefaultRPCReadHeaderTO, ReadTimeout: DefaultRPCReadTimeout,
			WriteTimeout: DefaultRPCWriteTimeout, IdleTimeout: DefaultRPCIdleTimeout,
			Auth: DefaultRPCAuth, JWTPermissions: DefaultJWTPermissions(), JWTIssuedAtWindow: DefaultJWTIssuedAtWindow,
		},
		Metrics: MetricsConfig{Listen: "127.0.0.1:" + strconv.Itoa(DefaultMetricsPort)},
		Mempool: MempoolConfig{
			MaxTxs: DefaultMempoolMaxTxs, MaxBytes: DefaultMempoolMaxBytes,
			MaxTxsPerSender: DefaultMempoolMaxPerSender, MaxNonceGap: DefaultMempoolMaxNonceGap,
			TTL: DefaultMempoolTTL,
		},
		Consensus: ConsensusConfig{
			EmptyBlockInterval: DefaultEmptyBlockInterval,
			BatchDelay:         DefaultBatchDelay,
			TickInterval:       DefaultTickInterval,
		},
		Log: LogConfig{Level: DefaultLogLevel, Format: DefaultLogFormat},
	}
}

// LoadConfig reads HOME/config/config.toml over DefaultConfig, rejecting
// unknown keys, and validates the result. Errors name the key.
func LoadConfig(home string) (*Config, error) {
	abs, err := filepath.Abs(home)
	if err != nil {
		return nil, fmt.Errorf("config: home %s: %w", home, err)
	}
	path := filepath.Join(abs, ConfigFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.Home = abs
	return c, nil
}

// ParseConfig decodes TOML over DefaultConfig and validates it.
func ParseConfig(data []byte) (*Config, error) {
	c := DefaultConfig()
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) && pe.LastKey != "" {
			return nil, &KeyError{Key: pe.LastKey, Problem: fmt.Sprintf("line %d: %s", pe.Position.Line, pe.Message)}
		}
		// Type mismatches are plain errors: toml: line N (last key "K"): …
		if m := tomlKeyErr.FindStringSubmatch(err.Error()); m != nil {
			return nil, &KeyError{Key: m[2], Problem: "line " + m[1] + ": " + m[3]}
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	if keys := unknownKeys(md.Undecoded()); len(keys) > 0 {
		return nil, fmt.Errorf("config: unknown key %s (see docs/operations.md)", strings.Join(keys, ", "))
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

var tomlKeyErr = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

// unknownKeys lists the undecoded keys, leaving out a table whose own
// keys are listed.
func unknownKeys(undecoded []toml.Key) []string {
	all := make([]string, len(undecoded))
	for i, k := range undecoded {
		all[i] = k.String()
	}
	var out []string
	for _, k := range all {
		parent := false
		for _, other := range all {
			if strings.HasPrefix(other, k+".") {
				parent = true
				break
			}
		}
		if !parent {
			out = append(out, k)
		}
	}
	return out
}

// WriteConfig writes c as TOML to path, atomically (a temporary file in the
// same directory, then a rename).
func (c *Config) WriteConfig(path string) error {
	var buf bytes.Buffer
	buf.WriteString("# bafomet node configuration; every key is described in docs/operations.md.\n\n")
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		return fmt.Errorf("config: encode: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*.toml")
	if err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	_, werr := tmp.Write(buf.Bytes())
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), cfgFileMode)); err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	return nil
}

// GenesisPath returns the genesis file's path, resolved against Home.
func (c *Config) GenesisPath() string { return c.resolve(c.Node.GenesisFile) }

// KeyPath returns the validator key file's path, resolved against Home.
func (c *Config) KeyPath() string { return c.resolve(c.Node.KeyFile) }

// DataPath returns the data directory, resolved against Home.
func (c *Config) DataPath() string { return c.resolve(c.Node.DataDir) }

// nestedPaths reports whether a and b are the same directory or one lies
// inside the other.
func nestedPaths(a, b string) bool {
	inside := func(x, y string) bool {
		rel, err := filepath.Rel(y, x)
		return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
	}
	return inside(a, b) || inside(b, a)
}

// WALPath returns the consensus log directory, resolved against Home.
func (c *Config) WALPath() string { return c.resolve(c.Node.WALDir) }

// resolveSet resolves p against Home, leaving "" (not set) as it is.
func (c *Config) resolveSet(p string) string {
	if p == "" {
		return ""
	}
	return c.resolve(p)
}

func (c *Config) resolve(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Home, p)
}

// ViewChangeTimeouts returns the base and maximum view-change timeouts in
// force: the config overrides where set, else the genesis values.
func (c *Config) ViewChangeTimeouts(g *genesis.Genesis) (base, max time.Duration) {
	base, max = g.Consensus.ViewChangeTimeout(), g.Consensus.ViewChangeTimeoutMax()
	if c.Consensus.ViewChangeTimeout > 0 {
		base = c.Consensus.ViewChangeTimeout
	}
	if c.Consensus.ViewChangeTimeoutMax > 0 {
		max = c.Consensus.ViewChangeTimeoutMax
	}
	return base, max
}

// KeyError names the config key that has a problem.
type KeyError struct {
	Key     string
	Problem string
}

func (e *KeyError) Error() string { return "config: " + e.Key + ": " + e.Problem }

func cfgKeyErr(key, format string, args ...any) error {
	return &KeyError{Key: key, Problem: fmt.Sprintf(format, args...)}
}

// CheckGenesis checks the settings that depend on the chain's consensus
// parameters: frames and requests must fit the largest block and
// transaction, and the effective timeouts must be ordered.
func (c *Config) CheckGenesis(g *genesis.Genesis) error {
	p := g.Consensus
	var errs []error
	if need := p.MaxBlockBytes + FrameOverheadBytes; uint64(c.P2P.MaxFrameBytes) < need {
		errs = append(errs, cfgKeyErr("p2p.max_frame_bytes", "%d cannot carry a block of genesis max_block_bytes %d (need at least %d)",
			c.P2P.MaxFrameBytes, p.MaxBlockBytes, need))
	} else if need := ordering.MaxNewViewBytes(len(g.Validators), ordering.DefaultLogWindowFactor*p.CheckpointInterval); c.P2P.MaxFrameBytes < need {
		errs = append(errs, cfgKeyErr("p2p.max_frame_bytes", "%d cannot carry a NewView of %d validators with checkpoint_interval %d (need at least %d; raise it, or lower the genesis checkpoint_interval)",
			c.P2P.MaxFrameBytes, len(g.Validators), p.CheckpointInterval, need))
	}
	if need := p.MaxTxBytes + RequestOverheadBytes; uint64(c.P2P.MaxTxFrameBytes) < need {
		errs = append(errs, cfgKeyErr("p2p.max_tx_frame_bytes", "%d cannot carry a transaction of genesis max_tx_bytes %d (need at least %d)",
			c.P2P.MaxTxFrameBytes, p.MaxTxBytes, need))
	}
	if need := 2*p.MaxTxBytes + RequestOverheadBytes; uint64(c.RPC.MaxRequestBytes) < need {
		errs = append(errs, cfgKeyErr("rpc.max_request_bytes", "%d cannot carry a hex transaction of genesis max_tx_bytes %d (need at least %d)",
			c.RPC.MaxRequestBytes, p.MaxTxBytes, need))
	}
	// A block's JSON with full transactions is up to about 4.3 times its
	// encoded size (hex, plus hash, sender and fields of each of many small
	// transactions); chain_getBlockByNumber(h, true) must fit one response.
	if need := 5*p.MaxBlockBytes + FrameOverheadBytes; uint64(c.RPC.MaxResponseBytes) < need {
		errs = append(errs, cfgKeyErr("rpc.max_response_bytes", "%d cannot carry a block of genesis max_block_bytes %d with its transactions (need at least %d)",
			c.RPC.MaxResponseBytes, p.MaxBlockBytes, need))
	}
	if uint64(c.Mempool.MaxBytes) < p.MaxTxBytes {
		errs = append(errs, cfgKeyErr("mempool.max_bytes", "%d is below genesis max_tx_bytes %d", c.Mempool.MaxBytes, p.MaxTxBytes))
	}
	base, max := c.ViewChangeTimeouts(g)
	if max < base {
		errs = append(errs, cfgKeyErr("consensus.view_change_timeout_max", "%s is below the view-change timeout %s", max, base))
	}
	if c.Consensus.TickInterval > base {
		errs = append(errs, cfgKeyErr("consensus.tick_interval", "%s is longer than the view-change timeout %s", c.Consensus.TickInterval, base))
	}
	return errors.Join(errs...)
}

// Validate checks every value on its own. It returns nil or the joined
// *KeyError of each problem.
func (c *Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	c.validateNode(add)
	c.validateP2P(add)
	c.validateRPC(add)
	c.validateMempool(add)
	c.validateConsensus(add)
	c.validateLog(add)
	return errors.Join(errs...)
}

func (c *Config) validateNode(add func(error)) {
	if len(c.Node.Name) > cfgMaxNameLen {
		add(cfgKeyErr("node.name", "longer than %d bytes", cfgMaxNameLen))
	}
	add(cfgNonEmpty("node.genesis_file", c.Node.GenesisFile))
	add(cfgNonEmpty("node.key_file", c.Node.KeyFile))
	add(cfgNonEmpty("node.data_dir", c.Node.DataDir))
	add(cfgNonEmpty("node.wal_dir", c.Node.WALDir))
	if c.Node.WALDir != "" && c.Node.DataDir != "" && nestedPaths(c.WALPath(), c.DataPath()) {
		add(cfgKeyErr("node.wal_dir", "%q overlaps node.data_dir %q: the consensus log needs a directory of its own, beside the data directory", c.Node.WALDir, c.Node.DataDir))
	}
	if l := c.Node.MemoryLimit; l != 0 && (l < MinMemoryLimit || l > MaxMemoryLimit) {
		add(cfgKeyErr("node.memory_limit", "%d bytes: want 0 (off) or %d to %d", l, int64(MinMemoryLimit), int64(MaxMemoryLimit)))
	}
	if m := c.Node.MinFreeDisk; m < 0 || m > MaxMinFreeDisk {
		add(cfgKeyErr("node.min_free_disk", "%d bytes: want 0 (off) to %d", m, int64(MaxMinFreeDisk)))
	}
	if v := c.Node.SnapshotInterval; v > MaxSnapshotInterval {
		add(cfgKeyErr("node.snapshot_interval", "%d checkpoints: want 0 (off) to %d", v, MaxSnapshotInterval))
	}
	if k := c.Node.SnapshotKeep; k < 1 || k > MaxSnapshotKeep {
		add(cfgKeyErr("node.snapshot_keep", "%d: want 1 to %d", k, MaxSnapshotKeep))
	}
	if d := c.Node.StateSyncDiscovery; d < time.Second || d > MaxStateSyncDiscovery {
		add(cfgKeyErr("node.state_sync_discovery", "%s: want 1s to %s", d, MaxStateSyncDiscovery))
	}
	if r := c.Node.RetainBlocks; r > MaxRetainBlocks {
		add(cfgKeyErr("node.retain_blocks", "%d blocks: want 0 (keep everything) to %d", r, uint64(MaxRetainBlocks)))
	} else if r > 0 && c.Node.SnapshotInterval == 0 {
		add(cfgKeyErr("node.retain_blocks", "%d needs node.snapshot_interval above 0: a node prunes only blocks below a snapshot it can serve instead", r))
	}
}

func (c *Config) validateP2P(add func(error)) {
	add(cfgMultiaddr("p2p.listen", c.P2P.Listen))
	add(cfgDuration("p2p.dial_backoff_min", c.P2P.DialBackoffMin))
	add(cfgDuration("p2p.dial_backoff_max", c.P2P.DialBackoffMax))
	if c.P2P.DialBackoffMax < c.P2P.DialBackoffMin {
		add(cfgKeyErr("p2p.dial_backoff_max", "%s is below p2p.dial_backoff_min %s", c.P2P.DialBackoffMax, c.P2P.DialBackoffMin))
	}
	add(cfgInt("p2p.max_frame_bytes", c.P2P.MaxFrameBytes, cfgMaxBytes))
	add(cfgInt("p2p.max_tx_frame_bytes", c.P2P.MaxTxFrameBytes, cfgMaxBytes))
	add(cfgInt("p2p.outbound_queue", c.P2P.OutboundQueue, cfgMaxCount))
	add(cfgInt("p2p.max_inbound_streams_per_peer", c.P2P.StreamsPerPeer, cfgMaxStreamsPerPeer))
	add(cfgInt("p2p.inbound_queue_per_peer", c.P2P.InboundQueue, cfgMaxCount))
	if w := c.P2P.VerifyWorkers; w < 0 || w > cfgMaxVerifyWorkers {
		add(cfgKeyErr("p2p.verify_workers", "%d is outside [0, %d]", w, cfgMaxVerifyWorkers))
	}
	add(cfgInt("p2p.seen_frames", c.P2P.SeenFrames, cfgMaxCount))
	add(cfgDuration("p2p.seen_ttl", c.P2P.SeenTTL))
	add(cfgDuration("p2p.score_window", c.P2P.ScoreWindow))
	add(cfgInt("p2p.ban_invalid", c.P2P.BanInvalid, cfgMaxCount))
	add(cfgInt("p2p.ban_repeats", c.P2P.BanRepeats, cfgMaxCount))
	add(cfgDuration("p2p.ban_duration", c.P2P.BanDuration))
}

func (c *Config) validateRPC(add func(error)) {
	add(cfgHostPort("rpc.listen", c.RPC.Listen))
	for i, o := range c.RPC.CORSOrigins {
		if strings.TrimSpace(o) == "" {
			add(cfgKeyErr("rpc.cors_origins", "entry %d is empty", i))
		}
	}
	add(cfgInt("rpc.max_request_bytes", c.RPC.MaxRequestBytes, cfgMaxBytes))
	add(cfgInt("rpc.max_batch_length", c.RPC.MaxBatchLength, cfgMaxCount))
	add(cfgInt("rpc.max_ws_message_bytes", c.RPC.MaxWSMessageBytes, cfgMaxBytes))
	add(cfgInt("rpc.max_ws_connections", c.RPC.MaxWSConnections, cfgMaxCount))
	add(cfgInt("rpc.max_subscriptions_per_connection", c.RPC.MaxSubsPerConn, cfgMaxCount))
	add(cfgInt("rpc.subscriber_buffer", c.RPC.SubscriberBuffer, cfgMaxCount))
	add(cfgInt("rpc.ws_buffer_bytes", c.RPC.WSBufferBytes, cfgMaxBytes))
	add(cfgDuration("rpc.ws_ping_interval", c.RPC.WSPingInterval))
	add(cfgDuration("rpc.ws_pong_timeout", c.RPC.WSPongTimeout))
	add(cfgDuration("rpc.subscriber_stall_timeout", c.RPC.SubscriberStall))
	add(cfgInt("rpc.max_batch_response_bytes", c.RPC.MaxBatchRespBytes, cfgMaxBytes))
	add(cfgInt("rpc.max_response_bytes", c.RPC.MaxResponseBytes, cfgMaxBytes))
	add(cfgInt("rpc.response_buffer_bytes", c.RPC.RespBufferBytes, cfgMaxBytes))
	if largest := c.RPC.MaxResponseBytes + c.RPC.MaxBatchRespBytes; c.RPC.RespBufferBytes < largest {
		add(cfgKeyErr("rpc.response_buffer_bytes", "%d is below rpc.max_response_bytes + rpc.max_batch_response_bytes %d: the largest answer could never be sent",
			c.RPC.RespBufferBytes, largest))
	}
	add(cfgInt("rpc.max_connections", c.RPC.MaxConnections, cfgMaxCount))
	add(cfgInt("rpc.max_connections_per_ip", c.RPC.MaxConnsPerIP, cfgMaxCount))
	add(cfgInt("rpc.max_ws_connections_per_ip", c.RPC.MaxWSConnsPerIP, cfgMaxCount))
	add(cfgInt("rpc.ws_max_in_flight", c.RPC.WSMaxInFlight, cfgMaxCount))
	add(cfgDuration("rpc.read_header_timeout", c.RPC.ReadHeaderTimeout))
	add(cfgDuration("rpc.read_timeout", c.RPC.ReadTimeout))
	add(cfgDuration("rpc.write_timeout", c.RPC.WriteTimeout))
	add(cfgDuration("rpc.idle_timeout", c.RPC.IdleTimeout))
	c.validateRPCAuth(add)
	if c.Metrics.Listen != "" {
		add(cfgHostPort("metrics.listen", c.Metrics.Listen))
		if c.Metrics.Listen == c.RPC.Listen && !strings.HasSuffix(c.RPC.Listen, ":0") { // port 0: each gets its own free port
			add(cfgKeyErr("metrics.listen", "%s is also rpc.listen", c.Metrics.Listen))
		}
	}
	if d := c.Debug.Listen; d != "" {
		add(cfgHostPort("debug.listen", d))
		if !strings.HasSuffix(d, ":0") && (d == c.RPC.Listen || d == c.Metrics.Listen) {
			add(cfgKeyErr("debug.listen", "%s is also rpc.listen or metrics.listen: profiling has its own address", d))
		}
	}
}

// validateRPCAuth checks TLS, authentication and the rate limits.
func (c *Config) validateRPCAuth(add func(error)) {
	r := c.RPC
	if (r.TLSCert == "") != (r.TLSKey == "") {
		add(cfgKeyErr("rpc.tls_cert", "set both rpc.tls_cert and rpc.tls_key (HTTPS and WSS) or neither (HTTP and WS)"))
	}
	mode := rpc.AuthMode(r.Auth)
	switch mode {
	case rpc.AuthNone, rpc.AuthToken, rpc.AuthJWT, rpc.AuthTokenOrJWT:
		files := []struct {
			key, path string
			used      bool
		}{
			{"rpc.token_file", r.TokenFile, mode == rpc.AuthToken || mode == rpc.AuthTokenOrJWT},
			{"rpc.jwt_secret_file", r.JWTSecretFile, mode == rpc.AuthJWT || mode == rpc.AuthTokenOrJWT},
		}
		for _, f := range files {
			if f.used && strings.TrimSpace(f.path) == "" {
				add(cfgKeyErr(f.key, "required by rpc.auth = %q", r.Auth))
			}
			if !f.used && f.path != "" {
				add(cfgKeyErr(f.key, "is set but rpc.auth = %q does not use it", r.Auth))
			}
		}
	default:
		add(cfgKeyErr("rpc.auth", "%q: want none, token, jwt or token+jwt", r.Auth))
	}
	if _, err := rpc.ParsePermissions(r.JWTPermissions); err != nil {
		add(cfgKeyErr("rpc.jwt_permissions", "%v", err))
	}
	add(cfgDuration("rpc.jwt_iat_window", r.JWTIssuedAtWindow))
	for _, f := range []struct {
		key string
		v   float64
	}{
		{"rpc.ip_requests_per_sec", r.IPRequestsPerSec}, {"rpc.ip_txs_per_sec", r.IPTxsPerSec},
		{"rpc.token_requests_per_sec", r.TokenRequestsPerSec}, {"rpc.token_txs_per_sec", r.TokenTxsPerSec},
	} {
		if !(f.v >= 0 && f.v <= cfgMaxRate) { // NaN fails both
			add(cfgKeyErr(f.key, "%g is outside [0, %g] (0: no limit)", f.v, float64(cfgMaxRate)))
		}
	}
	for _, f := range []struct {
		key string
		v   int
	}{
		{"rpc.ip_requests_burst", r.IPRequestsBurst}, {"rpc.ip_txs_burst", r.IPTxsBurst}, {"rpc.ip_max_subscriptions", r.IPMaxSubs},
		{"rpc.token_requests_burst", r.TokenRequestsBurst}, {"rpc.token_txs_burst", r.TokenTxsBurst}, {"rpc.token_max_subscriptions", r.TokenMaxSubs},
	} {
		if f.v < 0 || f.v > cfgMaxCount {
			add(cfgKeyErr(f.key, "%d is outside [0, %d] (0: %s)", f.v, cfgMaxCount, zeroLimitMeaning(f.key)))
		}
	}
}

func zeroLimitMeaning(key string) string {
	if strings.HasSuffix(key, "_burst") {
		return "one second's worth"
	}
	return "no limit"
}

func (c *Config) validateMempool(add func(error)) {
	add(cfgInt("mempool.max_txs", c.Mempool.MaxTxs, cfgMaxCount))
	add(cfgInt("mempool.max_bytes", c.Mempool.MaxBytes, cfgMaxBytes))
	add(cfgInt("mempool.max_txs_per_sender", c.Mempool.MaxTxsPerSender, cfgMaxCount))
	add(cfgInt("mempool.max_nonce_gap", c.Mempool.MaxNonceGap, cfgMaxCount))
	add(cfgDuration("mempool.ttl", c.Mempool.TTL))
	if q := c.Mempool.MaxQueued; q != 0 {
		add(cfgInt("mempool.max_queued", q, cfgMaxCount))
		if c.Mempool.MaxTxs > 0 && q >= c.Mempool.MaxTxs {
			add(cfgKeyErr("mempool.max_queued", "%d is not below mempool.max_txs %d", q, c.Mempool.MaxTxs))
		}
	}
	if c.Mempool.MaxTxs > 0 && c.Mempool.MaxTxsPerSender > c.Mempool.MaxTxs {
		add(cfgKeyErr("mempool.max_txs_per_sender", "%d is above mempool.max_txs %d", c.Mempool.MaxTxsPerSender, c.Mempool.MaxTxs))
	}
}

func (c *Config) validateConsensus(add func(error)) {
	cc := c.Consensus
	add(cfgDuration("consensus.empty_block_interval", cc.EmptyBlockInterval))
	if cc.BatchDelay < 0 || cc.BatchDelay > cfgMaxDuration {
		add(cfgKeyErr("consensus.batch_delay", "%s is outside [0s, %s]", cc.BatchDelay, cfgMaxDuration))
	}
	if cc.TickInterval < MinTickInterval || cc.TickInterval > MaxTickInterval {
		add(cfgKeyErr("consensus.tick_interval", "%s is outside [%s, %s]", cc.TickInterval, MinTickInterval, MaxTickInterval))
	}
	for _, o := range []struct {
		key string
		d   time.Duration
	}{{"consensus.view_change_timeout", cc.ViewChangeTimeout}, {"consensus.view_change_timeout_max", cc.ViewChangeTimeoutMax}} {
		if o.d < 0 || o.d > cfgMaxDuration {
			add(cfgKeyErr(o.key, "%s is outside [0s, %s] (0 keeps the genesis value)", o.d, cfgMaxDuration))
		}
	}
	if cc.ViewChangeTimeout > 0 && cc.ViewChangeTimeoutMax > 0 && cc.ViewChangeTimeoutMax < cc.ViewChangeTimeout {
		add(cfgKeyErr("consensus.view_change_timeout_max", "%s is below consensus.view_change_timeout %s", cc.ViewChangeTimeoutMax, cc.ViewChangeTimeout))
	}
}

func (c *Config) validateLog(add func(error)) {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add(cfgKeyErr("log.level", "%q: want debug, info, warn or error", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add(cfgKeyErr("log.format", "%q: want text or json", c.Log.Format))
	}
}

func cfgNonEmpty(key, v string) error {
	if strings.TrimSpace(v) == "" {
		return cfgKeyErr(key, "must not be empty")
	}
	return nil
}

func cfgInt(key string, v, max int) error {
	if v <= 0 || v > max {
		return cfgKeyErr(key, "%d is outside [1, %d]", v, max)
	}
	return nil
}

func cfgDuration(key string, d time.Duration) error {
	if d < cfgMinDuration || d > cfgMaxDuration {
		return cfgKeyErr(key, "%s is outside [%s, %s]", d, cfgMinDuration, cfgMaxDuration)
	}
	return nil
}

func cfgHostPort(key, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return cfgKeyErr(key, "%q is not host:port: %v", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return cfgKeyErr(key, "%q: port %q is not a number from 0 to 65535", addr, port)
	}
	if host == "" {
		return cfgKeyErr(key, "%q: missing host (use 127.0.0.1 for local only, 0.0.0.0 for all interfaces)", addr)
	}
	return nil
}

func cfgMultiaddr(key, s string) error {
	m, err := ma.NewMultiaddr(s)
	if err != nil {
		return cfgKeyErr(key, "bad multiaddr %q: %v", s, err)
	}
	if len(m) != 2 || m[1].Code() != ma.P_TCP {
		return cfgKeyErr(key, "%q: want /ip4|ip6|dns|dns4|dns6/HOST/tcp/PORT", s)
	}
	switch m[0].Code() {
	case ma.P_IP4, ma.P_IP6, ma.P_DNS, ma.P_DNS4, ma.P_DNS6:
		return nil
	}
	return cfgKeyErr(key, "%q: want /ip4|ip6|dns|dns4|dns6/HOST/tcp/PORT", s)
}
