package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/rpc"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestDiskGuardChecks(t *testing.T) {
	free := map[string]int64{"data": 500, "wal": 500}
	var failWAL bool
	g := &diskGuard{min: 100, paths: []string{"data", "wal"}, log: quietLog,
		free: func(p string) (int64, bool, error) {
			if p == "wal" && failWAL {
				return 0, false, errors.New("statfs: gone")
			}
			return free[p], true, nil
		}}
	g.least.Store(-1)
	steps := []struct {
		data, wal int64
		failWAL   bool
		low       bool
		least     int64
	}{
		{500, 500, false, false, 500},
		{500, 99, false, true, 99},    // the fullest filesystem decides
		{100, 300, false, false, 100}, // exactly min is enough
		{99, 300, false, true, 99},
		{99, 300, true, true, 99},    // a path that cannot be measured is left out
		{400, 300, true, false, 400}, // and the others still decide
	}
	for i, s := range steps {
		free["data"], free["wal"], failWAL = s.data, s.wal, s.failWAL
		g.check()
		if g.Low() != s.low || g.least.Load() != s.least {
			t.Fatalf("step %d: low %v least %d, want %v %d", i, g.Low(), g.least.Load(), s.low, s.least)
		}
	}
	if err := g.refusal(); !errors.Is(err, rpc.ErrDiskLow) || !strings.Contains(err.Error(), "node.min_free_disk is 100") {
		t.Fatalf("refusal: %v", err)
	}
	var off *diskGuard
	if off.Low() {
		t.Fatal("a guard that is off reports low")
	}
	if newDiskGuard(0, []string{"x"}, quietLog) != nil {
		t.Fatal("min_free_disk 0 built a guard")
	}
}

func TestMinFreeDiskRaisedAboveTheStoreReserve(t *testing.T) {
	for _, tc := range []struct{ cfg, reserve, want int64 }{
		{0, 192 << 20, 0},
		{1 << 30, 192 << 20, 1 << 30},
		{100 << 20, 192 << 20, 384 << 20},
		{1 << 30, 1 << 30, 2 << 30},
	} {
		if got := minFreeDisk(tc.cfg, tc.reserve); got != tc.want {
			t.Errorf("minFreeDisk(%d, %d) = %d, want %d", tc.cfg, tc.reserve, got, tc.want)
		}
	}
}

// TestLowDiskPausesValidator runs four validators and takes node 0's disk
// below node.min_free_disk: it refuses transactions over JSON-RPC with
// -32033, writes nothing to its consensus log and commits nothing while
// the other three go on; once space is back it resumes by itself, catches
// up and accepts transactions again.
func TestLowDiskPausesValidator(t *testing.T) {
	tn := newTestNet(t, 4)
	for i := 1; i < 4; i++ {
		tn.start(i)
	}
	cfg, err := LoadConfig(tn.homes[0])
	must(t, err)
	n0, err := New(cfg, Options{Logger: quietLog})
	must(t, err)
	var free atomic.Int64
	free.Store(1 << 40)
	n0.disk.free = func(string) (int64, bool, error) { return free.Load(), true, nil }
	must(t, n0.Start(context.Background()))
	tn.nodes[0] = n0

	tn.send(1, 0, "before=pause")
	waitNonce(t, tn, 1)

	free.Store(n0.disk.min - 1)
	waitFor(t, "node 0 paused", func() bool { return n0.disk.Low() })
	if code, msg := sendRawTx(t, n0, tn, 1, "refused=yes"); code != rpc.CodeDiskLow || !strings.Contains(msg, "node low on disk space") {
		t.Fatalf("chain_sendTransaction while low: code %d %q, want %d", code, msg, rpc.CodeDiskLow)
	}
	if g := scrapeValue(t, n0, "bafomet_disk_low"); g != "1" {
		t.Fatalf("bafomet_disk_low = %q while paused", g)
	}
	time.Sleep(3 * cfg.Consensus.TickInterval) // let what the pause found in flight finish
	appends, height := scrapeValue(t, n0, "bafomet_consensus_log_append_seconds_count"), n0.Height()

	for nonce := uint64(1); nonce < 4; nonce++ {
		tn.send(1+int(nonce)%3, nonce, fmt.Sprintf("during=%d", nonce))
	}
	waitNonceOn(t, tn, []int{1, 2, 3}, 4)
	time.Sleep(10 * cfg.Consensus.TickInterval)
	if got := scrapeValue(t, n0, "bafomet_consensus_log_append_seconds_count"); got != appends {
		t.Fatalf("node 0 appended to its consensus log while paused: %s appends, then %s", appends, got)
	}
	if h := n0.Height(); h != height {
		t.Fatalf("node 0 executed up to %d while paused at %d", h, height)
	}

	free.Store(1 << 40)
	waitFor(t, "node 0 resumed", func() bool { return !n0.disk.Low() })
	waitNonce(t, tn, 4)
	tn.send(0, 4, "after=resume")
	waitNonce(t, tn, 5)
}

// sendRawTx submits a kv transaction to n over JSON-RPC and returns the
// error code and message (0 and "" when accepted).
func sendRawTx(t *testing.T, n *Node, tn *testNet, nonce uint64, payload string) (int, string) {
	t.Helper()
	tx, err := chain.SignTx(tn.user, tn.gen.ChainID, nonce, []byte(payload))
	must(t, err)
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"chain_sendTransaction","params":[%q]}`, hexutil.Encode(tx.Bytes()))
	resp, err := http.Post(n.RPCURL(), "application/json", strings.NewReader(body))
	must(t, err)
	defer resp.Body.Close()
	var out struct {
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	must(t, json.NewDecoder(resp.Body).Decode(&out))
	if out.Error == nil {
		return 0, ""
	}
	return out.Error.Code, out.Error.Message
}

// scrapeValue returns the value of an unlabelled series in n's metrics.
func scrapeValue(t *testing.T, n *Node, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(scrape(t, n))
	if m == nil {
		t.Fatalf("no series %s", name)
	}
	return m[1]
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitNonceOn is waitNonce for some of the nodes only.
func waitNonceOn(t *testing.T, tn *testNet, nodes []int, want uint64) {
	t.Helper()
	sub := &testNet{t: t, nodes: make([]*Node, len(tn.nodes)), user: tn.user}
	for _, i := range nodes {
		sub.nodes[i] = tn.nodes[i]
	}
	waitNonce(t, sub, want)
}
