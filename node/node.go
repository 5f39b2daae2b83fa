package node

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/apps"
	"github.com/bafomet/bafomet/chain/wal"
	"github.com/bafomet/bafomet/genesis"
	"github.com/bafomet/bafomet/mempool"
	"github.com/bafomet/bafomet/node/blocksync"
	"github.com/bafomet/bafomet/node/statesync"
	"github.com/bafomet/bafomet/ordering"
	"github.com/bafomet/bafomet/p2p"
	"github.com/bafomet/bafomet/rpc"
)

// Options are the parts of a node that are not in its home directory.
type Options struct {
	// Apps is the application registry; nil means apps.Builtin(). A custom
	// application is wired in by adding it here.
	Apps chain.Apps
	// Logger receives the node's logs; nil builds one from the config.
	Logger *slog.Logger
	// SetMemoryLimit makes New set the process's Go memory limit to
	// MemoryLimit() unless GOMEMLIMIT is set. Only a process that runs one
	// node (bafomet start) should set it: the limit is process-wide.
	SetMemoryLimit bool
}

// Node is one validator: store, executor, mempool, ordering core, p2p host
// and RPC server, wired together. Create it with New, run it with Start,
// and stop it with Close.
type Node struct {
	cfg         *Config
	gen         *genesis.Genesis
	genesisHash chain.Hash
	vals        *chain.ValidatorSet
	self        int
	key         *ecdsa.PrivateKey
	log         *slog.Logger

	apps chain.Apps // the application registry (Options.Apps)
	// storeRef and execRef hold the store and its executor; state sync
	// replaces both once, before the driver starts, while RPC may read.
	storeRef atomic.Pointer[chain.Store]
	execRef  atomic.Pointer[chain.Executor]
	pool     *mempool.Mempool
	host     *p2p.Host
	rpc      *rpc.Server

	// wal is the consensus log; walRecords holds what it had at open until
	// the core is restored from it, recordsLost says this validator's
	// records did not all survive, and walCreated that this start created
	// the log (see openConsensusLog).
	wal         *wal.Log
	walRecords  []wal.Record
	recordsLost bool
	walCreated  bool

	metrics    *metrics
	metricsSrv *metricsServer
	debugSrv   *metricsServer // profiler, only with debug.listen
	syncer     *syncer
	disk       *diskGuard   // nil when node.min_free_disk is 0
	snaps      *snapshotter // nil when node.snapshot_interval is 0
	snapServer *statesync.Server
	blockSrv   atomic.Pointer[blocksync.Server]
	restorer   atomic.Pointer[statesync.Restorer] // set while state sync looks or restores
	replaced   []*chain.Store                     // stores state sync replaced, closed at Close

	stateSyncRestored, stateSyncFailed atomic.Uint64
	gate                               *consensusGate // checks consensus frames before the driver sees them

	consensusIn chan *ordering.Message
	txWake      chan struct{} // a transaction entered the mempool
	blockNotify chan struct{} // a block committed (read by the RPC server)

	// snapshotFloor returns the height of the oldest state snapshot the
	// node keeps (0: none yet); pruning never goes above it (pruneFloor).
	// State sync sets it before Start; nil prunes nothing.
	snapshotFloor func() uint64
	// pruneEvery is how often the pruner runs (DefaultPruneInterval).
	pruneEvery time.Duration

	soft     atomic.Pointer[ordering.SoftState]
	height   atomic.Uint64 // latest executed height
	evidence evidenceLog

	cancel context.CancelFunc
	wg     sync.WaitGroup
	fatal  chan error // the driver stopped on an error it cannot survive

	consensusStarted chan struct{} // closed by startConsensus

	closeOnce sync.Once
	closeErr  error
}

