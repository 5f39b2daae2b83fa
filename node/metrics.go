package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bafomet/bafomet/mempool"
	"github.com/bafomet/bafomet/p2p"
	"github.com/bafomet/bafomet/rpc"
)

// metrics holds the series the driver updates as events happen; everything
// else is read from the components' snapshots when Prometheus scrapes
// (see collector), so no hot path pays for it.
type metrics struct {
	reg           *prometheus.Registry
	viewChanges   prometheus.Counter
	commitLatency prometheus.Histogram
	applySeconds  prometheus.Histogram
	blockTxs      prometheus.Histogram
	logAppend     prometheus.Histogram
	oversize      prometheus.Counter
	rpc           *rpc.Metrics
}

func newMetrics(n *Node) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		viewChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bafomet_consensus_view_changes_total", Help: "Views this node moved to after the one it started in.",
		}),
		commitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "bafomet_consensus_commit_latency_seconds",
			Help:    "Time from a block's proposal timestamp to its execution on this node.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		applySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "bafomet_chain_apply_seconds",
			Help:    "Time to execute a block and commit it to Badger.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		blockTxs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "bafomet_consensus_block_txs",
			Help:    "Transactions per committed block.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		logAppend: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "bafomet_consensus_log_append_seconds",
			Help:    "Time to write and fsync one batch of signed messages to the consensus log, before they are sent.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14),
		}),
		oversize: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bafomet_consensus_oversize_messages_total",
			Help: "Consensus messages not sent because their encoding exceeds p2p.max_frame_bytes.",
		}),
		rpc: rpc.NewMetrics(),
	}
	m.reg.MustRegister(m.viewChanges, m.commitLatency, m.applySeconds, m.blockTxs, m.logAppend, m.oversize, m.rpc,
		&collector{n: n},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// collector reads gauges and counters from the node's components at scrape
// time.
type collector struct{ n *Node }

var (
	descHeight      = prometheus.NewDesc("bafomet_consensus_height", "Latest executed block height.", nil, nil)
	descView        = prometheus.NewDesc("bafomet_consensus_view", "Current PBFT view.", nil, nil)
	descStable      = prometheus.NewDesc("bafomet_consensus_stable_checkpoint", "Height of the latest stable checkpoint.", nil, nil)
	descInFlight    = prometheus.NewDesc("bafomet_consensus_pipeline_inflight", "Heights ordered (committed by the core) but not yet executed, plus proposals in flight known to the core.", nil, nil)
	descEvidence    = prometheus.NewDesc("bafomet_consensus_evidence", "Equivocation evidence items held.", nil, nil)
	descPoolSize    = prometheus.NewDesc("bafomet_mempool_size", "Transactions in the mempool, ready plus queued.", nil, nil)
	descPoolBytes   = prometheus.NewDesc("bafomet_mempool_bytes", "Total wire size of the mempool's transactions.", nil, nil)
	descPoolReady   = prometheus.NewDesc("bafomet_mempool_ready", "Transactions ready to be proposed.", nil, nil)
	descPoolQueued  = prometheus.NewDesc("bafomet_mempool_queued", "Transactions waiting behind a nonce gap.", nil, nil)
	descAdmitted    = prometheus.NewDesc("bafomet_mempool_admitted_total", "Transactions admitted.", nil, nil)
	descRejected    = prometheus.NewDesc("bafomet_mempool_rejected_total", "Transactions refused, by reason.", []string{"reason"}, nil)
	descEvicted     = prometheus.NewDesc("bafomet_mempool_evicted_total", "Admitted transactions dropped, by rule.", []string{"rule"}, nil)
	descSigRecover  = prometheus.NewDesc("bafomet_mempool_signature_recoveries_total", "secp256k1 sender recoveries performed.", nil, nil)
	descPeers       = prometheus.NewDesc("bafomet_p2p_peers", "Connected peers that passed the hello check.", nil, nil)
	descP2PMsgs     = prometheus.NewDesc("bafomet_p2p_messages_total", "Frames sent and received, by protocol and direction.", []string{"protocol", "direction"}, nil)
	descP2PBytes    = prometheus.NewDesc("bafomet_p2p_bytes_total", "Payload bytes sent and received, by protocol and direction.", []string{"protocol", "direction"}, nil)
	descP2PDropped  = prometheus.NewDesc("bafomet_p2p_dropped_frames_total", "Frames dropped, by protocol and direction.", []string{"protocol", "direction"}, nil)
	descP2PBad      = prometheus.NewDesc("bafomet_p2p_malformed_frames_total", "Malformed or oversized frames received, by protocol.", []string{"protocol"}, nil)
	descP2PRefused  = prometheus.NewDesc("bafomet_p2p_streams_refused_total", "Inbound streams reset, by protocol: peer not admitted, over p2p.max_inbound_streams_per_peer, or (sync) too busy.", []string{"protocol"}, nil)
	descGateDropped = prometheus.NewDesc("bafomet_consensus_inbound_dropped_total", "Consensus frames dropped before the driver, by reason: repeat, undecodable, too_many_signatures, not_primary, bad_signature.", []string{"reason"}, nil)
	descGatePassed  = prometheus.NewDesc("bafomet_consensus_inbound_passed_total", "Consensus messages whose signatures all verified, queued for the driver.", nil, nil)
	descGateSigs    = prometheus.NewDesc("bafomet_consensus_signature_checks_total", "Signatures checked before the driver (a signature verified before is a cache lookup).", nil, nil)
	descGateBans    = prometheus.NewDesc("bafomet_consensus_peer_bans_total", "Validators banned for invalid or repeated consensus frames, by reason.", []string{"reason"}, nil)
	descPeerDropped = prometheus.NewDesc("bafomet_p2p_peer_dropped_frames_total", "Consensus frames from one validator dropped because its inbound queue was full or it was banned.", []string{"peer"}, nil)
	descPeerBanned  = prometheus.NewDesc("bafomet_p2p_peer_banned", "1 while the validator is banned, else 0.", []string{"peer"}, nil)
	descStorageSize = prometheus.NewDesc("bafomet_storage_bytes", "The store's on-disk size, by part: Badger's LSM tree and value log, and the block file.", []string{"part"}, nil)
	descStorageDisk = prometheus.NewDesc("bafomet_storage_disk_bytes", "Bytes the data directory's files occupy on disk, measured at scrape.", nil, nil)
	descLogSegments = prometheus.NewDesc("bafomet_consensus_log_segments", "Segment files in the consensus log.", nil, nil)
	descDiskFree    = prometheus.NewDesc("bafomet_disk_free_bytes", "Free bytes on the fullest filesystem of the data directory and consensus log, at the disk guard's last check (node.min_free_disk).", nil, nil)
	descDiskLow     = prometheus.NewDesc("bafomet_disk_low", "1 while free disk space is below node.min_free_disk and the validator is paused, else 0.", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descHeight, descView, descStable, descInFlight, descEvidence,
		descPoolSize, descPoolBytes, descPoolReady, descPoolQueued, descAdmitted, descRejected, descEvicted, descSigRecover,
		descPeers, descP2PMsgs, descP2PBytes, descP2PDropped, descP2PBad, descP2PRefused, descStorageSize, descStorageDisk, descLogSegments,
		descDiskFree, descDiskLow, descGateDropped, descGatePassed, descGateSigs, descGateBans, descPeerDropped, descPeerBanned} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descHeight, float64(n.height.Load()))
	if s := n.soft.Load(); s != nil {
		gauge(descView, float64(s.View))
		gauge(descStable, float64(s.Stable))
		gauge(descInFlight, float64(s.Committed-min(s.Committed, s.Executed)))
	}
	gauge(descEvidence, float64(len(n.evidence.list())))
	gauge(descLogSegments, float64(n.wal.Segments()))
	c.collectMempool(gauge, counter)
	c.collectP2P(gauge, counter)
	lsm, vlog := n.store().DiskSize()
	gauge(descStorageSize, float64(lsm), "lsm")
	gauge(descStorageSize, float64(vlog), "vlog")
	gauge(descStorageSize, float64(n.store().BlockFileBytes()), "blocks")
	if n.disk != nil {
		if least := n.disk.least.Load(); least >= 0 {
			gauge(descDiskFree, float64(least))
		}
		gauge(descDiskLow, boolGauge(n.disk.Low()))
	}
	if used, err := n.store().DiskUsage(); err == nil {
		gauge(descStorageDisk, float64(used))
	} else {
		n.log.Warn("metrics: measure disk usage", "err", err)
	}
}

