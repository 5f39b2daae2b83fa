package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/ordering"
	"github.com/bafomet/bafomet/p2p"
	"github.com/bafomet/bafomet/rpc"
)

// One Byzantine validator floods the consensus protocol (issue 29, finding
// 5): node3's identity is an in-test libp2p host that replays 2,000
// validly signed prepares to node0, the primary, in a loop, while nodes
// 0–2 run as processes and a client measures how long its transactions
// take to commit. Slices in which the attacker floods alternate with
// slices in which it is silent, the baseline, so that both see the same
// load from the rest of the machine. The attacker keeps trying through
// every flood slice; node0 bans it (p2p.ban_duration, a minute) once its
// repeats reach p2p.ban_repeats. node0's RSS stays within rssLimit of what it
// was before the flood, and the honest nodes keep committing.
func TestAttackConsensusFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes")
	}
	const (
		rounds   = 4
		slice    = 3 * time.Second // rounds × 2 slices: 24 s
		prepares = 2000
		// rssLimit is node0's allowed RSS growth over the test: the
		// attacker's per-peer queue (p2p.inbound_queue_per_peer frames),
		// the set of frames seen, and the growth of an ordinary busy run.
		rssLimit = 128 << 20
	)
	c := newCluster(t, 4, 1, "kv")
	for i := range 3 {
		c.start(i)
	}
	attacker, key := c.byzantineHost(3)
	c.waitFor("node3's identity connected to nodes 0-2", 20*time.Second, func() bool {
		return connectedTo(attacker, 0) && connectedTo(attacker, 1) && connectedTo(attacker, 2)
	})
	probe := &latencyProbe{c: c, node: 0, acc: 0}
	probe.run(2 * time.Second) // warm-up: the first blocks
	frames := c.signedPrepares(key, 3, c.height(0)+1, prepares)
	pid := c.procs[0].Process.Pid
	rssBase, rssPeak := rssBytes(t, pid), int64(0)

	var flooding atomic.Bool
	stop := make(chan struct{})
	var sent int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sent = replay(attacker, 0, frames, &flooding, stop)
	}()
	var base, flood []time.Duration
	heightsBefore := []uint64{c.height(0), c.height(1), c.height(2)}
	var perSlice []string
	for range rounds {
		flooding.Store(false)
		b := probe.run(slice)
		flooding.Store(true)
		f := probe.run(slice)
		rssPeak = max(rssPeak, rssBytes(t, pid))
		base, flood = append(base, b...), append(flood, f...)
		perSlice = append(perSlice, fmt.Sprintf("%v/%v", p50(b).Round(time.Millisecond), p50(f).Round(time.Millisecond)))
	}
	close(stop)
	wg.Wait()
	heightsAfter := []uint64{c.height(0), c.height(1), c.height(2)}

	m := scrape(t, c, 0)
	t.Logf("baseline: %d txs, p50 %v, max %v", len(base), p50(base), slices.Max(base))
	t.Logf("flood: %d frames queued by the attacker; %d txs, p50 %v, max %v; heights %v -> %v",
		sent, len(flood), p50(flood), slices.Max(flood), heightsBefore, heightsAfter)
	t.Logf("p50 per round, silent/flood: %s", strings.Join(perSlice, " "))
	t.Logf("node0 RSS %d MB before the flood, peak %d MB (+%d MB, limit +%d MB)", rssBase>>20, rssPeak>>20, (rssPeak-rssBase)>>20, rssLimit>>20)
	am := attacker.Metrics()
	t.Logf("attacker: %d dial failures, %d consensus frames out", am.DialFailures, am.Consensus.MsgsOut)
	t.Logf("node0: %s", m.summary("bafomet_consensus_inbound_dropped_total", "bafomet_consensus_inbound_passed_total",
		"bafomet_consensus_signature_checks_total", "bafomet_consensus_peer_bans_total", "bafomet_p2p_peer_dropped_frames_total",
		"bafomet_p2p_dropped_frames_total", "bafomet_consensus_view_changes_total"))

	if len(flood) < 5 {
		t.Fatalf("only %d transactions committed in %v of flood", len(flood), rounds*slice)
	}
	if rssPeak-rssBase > rssLimit {
		t.Fatalf("node0's RSS grew by %d MB under the flood, limit %d MB", (rssPeak-rssBase)>>20, rssLimit>>20)
	}
	if p50(flood) > 2*p50(base) {
		t.Fatalf("p50 latency %v under the flood, more than twice the %v without it", p50(flood), p50(base))
	}
	for i := range 3 {
		if heightsAfter[i] <= heightsBefore[i] {
			t.Fatalf("node%d did not commit during the test (height %d -> %d)", i, heightsBefore[i], heightsAfter[i])
		}
	}
	for _, peer := range []string{"node1", "node2"} {
		if got := m.value(`bafomet_p2p_peer_dropped_frames_total{peer="` + peer + `"}`); got != 0 {
			t.Fatalf("node0 dropped %v consensus frames from honest %s", got, peer)
		}
	}
	if got := m.value(`bafomet_consensus_peer_bans_total{reason="repeats"}`); got < 1 {
		t.Fatalf("node0 never banned the replaying validator (bans %v)", got)
	}
	if !strings.Contains(c.log(0), "banning validator for invalid or repeated consensus messages") {
		t.Fatal("node0 did not log the ban")
	}
}