// New loads a node from its configuration: genesis, key and data directory.
// It opens the store (initialising it from genesis on first start) but
// starts nothing; call Start.
func New(cfg *Config, opts Options) (n *Node, err error) {
	if opts.Apps == nil {
		opts.Apps = apps.Builtin()
	}
	log := opts.Logger
	if log == nil {
		log, err = NewLogger(cfg.Log, nil)
		if err != nil {
			return nil, err
		}
	}
	n = &Node{
		cfg:         cfg,
		log:         log,
		apps:        opts.Apps,
		consensusIn: make(chan *ordering.Message, consensusQueueLen),
		txWake:      make(chan struct{}, 1),
		blockNotify: make(chan struct{}, 1),
		fatal:       make(chan error, 1),
		pruneEvery:  DefaultPruneInterval,

		consensusStarted: make(chan struct{}),
	}
	if err := n.loadIdentity(opts.Apps); err != nil {
		return nil, err
	}
	if err := n.openStore(opts.Apps); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if n.wal != nil {
				n.wal.Close()
			}
			n.store().Close()
		}
	}()
	n.pool = mempool.New(n.mempoolConfig(), n.gen.ChainID, &committedState{store: n.store, app: n.exec().App()})
	if err := n.initMempoolHeight(); err != nil {
		return nil, err
	}
	n.disk = newDiskGuard(minFreeDisk(n.cfg.Node.MinFreeDisk, n.store().MinFreeBytes()),
		[]string{n.cfg.DataPath(), n.cfg.WALPath()}, n.log.With("component", "disk"))
	if n.snaps, err = newSnapshotter(n); err != nil {
		return nil, err
	}
	if n.snaps != nil {
		n.snapServer = statesync.NewServer(n.snaps.dir)
		n.snapshotFloor = n.snaps.oldest
	}
	n.metrics = newMetrics(n)
	n.syncer = newSyncer(n)
	n.metrics.reg.MustRegister(n.syncer, stateSyncCollector{n: n})
	if opts.SetMemoryLimit {
		n.applyMemoryLimit()
	}
	return n, nil
}

// memoryHeadroom is what the node needs beside Badger's memtables: block
// and index caches, mempool, consensus log, buffers and the runtime.
const memoryHeadroom = 96 << 20

// MemoryLimit is the Go soft memory limit the node asks for: node.memory_limit,
// raised to twice the Badger memtable (one written, one flushed) plus
// headroom when genesis block limits made the memtable larger; 0 means none.
func (n *Node) MemoryLimit() int64 {
	limit := n.cfg.Node.MemoryLimit
	if limit == 0 {
		return 0
	}
	c := n.gen.Consensus
	return max(limit, 2*chain.MemTableBytesFor(c.MaxBlockTxs, c.MaxBlockBytes)+memoryHeadroom)
}

// applyMemoryLimit sets the process's Go memory limit, unless the operator
// set GOMEMLIMIT, which the runtime has already applied.
func (n *Node) applyMemoryLimit() {
	if env := os.Getenv("GOMEMLIMIT"); env != "" {
		n.log.Info("memory limit from GOMEMLIMIT", "GOMEMLIMIT", env)
		return
	}
	if limit := n.MemoryLimit(); limit > 0 {
		debug.SetMemoryLimit(limit)
		n.log.Info("memory limit set", "bytes", limit)
	}
}

// loadIdentity reads and validates genesis and the validator key, and finds
// this node's index in the validator set.
func (n *Node) loadIdentity(registry chain.Apps) error {
	g, err := genesis.Load(n.cfg.GenesisPath())
	if err != nil {
		return err
	}
	if err := g.Validate(registry); err != nil {
		return err
	}
	if err := n.cfg.CheckGenesis(g); err != nil {
		return err
	}
	if n.genesisHash, err = g.Hash(); err != nil {
		return fmt.Errorf("genesis hash: %w", err)
	}
	if n.vals, err = g.ValidatorSet(); err != nil {
		return err
	}
	n.gen = g
	if n.key, err = crypto.LoadECDSA(n.cfg.KeyPath()); err != nil {
		return fmt.Errorf("load validator key %s: %w", n.cfg.KeyPath(), err)
	}
	addr := crypto.PubkeyToAddress(n.key.PublicKey)
	idx, ok := n.vals.IndexOf(addr)
	if !ok {
		return fmt.Errorf("key %s (address %s) is not a validator in genesis %s", n.cfg.KeyPath(), addr, n.cfg.GenesisPath())
	}
	n.self = idx
	if n.cfg.Node.Name == "" {
		n.cfg.Node.Name = n.vals.Validator(idx).Name
	}
	n.log = n.log.With("node", n.cfg.Node.Name)
	return nil
}