func (c *collector) collectMempool(gauge func(*prometheus.Desc, float64, ...string), counter func(*prometheus.Desc, uint64, ...string)) {
	st := c.n.pool.Stats()
	gauge(descPoolSize, float64(st.Size))
	gauge(descPoolBytes, float64(st.Bytes))
	gauge(descPoolReady, float64(st.Ready))
	gauge(descPoolQueued, float64(st.Queued))
	counter(descAdmitted, st.Admitted)
	for _, r := range mempool.Reasons() {
		counter(descRejected, st.Rejected[r], r.String())
	}
	for _, k := range mempool.DropKinds() {
		counter(descEvicted, st.Evicted[k], k.String())
	}
	counter(descSigRecover, st.SigRecoveries)
}

func (c *collector) collectP2P(gauge func(*prometheus.Desc, float64, ...string), counter func(*prometheus.Desc, uint64, ...string)) {
	if c.n.host == nil {
		return
	}
	m := c.n.host.Metrics()
	gauge(descPeers, float64(m.PeersConnected))
	for _, p := range []struct {
		name string
		c    p2p.ProtoCounters
	}{{"consensus", m.Consensus}, {"tx", m.Tx}, {"sync", m.Sync}} {
		counter(descP2PMsgs, p.c.MsgsIn, p.name, "in")
		counter(descP2PMsgs, p.c.MsgsOut, p.name, "out")
		counter(descP2PBytes, p.c.BytesIn, p.name, "in")
		counter(descP2PBytes, p.c.BytesOut, p.name, "out")
		counter(descP2PDropped, p.c.DroppedIn, p.name, "in")
		counter(descP2PDropped, p.c.DroppedOut, p.name, "out")
		counter(descP2PBad, p.c.Malformed, p.name)
		counter(descP2PRefused, p.c.Refused, p.name)
	}
	now := time.Now()
	for _, p := range c.n.host.Peers() {
		if !p.Validator {
			continue
		}
		name := c.n.vals.Validator(p.Index).Name
		counter(descPeerDropped, p.DroppedIn, name)
		banned := 0.0
		if p.BannedUntil.After(now) {
			banned = 1
		}
		gauge(descPeerBanned, banned, name)
	}
	if g := c.n.gate; g != nil {
		for r := range numGateDrops {
			counter(descGateDropped, g.dropped[r].Load(), r.String())
		}
		counter(descGatePassed, g.passed.Load())
		counter(descGateSigs, g.sigChecks.Load())
		counter(descGateBans, g.bans[0].Load(), banInvalid)
		counter(descGateBans, g.bans[1].Load(), banRepeats)
	}
}