// byzantineHost starts a p2p host with validator i's key from the testnet
// home, speaking for it to the others. It returns the host and the key.
func (c *cluster) byzantineHost(i int) (*p2p.Host, *ecdsa.PrivateKey) {
	c.t.Helper()
	g := c.genesisOf(0)
	vs, err := g.ValidatorSet()
	if err != nil {
		c.t.Fatal(err)
	}
	gh, err := g.Hash()
	if err != nil {
		c.t.Fatal(err)
	}
	key, err := crypto.LoadECDSA(filepath.Join(c.m.Nodes[i].Home, "config", "validator.key"))
	if err != nil {
		c.t.Fatal(err)
	}
	peers := make([]p2p.Peer, vs.Size())
	for j, v := range vs.Validators() {
		peers[j] = p2p.Peer{Index: j, PubKey: v.PubKey, Addrs: []string{v.Multiaddr}}
	}
	h, err := p2p.New(p2p.Config{
		Key: key, ListenAddr: "/ip4/127.0.0.1/tcp/0", Validators: peers, ChainID: g.ChainID, GenesisHash: gh,
		Limits: p2p.Limits{BackoffMax: time.Second}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := h.Start(ctx); err != nil {
		c.t.Fatal(err)
	}
	go drain(h.Inbound())
	go drain(h.TxInbound())
	c.t.Cleanup(func() { cancel(); h.Close() })
	return h, key
}

func connectedTo(h *p2p.Host, index int) bool {
	for _, p := range h.Peers() {
		if p.Index == index {
			return p.Connected
		}
	}
	return false
}

func drain(ch <-chan p2p.Inbound) {
	for range ch {
	}
}

// signedPrepares signs count prepares from validator from, in view 0, for
// heights from `height` on, each for a random block hash, and encodes them.
func (c *cluster) signedPrepares(key *ecdsa.PrivateKey, from uint32, height uint64, count int) [][]byte {
	c.t.Helper()
	signer := ordering.NewKeySigner(key)
	frames := make([][]byte, count)
	for i := range frames {
		m := &ordering.Message{Type: ordering.MsgPrepare, From: from, Height: height + uint64(i)}
		if _, err := rand.Read(m.Digest[:]); err != nil {
			c.t.Fatal(err)
		}
		if err := ordering.SignMessage(signer, c.m.ChainID, m); err != nil {
			c.t.Fatal(err)
		}
		enc, err := ordering.EncodeMessage(m)
		if err != nil {
			c.t.Fatal(err)
		}
		frames[i] = enc
	}
	return frames
}

// replay sends frames to validator to in a loop while flooding is set,
// as fast as the host's send queue takes them, until stop is closed, and
// returns how many it queued.
func replay(h *p2p.Host, to int, frames [][]byte, flooding *atomic.Bool, stop <-chan struct{}) int {
	sent := 0
	for {
		for _, f := range frames {
			for !flooding.Load() || !h.Send(to, p2p.ProtoConsensus, f) {
				select {
				case <-stop:
					return sent
				case <-time.After(time.Millisecond): // silent, the queue is full or the peer gone
				}
			}
			sent++
		}
	}
}

// latencyProbe sends one kv transaction at a time to a node and measures
// how long each takes to commit.
type latencyProbe struct {
	c     *cluster
	node  int
	acc   int
	nonce uint64
	seq   int
}

// run probes for d and returns the latencies of the transactions sent in
// it.
func (p *latencyProbe) run(d time.Duration) []time.Duration {
	c := p.c
	c.t.Helper()
	var out []time.Duration
	for end := time.Now().Add(d); time.Now().Before(end); {
		p.seq++
		tx := c.signTx(p.acc, p.nonce, fmt.Sprintf("probe%d=%d", p.seq, p.seq))
		start := time.Now()
		c.send(p.node, tx)
		p.nonce++
		for {
			var res *rpc.TxResult
			c.mustCall(p.node, &res, "chain_getTransaction", tx.Hash())
			if res != nil && res.Status == rpc.TxCommitted {
				break
			}
			if time.Since(start) > 30*time.Second {
				c.t.Fatalf("probe transaction %d not committed after 30 s", p.seq)
			}
			time.Sleep(10 * time.Millisecond)
		}
		out = append(out, time.Since(start))
	}
	return out
}

func p50(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// metricsText is one scrape of a node's /metrics.
type metricsText map[string]float64

// scrape reads node i's metrics, served one port above its RPC port.
func scrape(t *testing.T, c *cluster, i int) metricsText {
	t.Helper()
	u, err := url.Parse(c.m.Nodes[i].RPC)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(fmt.Sprintf("http://%s:%d/metrics", u.Hostname(), port+1))
	if err != nil {
		t.Fatalf("scrape node%d: %v", i, err)
	}
	defer resp.Body.Close()
	m := metricsText{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			m[k] = f
		}
	}
	return m
}

func (m metricsText) value(series string) float64 { return m[series] }

// summary lists every series of the named metrics.
func (m metricsText) summary(names ...string) string {
	var out []string
	for k, v := range m {
		for _, n := range names {
			if k == n || strings.HasPrefix(k, n+"{") {
				out = append(out, fmt.Sprintf("%s=%g", k, v))
			}
		}
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}