// storeOptions are the options of the node's store.
func (n *Node) storeOptions() chain.StoreOptions {
	c := n.gen.Consensus
	return chain.StoreOptions{MemTableBytes: chain.MemTableBytesFor(c.MaxBlockTxs, c.MaxBlockBytes), Logger: n.log.With("component", "badger")}
}

// openStore opens Badger, checks that the data directory belongs to this
// chain, opens the consensus log, and writes the genesis state on first
// start.
func (n *Node) openStore(registry chain.Apps) error {
	c := n.gen.Consensus
	memtable := chain.MemTableBytesFor(c.MaxBlockTxs, c.MaxBlockBytes)
	if memtable > chain.DefaultMemTableBytes {
		n.log.Info("badger memtable sized for the genesis block limits", "memtable_bytes", memtable,
			"max_block_txs", c.MaxBlockTxs, "max_block_bytes", c.MaxBlockBytes)
	}
	if err := recoverStateSync(n.cfg.DataPath()); err != nil {
		return fmt.Errorf("data directory %s: %w", n.cfg.DataPath(), err)
	}
	store, err := chain.OpenStore(n.cfg.DataPath(), n.storeOptions())
	if err != nil {
		return err
	}
	n.storeRef.Store(store)
	if err := n.initStore(registry); err != nil {
		if n.wal != nil {
			n.wal.Close()
		}
		store.Close()
		return err
	}
	return nil
}

func (n *Node) initStore(registry chain.Apps) error {
	store := n.store()
	if err := store.CheckIdentity(n.gen.ChainID, n.genesisHash); err != nil {
		return fmt.Errorf("data directory %s: %w", n.cfg.DataPath(), err)
	}
	app, err := registry.New(n.gen.App)
	if err != nil {
		return err
	}
	n.execRef.Store(chain.NewExecutor(store, app, n.gen.ChainID, n.log.With("component", "executor")))
	done, err := store.Initialized()
	if err != nil {
		return err
	}
	// The log is opened before the genesis state is written: whether the
	// store holds a chain tells a wiped data directory from a kept one.
	if err := n.openConsensusLog(!done); err != nil {
		return err
	}
	if !done {
		appHash, err := n.exec().InitGenesis(n.gen.AppState)
		if err != nil {
			return fmt.Errorf("initialise genesis state: %w", err)
		}
		n.log.Info("initialised chain from genesis", "chain_id", n.gen.ChainID, "app", n.gen.App, "app_hash", appHash)
	}
	h, err := store.Height()
	if err != nil {
		return err
	}
	n.height.Store(h)
	return nil
}

func (n *Node) initMempoolHeight() error {
	earliest, err := n.store().EarliestHeight()
	if err != nil {
		return err
	}
	if h := n.height.Load(); h > 0 && h >= earliest { // an imported snapshot holds no block at its height
		b, err := n.store().Block(h)
		if err != nil {
			return err
		}
		n.pool.Update(h, b)
	}
	return nil
}

func (n *Node) mempoolConfig() mempool.Config {
	c := mempool.DefaultConfig()
	m := n.cfg.Mempool
	c.MaxTxs, c.MaxBytes, c.MaxTxsPerSender = m.MaxTxs, m.MaxBytes, m.MaxTxsPerSender
	c.MaxQueued = m.MaxQueued // 0 takes the mempool's default, a quarter of MaxTxs
	c.MaxNonceGap = uint64(m.MaxNonceGap)
	c.TTL = m.TTL
	c.MaxTxBytes = int(n.gen.Consensus.MaxTxBytes)
	c.ReserveHeights = max(c.ReserveHeights, n.gen.Consensus.PipelineWindow+1)
	c.Logger = n.log.With("component", "mempool")
	return c
}

