package cli

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bafomet/bafomet/bench"
	"github.com/bafomet/bafomet/client"
	"github.com/bafomet/bafomet/node"
	"github.com/bafomet/bafomet/rpc"
)

// Limits of `bench --local`.
const (
	maxBenchLocal        = 16               // validators bench --local starts
	benchReadyTimeout    = 60 * time.Second // for every node to answer and see its peers
	benchReadyPoll       = 100 * time.Millisecond
	benchLocalChainID    = "bafomet-bench"
	benchPortSearchTries = 100
)

func init() {
	register(&command{name: "bench", summary: "measure a network's throughput and commit latency", run: runBench})
}

// benchFlags are the parsed command line of bench.
type benchFlags struct {
	testnet, rpcURLs, rate, profile, logDir string
	local                                   int
	json, keep                              bool
	cfg                                     bench.Config
}

func runBench(args []string, stdout, stderr io.Writer) int {
	f := newFlags("bench", "(--testnet DIR/testnet.json | --rpc URL,URL,... | --local N) [--rate N|max] [--duration D] [--senders S] [--size B] [--json]",
		"Pre-signs kv transactions from S generated senders, submits them over JSON-RPC spread\n"+
			"across the nodes (open loop at --rate tx/s, or closed loop with --rate max), follows\n"+
			"committed blocks over the websocket subscription of the first node, and reports committed\n"+
			"tx/s, submit-to-commit latency, rejections by reason, blocks, and each node's CPU and RSS.\n"+
			"--local N starts an N-validator testnet on 127.0.0.1 for the run and stops it afterwards.\n"+
			"Progress goes to stderr every second; the report (JSON with --json) to stdout.")
	var b benchFlags
	f.StringVar(&b.testnet, "testnet", "", "`path` to testnet.json of a running network made by bafomet testnet")
	f.StringVar(&b.rpcURLs, "rpc", "", "comma-separated JSON-RPC URLs of running nodes")
	f.IntVar(&b.local, "local", 0, "start this many validators locally for the run")
	f.StringVar(&b.rate, "rate", "max", "offered load in tx/s, or max for closed loop")
	f.DurationVar(&b.cfg.Duration, "duration", bench.DefaultDuration, "measured interval")
	f.DurationVar(&b.cfg.Warmup, "warmup", bench.DefaultWarmup, "load before measuring")
	f.DurationVar(&b.cfg.Drain, "drain", bench.DefaultDrain, "wait for outstanding transactions after the run")
	f.IntVar(&b.cfg.Senders, "senders", bench.DefaultSenders, "number of sender accounts")
	f.IntVar(&b.cfg.PayloadBytes, "size", bench.DefaultPayloadBytes, "kv payload bytes per transaction")
	f.IntVar(&b.cfg.Keys, "keys", 0, "distinct kv keys the run writes, round-robin (0 = a new key per transaction); bounds the state in long runs")
	f.IntVar(&b.cfg.Window, "window", bench.DefaultWindow, "transactions per sender in flight (below the mempool's per-sender limit)")
	f.IntVar(&b.cfg.Batch, "batch", bench.DefaultBatch, "transactions per JSON-RPC request (1 = no batching)")
	f.IntVar(&b.cfg.Presign, "presign", 0, "transactions to pre-sign (0 = sized from rate and duration)")
	f.BoolVar(&b.json, "json", false, "print the report as one JSON object")
	f.StringVar(&b.profile, "profile", "", "save a CPU profile of the first node over the measured window to this file")
	f.BoolVar(&b.keep, "keep", false, "with --local: keep the testnet directory and logs")
	if _, code, ok := f.parse(args, 0, stdout, stderr); !ok {
		return code
	}
	if err := b.check(); err != nil {
		return f.usageError(stderr, err.Error())
	}
	b.cfg.WarmupSet = true
	b.cfg.Progress = stderr
	b.cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, err := b.run(ctx, stderr)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	if b.json {
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(rep); err != nil {
			return fail(stderr, f.name, fmt.Errorf("encode report: %w", err))
		}
		return exitOK
	}
	rep.WriteText(stdout)
	return exitOK
}