// metricsServer serves /metrics on the metrics address, or Go's profiler
// (/debug/pprof/) on the debug address: never both on one listener, so
// that exposing metrics (as `bafomet testnet --host` does) exposes no
// profiler.
type metricsServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

func startMetricsServer(addr string, reg *prometheus.Registry, log *slog.Logger) (*metricsServer, error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return serveHTTP("metrics", addr, mux, log)
}

// startDebugServer serves the profiler on debug.listen. A CPU profile or a
// trace runs for as long as the request asks, so writes are not bounded
// by a timeout; the operator chose this address.
func startDebugServer(addr string, log *slog.Logger) (*metricsServer, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s, err := serveHTTP("debug", addr, mux, log)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(hostOf(s.Addr().String())); ip == nil || !ip.IsLoopback() {
		log.Warn("profiler served on a non-loopback address: anyone who reaches it can read profiles and the command line",
			"debug.listen", s.Addr().String())
	}
	log.Info("profiler listening", "addr", s.Addr().String())
	return s, nil
}

func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

// maxScrapeConns bounds the open connections to the metrics and the debug
// listener each: a scraper or an operator needs a few, and clients that
// open more and idle cannot take the node's descriptors. A connection past
// it is closed at once.
const maxScrapeConns = 32

// cappedListener closes accepted connections past max open ones.
type cappedListener struct {
	net.Listener
	open chan struct{} // a token per open connection
}

func (l *cappedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.open <- struct{}{}:
			return &cappedConn{Conn: c, open: l.open}, nil
		default:
			c.Close()
		}
	}
}

type cappedConn struct {
	net.Conn
	open chan struct{}
	once sync.Once
}

func (c *cappedConn) Close() error {
	c.once.Do(func() { <-c.open })
	return c.Conn.Close()
}

// serveHTTP listens on addr and serves mux in the background, with at
// most maxScrapeConns connections open.
func serveHTTP(what, addr string, mux *http.ServeMux, log *slog.Logger) (*metricsServer, error) {
	raw, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listen %s: %w", what, addr, err)
	}
	ln := &cappedListener{Listener: raw, open: make(chan struct{}, maxScrapeConns)}
	s := &metricsServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}, ln: ln, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(what+" server stopped", "err", err)
		}
	}()
	return s, nil
}

// Addr returns the address the metrics server listens on.
func (s *metricsServer) Addr() net.Addr { return s.ln.Addr() }

// Close stops the server at once: a scrape or a CPU profile in
// progress is cut off rather than waited for (a profile can run for 30 s,
// and nothing served here changes state).
func (s *metricsServer) Close() error {
	err := s.srv.Close()
	<-s.done
	return err
}

// Value-log garbage collection: Badger keeps large values (big blocks) in
// its value log and reclaims stale ones only when asked.
const (
	gcInterval     = 5 * time.Minute
	gcDiscardRatio = 0.5
	gcMaxRuns      = 8
)

// collectGarbage runs Badger's value-log GC every gcInterval until ctx ends.
func (n *Node) collectGarbage(ctx context.Context) {
	t := time.NewTicker(gcInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if runs, err := n.store().CollectGarbage(gcDiscardRatio, gcMaxRuns); err != nil {
			n.log.Warn("value-log garbage collection", "err", err)
		} else if runs > 0 {
			lsm, vlog := n.store().DiskSize()
			n.log.Info("value-log garbage collected", "files_rewritten", runs, "lsm_bytes", lsm, "vlog_bytes", vlog)
		}
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