// Start starts the p2p host, the RPC server and the driver.
func (n *Node) Start(ctx context.Context) error {
	ctx, n.cancel = context.WithCancel(ctx)
	var err error
	if n.host, err = p2p.New(n.p2pConfig()); err != nil {
		return err
	}
	n.gate = newConsensusGate(n.gateConfig())
	if err := n.serveBlocks(); err != nil {
		return err
	}
	n.host.SetRequestHandler(n.handleSyncRequest)
	if err := n.host.Start(ctx); err != nil {
		return fmt.Errorf("start p2p: %w", err)
	}
	n.host.SetHeight(n.height.Load())
	rpcCfg, err := n.rpcConfig()
	if err != nil {
		n.host.Close()
		return err
	}
	if n.rpc, err = rpc.New(rpcCfg, &backend{n: n}, n.log.With("component", "rpc")); err != nil {
		n.host.Close()
		return err
	}
	if err := n.rpc.Start(); err != nil {
		n.host.Close()
		return fmt.Errorf("start rpc: %w", err)
	}
	if addr := n.cfg.Metrics.Listen; addr != "" {
		if n.metricsSrv, err = startMetricsServer(addr, n.metrics.reg, n.log); err != nil {
			n.stopServers()
			return err
		}
	}
	if addr := n.cfg.Debug.Listen; addr != "" {
		if n.debugSrv, err = startDebugServer(addr, n.log); err != nil {
			n.stopServers()
			return err
		}
	}
	n.goRun(func() {
		if err := n.startConsensus(ctx); err != nil && ctx.Err() == nil {
			n.fatal <- err
		}
	})
	if n.disk != nil {
		n.goRun(func() { n.disk.run(ctx) })
	}
	n.log.Info("node started", "height", n.height.Load(), "p2p", n.host.Addrs(), "rpc", n.RPCURL(),
		"validator", n.self, "validators", n.vals.Size())
	return nil
}

// startConsensus runs on its own goroutine once the servers are up:
// state sync when the node should restore a snapshot, then the ordering
// core (which may wait for peers after a loss of records), the driver and
// the goroutines around it. An error stops the node (Fatal).
func (n *Node) startConsensus(ctx context.Context) error {
	if err := n.stateSync(ctx); err != nil {
		return fmt.Errorf("state sync: %w", err)
	}
	if err := n.completeImport(ctx); err != nil {
		return fmt.Errorf("blocks after the imported snapshot: %w", err)
	}
	core, err := n.newCore(ctx)
	if err != nil {
		return err
	}
	soft := core.SoftState()
	n.soft.Store(&soft)
	drv, ex, err := n.newDriver(core)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil
	}
	for range n.verifyWorkers() {
		n.goRun(func() { n.checkConsensus(ctx) })
	}
	for range runtime.GOMAXPROCS(0) {
		n.goRun(func() { n.admitGossip(ctx) })
	}
	n.goRun(func() { n.gossipTxs(ctx) })
	n.goRun(func() { n.drive(ctx, drv, ex) })
	n.goRun(func() { n.syncer.run(ctx) })
	n.goRun(func() { n.collectGarbage(ctx) })
	if n.snaps != nil {
		n.goRun(func() { n.snaps.run(ctx) })
	}
	if n.cfg.Node.RetainBlocks > 0 {
		n.goRun(func() { n.prune(ctx) })
	}
	close(n.consensusStarted)
	n.log.Info("consensus started", "height", n.height.Load())
	return nil
}

// ConsensusStarted is closed once the node runs consensus: after state
// sync, if any, and after the start-up guard of a validator that lost its
// records.
func (n *Node) ConsensusStarted() <-chan struct{} { return n.consensusStarted }

// store returns the node's store.
func (n *Node) store() *chain.Store { return n.storeRef.Load() }

// exec returns the executor over the node's store.
func (n *Node) exec() *chain.Executor { return n.execRef.Load() }