// check validates the flags that are not bench.Config's own.
func (b *benchFlags) check() error {
	modes := 0
	for _, set := range []bool{b.testnet != "", b.rpcURLs != "", b.local != 0} {
		if set {
			modes++
		}
	}
	if modes != 1 {
		return errors.New("give exactly one of --testnet, --rpc and --local")
	}
	if b.local < 0 || b.local > maxBenchLocal {
		return fmt.Errorf("--local %d: want 1 to %d", b.local, maxBenchLocal)
	}
	if b.rpcURLs != "" && b.profile != "" {
		return errors.New("--profile needs --local or --testnet (the profiler's address, debug.listen, comes from the node's config)")
	}
	if b.keep && b.local == 0 {
		return errors.New("--keep applies only to --local")
	}
	rate, err := parseRate(b.rate)
	if err != nil {
		return err
	}
	b.cfg.Rate = rate
	return nil
}

// parseRate reads --rate: "max" (0, closed loop) or a positive tx/s.
func parseRate(s string) (float64, error) {
	if s == "max" {
		return 0, nil
	}
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || r <= 0 || r > 1e7 {
		return 0, fmt.Errorf("--rate %q: want max or a number of tx/s from 1 to 10000000", s)
	}
	return r, nil
}

// run resolves the targets of the chosen mode and runs the load.
func (b *benchFlags) run(ctx context.Context, stderr io.Writer) (*bench.Report, error) {
	switch {
	case b.local > 0:
		return b.runLocal(ctx, stderr)
	case b.testnet != "":
		m, err := loadBenchManifest(b.testnet)
		if err != nil {
			return nil, err
		}
		if b.cfg.Targets, err = manifestTargets(m, "/proc"); err != nil {
			return nil, err
		}
		if b.profile != "" {
			if b.cfg.ProfileURL, err = debugURL(m.Nodes[0].Home); err != nil {
				return nil, err
			}
			b.cfg.ProfileOut = b.profile
		}
	default:
		for i, u := range strings.Split(b.rpcURLs, ",") {
			if u = strings.TrimSpace(u); u != "" {
				b.cfg.Targets = append(b.cfg.Targets, bench.Target{Name: "rpc" + strconv.Itoa(i), URL: u})
			}
		}
	}
	return bench.Run(ctx, b.cfg)
}

func loadBenchManifest(path string) (*testnetManifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read testnet manifest: %w", err)
	}
	var m testnetManifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(m.Nodes) == 0 {
		return nil, fmt.Errorf("%s lists no nodes", path)
	}
	return &m, nil
}

// manifestTargets lists the manifest's nodes, with the PID of each node
// running on this machine (found under procRoot; 0 when not found).
func manifestTargets(m *testnetManifest, procRoot string) ([]bench.Target, error) {
	targets := make([]bench.Target, len(m.Nodes))
	for i, n := range m.Nodes {
		pid, err := bench.FindNodePID(procRoot, n.Home)
		if err != nil {
			pid = 0 // no /proc here: CPU and RSS are reported as unknown
		}
		targets[i] = bench.Target{Name: n.Name, URL: n.RPC, PID: pid}
	}
	return targets, nil
}

// debugURL is the http URL of the profiler (debug.listen) configured in a
// node home.
func debugURL(home string) (string, error) {
	cfg, err := node.LoadConfig(home)
	if err != nil {
		return "", fmt.Errorf("read config of %s: %w", home, err)
	}
	if cfg.Debug.Listen == "" {
		return "", fmt.Errorf("%s: profiling is off: set [debug] listen (e.g. \"127.0.0.1:26603\") in its config.toml and restart it", home)
	}
	return "http://" + cfg.Debug.Listen, nil
}

// enableProfiler turns the profiler on in a node home, on a free port of
// host, and returns its URL.
func enableProfiler(home, host string) (string, error) {
	cfg, err := node.LoadConfig(home)
	if err != nil {
		return "", fmt.Errorf("read config of %s: %w", home, err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("find a port for the profiler: %w", err)
	}
	cfg.Debug.Listen = l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("find a port for the profiler: %w", err)
	}
	if err := cfg.WriteConfig(filepath.Join(home, node.ConfigFile)); err != nil {
		return "", fmt.Errorf("turn the profiler on in %s: %w", home, err)
	}
	return "http://" + cfg.Debug.Listen, nil
}