func (n *Node) goRun(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// RPCAddr returns the address the RPC server listens on.
func (n *Node) RPCAddr() net.Addr { return n.rpc.Addr() }

// MetricsAddr returns the address of the metrics server, or nil when
// metrics are off.
func (n *Node) MetricsAddr() net.Addr {
	if n.metricsSrv == nil {
		return nil
	}
	return n.metricsSrv.Addr()
}

// DebugAddr returns the address of the profiler, or nil when profiling is
// off (debug.listen empty).
func (n *Node) DebugAddr() net.Addr {
	if n.debugSrv == nil {
		return nil
	}
	return n.debugSrv.Addr()
}

// Host returns the node's p2p host (for status and tests).
func (n *Node) Host() *p2p.Host { return n.host }

// Height returns the latest executed height.
func (n *Node) Height() uint64 { return n.height.Load() }

// Fatal returns a channel that receives the error that stopped the driver.
func (n *Node) Fatal() <-chan error { return n.fatal }

// stopServers undoes a partial Start.
func (n *Node) stopServers() {
	if n.metricsSrv != nil {
		n.metricsSrv.Close()
	}
	if n.debugSrv != nil {
		n.debugSrv.Close()
	}
	n.rpc.Close()
	n.host.Close()
}

// Close stops every component in order — RPC, driver, p2p — and closes the
// store. It is safe to call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		var errs []error
		if n.rpc != nil {
			errs = append(errs, n.rpc.Close())
		}
		if n.metricsSrv != nil {
			errs = append(errs, n.metricsSrv.Close())
		}
		if n.debugSrv != nil {
			errs = append(errs, n.debugSrv.Close())
		}
		if n.cancel != nil {
			n.cancel()
		}
		n.wg.Wait()
		if n.host != nil {
			errs = append(errs, n.host.Close())
		}
		errs = append(errs, n.wal.Close(), n.store().Close())
		for _, st := range n.replaced {
			st.Close() // its files are the old data directory's, removed next
		}
		if len(n.replaced) > 0 {
			_, _, old := stagingPaths(n.cfg.DataPath())
			errs = append(errs, os.RemoveAll(old))
		}
		n.closeErr = errors.Join(errs...)
		n.log.Info("node stopped", "height", n.height.Load())
	})
	return n.closeErr
}

func (n *Node) p2pConfig() p2p.Config {
	peers := make([]p2p.Peer, n.vals.Size())
	for i := range peers {
		v := n.vals.Validator(i)
		peers[i] = p2p.Peer{Index: i, PubKey: v.PubKey, Addrs: []string{v.Multiaddr}}
	}
	c := n.cfg.P2P
	return p2p.Config{
		Key:         n.key,
		ListenAddr:  c.Listen,
		Validators:  peers,
		ChainID:     n.gen.ChainID,
		GenesisHash: n.genesisHash,
		Limits: p2p.Limits{
			ConsensusFrameMax:       c.MaxFrameBytes,
			TxFrameMax:              c.MaxTxFrameBytes,
			SendQueueLen:            c.OutboundQueue,
			SyncResponseMax:         n.syncResponseMax(),
			InboundStreamsPerPeer:   c.StreamsPerPeer,
			ConsensusInboundPerPeer: c.InboundQueue,
			BackoffMin:              c.DialBackoffMin,
			BackoffMax:              c.DialBackoffMax,
		},
		Logger: n.log,
	}
}

// gateConfig configures the consensus gate from genesis and [p2p].
func (n *Node) gateConfig() gateConfig {
	c := n.cfg.P2P
	return gateConfig{
		ChainID: n.gen.ChainID, Validators: n.vals, MaxFrame: c.MaxFrameBytes,
		LogWindow:  ordering.DefaultLogWindowFactor * n.gen.Consensus.CheckpointInterval,
		SeenFrames: c.SeenFrames, SeenTTL: c.SeenTTL, ScoreWindow: c.ScoreWindow,
		BanInvalid: c.BanInvalid, BanRepeats: c.BanRepeats, BanDuration: c.BanDuration,
		Ban: n.host.Ban, Logger: n.log.With("component", "gate"), Now: time.Now,
	}
}

// verifyWorkers is p2p.verify_workers, or GOMAXPROCS when it is 0.
func (n *Node) verifyWorkers() int {
	if w := n.cfg.P2P.VerifyWorkers; w > 0 {
		return w
	}
	return runtime.GOMAXPROCS(0)
}

func (n *Node) rpcConfig() (rpc.Config, error) {
	c := n.cfg.RPC
	jwtPerms, err := rpc.ParsePermissions(c.JWTPermissions)
	if err != nil {
		return rpc.Config{}, fmt.Errorf("config: rpc.jwt_permissions: %w", err)
	}
	return rpc.Config{
		ListenAddr:             c.Listen,
		CORSOrigins:            c.CORSOrigins,
		Explorer:               c.Explorer,
		MaxRequestBytes:        c.MaxRequestBytes,
		MaxBatchLength:         c.MaxBatchLength,
		MaxWSMessageBytes:      int64(c.MaxWSMessageBytes),
		MaxWSConnections:       c.MaxWSConnections,
		MaxSubsPerConn:         c.MaxSubsPerConn,
		SubscriberBuffer:       c.SubscriberBuffer,
		WSBufferBytes:          int64(c.WSBufferBytes),
		PingInterval:           c.WSPingInterval,
		PongTimeout:            c.WSPongTimeout,
		SubscriberStallTimeout: c.SubscriberStall,
		MaxBatchResponseBytes:  c.MaxBatchRespBytes,
		MaxResponseBytes:       c.MaxResponseBytes,
		ResponseBufferBytes:    int64(c.RespBufferBytes),
		MaxConnections:         n.rpcConnLimit(),
		MaxConnsPerIP:          c.MaxConnsPerIP,
		MaxWSConnsPerIP:        c.MaxWSConnsPerIP,
		WSMaxInFlight:          c.WSMaxInFlight,
		ReadHeaderTimeout:      c.ReadHeaderTimeout,
		ReadTimeout:            c.ReadTimeout,
		WriteTimeout:           c.WriteTimeout,
		IdleTimeout:            c.IdleTimeout,
		Metrics:                n.metrics.rpc,
		TLSCertFile:            n.cfg.resolveSet(c.TLSCert),
		TLSKeyFile:             n.cfg.resolveSet(c.TLSKey),
		Auth:                   rpc.AuthMode(c.Auth),
		TokenFile:              n.cfg.resolveSet(c.TokenFile),
		JWTSecretFile:          n.cfg.resolveSet(c.JWTSecretFile),
		JWTPermissions:         jwtPerms,
		JWTIssuedAtWindow:      c.JWTIssuedAtWindow,
		IPLimits: rpc.RateLimit{
			RequestsPerSec: c.IPRequestsPerSec, RequestsBurst: c.IPRequestsBurst,
			TxsPerSec: c.IPTxsPerSec, TxsBurst: c.IPTxsBurst, MaxSubscriptions: c.IPMaxSubs,
		},
		TokenLimits: rpc.RateLimit{
			RequestsPerSec: c.TokenRequestsPerSec, RequestsBurst: c.TokenRequestsBurst,
			TxsPerSec: c.TokenTxsPerSec, TxsBurst: c.TokenTxsBurst, MaxSubscriptions: c.TokenMaxSubs,
		},
	}.WithDefaults(), nil
}

// RPCURL is the node's JSON-RPC URL: https:// with rpc.tls_cert.
func (n *Node) RPCURL() string {
	if n.cfg.RPC.TLSCert != "" {
		return "https://" + n.RPCAddr().String()
	}
	return "http://" + n.RPCAddr().String()
}

// evidenceLog keeps the equivocation evidence the core reported, bounded.
type evidenceLog struct {
	mu    sync.Mutex
	items []ordering.Evidence
}

const maxEvidenceKept = 1024

func (e *evidenceLog) add(ev []ordering.Evidence) {
	if len(ev) == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.items = append(e.items, ev...)
	if over := len(e.items) - maxEvidenceKept; over > 0 {
		e.items = append([]ordering.Evidence(nil), e.items[over:]...)
	}
}

func (e *evidenceLog) list() []ordering.Evidence {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]ordering.Evidence(nil), e.items...)
}