// runLocal generates a testnet in a temporary directory, starts its
// validators as child processes, runs the load, and stops and removes
// everything (the directory stays with --keep).
func (b *benchFlags) runLocal(ctx context.Context, stderr io.Writer) (*bench.Report, error) {
	dir, err := os.MkdirTemp("", "bafomet-bench-")
	if err != nil {
		return nil, fmt.Errorf("create testnet directory: %w", err)
	}
	if b.keep {
		fmt.Fprintf(stderr, "bench: testnet and logs in %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	base, err := freeBasePort(b.local)
	if err != nil {
		return nil, err
	}
	m, err := generateTestnet(testnetOptions{
		Out: dir, Validators: b.local, Host: defaultTestnetHost, BasePort: base, App: defaultTestnetApp,
		ChainID: benchLocalChainID, Now: time.Now(), Rand: rand.Reader,
	})
	if err != nil {
		return nil, err
	}
	if b.profile != "" { // the first node profiles on a port of its own (debug.listen)
		if b.cfg.ProfileURL, err = enableProfiler(m.Nodes[0].Home, defaultTestnetHost); err != nil {
			return nil, err
		}
		b.cfg.ProfileOut = b.profile
	}
	children, err := startLocalNodes(m, filepath.Join(dir, "logs"))
	defer stopDevnetChildren(children)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "bench: %d local validator(s) on 127.0.0.1 ports %d-%d\n", b.local, base, base+testnetPortStride*(b.local-1)+2)
	for i, n := range m.Nodes {
		b.cfg.Targets = append(b.cfg.Targets, bench.Target{Name: n.Name, URL: n.RPC, PID: children[i].cmd.Process.Pid})
	}
	if err := waitNetworkReady(ctx, b.cfg.Targets, children); err != nil {
		return nil, err
	}
	return bench.Run(ctx, b.cfg)
}

// startLocalNodes starts `bafomet start --home` for every node, returning
// those started even on error so that the caller stops them.
func startLocalNodes(m *testnetManifest, logDir string) ([]*devnetChild, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", logDir, err)
	}
	var children []*devnetChild
	for _, n := range m.Nodes {
		c, err := startDevnetChild(self, n, logDir)
		if err != nil {
			return children, err
		}
		children = append(children, c)
	}
	return children, nil
}

// freeBasePort finds P such that P+10i+{0,1,2} are free on 127.0.0.1 for
// every i < n. Another program may still take a port before the node
// binds it; the node then fails to start and bench reports it.
func freeBasePort(n int) (int, error) {
	span := testnetPortStride*(n-1) + 3
	for try := 0; try < benchPortSearchTries; try++ {
		base := 20000 + mrand.IntN(40000-span)
		if portsFree(base, n) {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no free range of ports for %d validators after %d tries", n, benchPortSearchTries)
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
			l, err := net.Listen("tcp", net.JoinHostPort(defaultTestnetHost, strconv.Itoa(base+testnetPortStride*i+j)))
			if err != nil {
				return false
			}
			ls = append(ls, l)
		}
	}
	return true
}

// waitNetworkReady waits until every node answers chain_status and sees
// all its peers; it fails early when a node exits.
func waitNetworkReady(ctx context.Context, targets []bench.Target, children []*devnetChild) error {
	ctx, cancel := context.WithTimeout(ctx, benchReadyTimeout)
	defer cancel()
	for i, t := range targets {
		for {
			st, err := nodeStatus(ctx, t.URL)
			if err == nil && st.Peers >= len(targets)-1 {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s not ready (answering, with %d peers) after %s: last error %v", t.Name, len(targets)-1, benchReadyTimeout, err)
			case werr := <-children[i].done:
				return fmt.Errorf("%s exited during start-up: %v (see its log)", t.Name, werr)
			case <-time.After(benchReadyPoll):
			}
		}
	}
	return nil
}

// nodeStatus calls chain_status.
func nodeStatus(ctx context.Context, url string) (rpc.Status, error) {
	c, err := client.Dial(ctx, url, client.Options{})
	if err != nil {
		return rpc.Status{}, err
	}
	defer c.Close()
	st, err := c.Status(ctx)
	if err != nil {
		return rpc.Status{}, err
	}
	return *st, nil
}
