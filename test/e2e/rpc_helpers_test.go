package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/gorilla/websocket"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/client"
	"github.com/bafomet/bafomet/genesis"
	"github.com/bafomet/bafomet/rpc"
)

// Helpers for the RPC acceptance tests (rpc_test.go): config tweaks before
// start, load from chosen accounts, raw HTTP and websocket clients, and
// subscription collectors.

// pollInterval is how often the tests poll a node for a condition.
const pollInterval = 50 * time.Millisecond

// setConfig replaces one "key = value" line of node i's config.toml before
// it starts; the line must exist exactly once.
func (c *cluster) setConfig(i int, key, oldValue, newValue string) {
	c.t.Helper()
	path := filepath.Join(c.m.Nodes[i].Home, "config", "config.toml")
	data, err := os.ReadFile(path)
	if err != nil {
		c.t.Fatal(err)
	}
	old := key + " = " + oldValue + "\n"
	if n := strings.Count(string(data), old); n != 1 {
		c.t.Fatalf("%s: %q occurs %d times, want once", path, old, n)
	}
	data = []byte(strings.Replace(string(data), old, key+" = "+newValue+"\n", 1))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// addr returns account a's address.
func (c *cluster) addr(a int) chain.Address { return crypto.PubkeyToAddress(c.keys[a].PublicKey) }

// wsURL returns node i's websocket URL: its RPC URL with the ws scheme.
// wsConnections reads node i's bafomet_rpc_ws_connections gauge from its
// metrics listener, which testnet puts on the port after the RPC port.
func (c *cluster) wsConnections(i int) int {
	c.t.Helper()
	u, err := url.Parse(c.m.Nodes[i].RPC)
	if err != nil {
		c.t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := http.Get("http://" + net.JoinHostPort(u.Hostname(), strconv.Itoa(port+1)) + "/metrics")
	if err != nil {
		c.t.Fatalf("scrape node %d: %v", i, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("scrape node %d: %v", i, err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "bafomet_rpc_ws_connections "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				c.t.Fatalf("node %d: %q: %v", i, line, err)
			}
			return int(f)
		}
	}
	c.t.Fatalf("node %d exports no bafomet_rpc_ws_connections", i)
	return 0
}

func (c *cluster) wsURL(i int) string {
	return "ws://" + strings.TrimPrefix(c.m.Nodes[i].RPC, "http://")
}

// dial opens a geth client to node i over HTTP or websocket.
func (c *cluster) dial(i int, ws bool) *gethrpc.Client {
	c.t.Helper()
	url := c.m.Nodes[i].RPC
	if ws {
		url = c.wsURL(i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := gethrpc.DialContext(ctx, url)
	if err != nil {
		c.t.Fatalf("dial %s: %v", url, err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// send submits tx to node i and requires the returned hash to be tx's.
func (c *cluster) send(i int, tx *chain.Tx) {
	c.t.Helper()
	var h chain.Hash
	c.mustCall(i, &h, "chain_sendTransaction", hexutil.Encode(tx.Bytes()))
	if h != tx.Hash() {
		c.t.Fatalf("chain_sendTransaction returned %s, want %s", h, tx.Hash())
	}
}

// nonce returns account a's next nonce on node i, pending or committed.
func (c *cluster) nonce(i, a int, pending bool) uint64 {
	c.t.Helper()
	var n uint64
	args := []any{c.addr(a)}
	if pending {
		args = append(args, "pending")
	}
	c.mustCall(i, &n, "chain_getNonce", args...)
	return n
}

// waitFor polls cond until it holds or timeout passes.
func (c *cluster) waitFor(what string, timeout time.Duration, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(pollInterval)
	}
}

// waitCommitted waits until node i holds tx committed and returns its result.
func (c *cluster) waitCommitted(i int, h chain.Hash) *rpc.TxResult {
	c.t.Helper()
	var res *rpc.TxResult
	c.waitFor("commit of "+h.Hex(), 30*time.Second, func() bool {
		res = nil
		c.mustCall(i, &res, "chain_getTransaction", h)
		return res != nil && res.Status == rpc.TxCommitted
	})
	return res
}

// height returns node i's latest committed height.
func (c *cluster) height(i int) uint64 {
	c.t.Helper()
	var h uint64
	c.mustCall(i, &h, "chain_blockNumber")
	return h
}

// sentTx is one transaction a load sent.
type sentTx struct {
	acc int
	tx  *chain.Tx
}

// runLoad sends perAcc kv transactions from each account in accs (or
// fewer, once stop is closed), continuing from each account's pending
// nonce on the first node, round robin over nodes, and returns what it
// sent in per-account nonce order. Capacity refusals are retried
// (sendWithRetry).
func (c *cluster) runLoad(accs []int, perAcc int, nodes []int, stop <-chan struct{}) ([]sentTx, error) {
	var (
		mu   sync.Mutex
		sent []sentTx
		wg   sync.WaitGroup
	)
	errs := make(chan error, len(accs))
	for _, a := range accs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			txs, err := c.loadAccount(a, perAcc, nodes, stop)
			mu.Lock()
			sent = append(sent, txs...)
			mu.Unlock()
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return sent, errors.Join(collect(errs)...)
}

func collect(errs <-chan error) []error {
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}

func (c *cluster) loadAccount(a, perAcc int, nodes []int, stop <-chan struct{}) ([]sentTx, error) {
	clients := make([]*gethrpc.Client, len(nodes))
	for j, i := range nodes {
		cl, err := gethrpc.Dial(c.m.Nodes[i].RPC)
		if err != nil {
			return nil, err
		}
		defer cl.Close()
		clients[j] = cl
	}
	var start uint64
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := clients[0].CallContext(ctx, &start, "chain_getNonce", c.addr(a), "pending")
	cancel()
	if err != nil {
		return nil, fmt.Errorf("account %d: chain_getNonce: %w", a, err)
	}
	var sent []sentTx
	for k := 0; k < perAcc; k++ {
		select {
		case <-stop:
			return sent, nil
		default:
		}
		nonce := start + uint64(k)
		tx, err := chain.SignTx(c.keys[a], c.m.ChainID, nonce, []byte(fmt.Sprintf("load%d-%d=v%d", a, nonce, nonce)))
		if err != nil {
			return sent, err
		}
		if err := sendWithRetry(clients[k%len(clients)], tx); err != nil {
			return sent, fmt.Errorf("account %d nonce %d: %w", a, nonce, err)
		}
		sent = append(sent, sentTx{acc: a, tx: tx})
	}
	return sent, nil
}

// waitAllCommitted waits until node i has committed every transaction.
func (c *cluster) waitAllCommitted(i int, sent []sentTx) {
	c.t.Helper()
	want := make(map[int]uint64)
	for _, s := range sent {
		want[s.acc] = max(want[s.acc], s.tx.Nonce+1)
	}
	for a, n := range want {
		c.waitFor(fmt.Sprintf("account %d committed nonce %d on %s", a, n, c.m.Nodes[i].Name), 60*time.Second,
			func() bool { return c.nonce(i, a, false) >= n })
	}
}

// backgroundLoad runs runLoad in a goroutine; wait returns its result.
type backgroundLoad struct {
	stopCh   chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	sent     []sentTx
	err      error
}

// startLoad starts runLoad; the load also ends when the test does.
func (c *cluster) startLoad(accs []int, perAcc int, nodes []int) *backgroundLoad {
	l := &backgroundLoad{stopCh: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		l.sent, l.err = c.runLoad(accs, perAcc, nodes, l.stopCh)
	}()
	c.t.Cleanup(func() { l.stop(); <-l.done })
	return l
}

// stop ends the load early.
func (l *backgroundLoad) stop() { l.stopOnce.Do(func() { close(l.stopCh) }) }

// wait waits for the load to end and returns what it sent.
func (l *backgroundLoad) wait(t *testing.T) []sentTx {
	t.Helper()
	<-l.done
	if l.err != nil {
		t.Fatalf("load: %v", l.err)
	}
	return l.sent
}

// rpcCode returns err's JSON-RPC code (from bafomet's client or geth's),
// failing when err carries none.
func rpcCode(t *testing.T, err error) int {
	t.Helper()
	var refused *client.Error
	if errors.As(err, &refused) {
		return refused.Code
	}
	var e gethrpc.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) carries no JSON-RPC code", err, err)
	}
	return e.ErrorCode()
}

// wantRPCError requires err to be a JSON-RPC error with code whose message
// contains every fragment.
func wantRPCError(t *testing.T, err error, code int, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want code %d %q", code, fragments)
	}
	if got := rpcCode(t, err); got != code {
		t.Fatalf("error code %d (%v), want %d", got, err, code)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Fatalf("error %q does not contain %q", err.Error(), f)
		}
	}
	if head, rest, ok := strings.Cut(err.Error(), ": "); ok && strings.HasPrefix(rest, head) {
		t.Fatalf("error %q says %q twice", err.Error(), head)
	}
}

// rawResponse is one JSON-RPC response read without geth's client.
type rawResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// post sends body to node i as an HTTP POST and returns the status and body.
func (c *cluster) post(i int, body []byte) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.m.Nodes[i].RPC, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		c.t.Fatalf("POST %s: %v", c.m.Nodes[i].RPC, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	return resp.StatusCode, out
}

// postOne posts body and decodes a single response.
func (c *cluster) postOne(i int, body []byte) (int, rawResponse) {
	c.t.Helper()
	status, out := c.post(i, body)
	var r rawResponse
	if err := json.Unmarshal(out, &r); err != nil {
		c.t.Fatalf("response %q: %v", out, err)
	}
	return status, r
}

// requireServing checks that node i still answers chain_blockNumber.
func (c *cluster) requireServing(i int) {
	c.t.Helper()
	var h uint64
	if err := c.call(i, &h, "chain_blockNumber"); err != nil {
		c.t.Fatalf("%s no longer serves: %v", c.m.Nodes[i].Name, err)
	}
}

// rawWS is a websocket client speaking JSON-RPC by hand.
type rawWS struct {
	t    *testing.T
	conn *websocket.Conn
	id   int
}

// dialRawWS opens a raw websocket to node i. A positive rcvBuf sets the
// socket's kernel receive buffer, so that a client that stops reading
// stalls the server quickly.
func (c *cluster) dialRawWS(i int, rcvBuf int) *rawWS {
	c.t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	if rcvBuf > 0 {
		d.ReadBufferSize = 512
		d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if err := conn.(*net.TCPConn).SetReadBuffer(rcvBuf); err != nil {
				conn.Close()
				return nil, err
			}
			return conn, nil
		}
	}
	conn, resp, err := d.Dial(c.wsURL(i), nil)
	if err != nil {
		c.t.Fatalf("websocket dial %s: %v", c.wsURL(i), err)
	}
	resp.Body.Close()
	c.t.Cleanup(func() { conn.Close() })
	return &rawWS{t: c.t, conn: conn}
}

// request writes one JSON-RPC request and returns its id.
func (w *rawWS) request(method string, params ...any) int {
	w.t.Helper()
	w.id++
	if params == nil {
		params = []any{}
	}
	msg, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": w.id, "method": method, "params": params})
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
		w.t.Fatalf("websocket write: %v", err)
	}
	return w.id
}

// wsMessage is a response or a notification.
type wsMessage struct {
	rawResponse
	Method string `json:"method"`
	Params struct {
		Subscription string          `json:"subscription"`
		Result       json.RawMessage `json:"result"`
	} `json:"params"`
}

// read reads the next message within timeout.
func (w *rawWS) read(timeout time.Duration) (wsMessage, error) {
	if err := w.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return wsMessage{}, err
	}
	_, data, err := w.conn.ReadMessage()
	if err != nil {
		return wsMessage{}, err
	}
	var m wsMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return wsMessage{}, fmt.Errorf("message %q: %w", data, err)
	}
	return m, nil
}

// call sends a request, reads until its response and decodes its result,
// returning the notifications read on the way.
func (w *rawWS) call(result any, method string, params ...any) []wsMessage {
	w.t.Helper()
	resp, notes := w.roundTrip(method, params...)
	if resp.Error != nil {
		w.t.Fatalf("%s: error %d %s", method, resp.Error.Code, resp.Error.Message)
	}
	if err := json.Unmarshal(resp.Result, result); err != nil {
		w.t.Fatalf("%s: result %s: %v", method, resp.Result, err)
	}
	return notes
}

// callError sends a request and returns its response's error, nil when
// it succeeded.
func (w *rawWS) callError(method string, params ...any) *rpcErr {
	w.t.Helper()
	resp, _ := w.roundTrip(method, params...)
	if resp.Error == nil {
		return nil
	}
	return &rpcErr{Code: resp.Error.Code, Message: resp.Error.Message}
}

func (w *rawWS) roundTrip(method string, params ...any) (wsMessage, []wsMessage) {
	w.t.Helper()
	id := w.request(method, params...)
	var notes []wsMessage
	for {
		m, err := w.read(10 * time.Second)
		if err != nil {
			w.t.Fatalf("%s: %v", method, err)
		}
		if m.Method != "" {
			notes = append(notes, m)
			continue
		}
		if string(m.ID) != fmt.Sprint(id) {
			w.t.Fatalf("%s: response id %s, want %d", method, m.ID, id)
		}
		return m, notes
	}
}

// blockSub collects a newBlocks subscription made with geth's client.
type blockSub struct {
	sub    *gethrpc.ClientSubscription
	ch     chan rpc.Block
	mu     sync.Mutex
	blocks []rpc.Block
	err    error
	done   chan struct{}
}

// subscribeBlocks subscribes to newBlocks over cl, from a height when
// from > 0, and collects the blocks in the background.
func subscribeBlocks(t *testing.T, cl *gethrpc.Client, from uint64) *blockSub {
	t.Helper()
	args := []any{"newBlocks"}
	if from > 0 {
		args = append(args, map[string]uint64{"fromHeight": from})
	}
	s := &blockSub{ch: make(chan rpc.Block, 1024), done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := cl.Subscribe(ctx, "chain", s.ch, args...)
	if err != nil {
		t.Fatalf("chain_subscribe newBlocks: %v", err)
	}
	s.sub = sub
	go s.collect()
	t.Cleanup(s.stop)
	return s
}

func (s *blockSub) collect() {
	defer close(s.done)
	for {
		select {
		case b := <-s.ch:
			s.mu.Lock()
			s.blocks = append(s.blocks, b)
			s.mu.Unlock()
		case err := <-s.sub.Err():
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
			return
		}
	}
}

// stop unsubscribes and waits for the collector.
func (s *blockSub) stop() {
	s.sub.Unsubscribe()
	<-s.done
}

// snapshot returns the blocks collected so far and the error, if any.
func (s *blockSub) snapshot() ([]rpc.Block, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]rpc.Block(nil), s.blocks...), s.err
}

// waitHeight waits until the subscription has delivered height h.
func (s *blockSub) waitHeight(t *testing.T, h uint64, timeout time.Duration) []rpc.Block {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		blocks, err := s.snapshot()
		if err != nil {
			t.Fatalf("subscription failed: %v", err)
		}
		if n := len(blocks); n > 0 && blocks[n-1].Height >= h {
			return blocks
		}
		if time.Now().After(deadline) {
			last := uint64(0)
			if n := len(blocks); n > 0 {
				last = blocks[n-1].Height
			}
			t.Fatalf("subscription reached height %d, want %d within %v", last, h, timeout)
		}
		time.Sleep(pollInterval)
	}
}

// checkContiguous requires blocks to be exactly heights from, from+1, …,
// to, each identical (hash, app hash) to node ref's block.
func (c *cluster) checkContiguous(who string, blocks []rpc.Block, from, to uint64, ref int) {
	c.t.Helper()
	for k, b := range blocks {
		if want := from + uint64(k); b.Height != want {
			c.t.Fatalf("%s: notification %d has height %d, want %d (gap or duplicate)", who, k, b.Height, want)
		}
	}
	if got := uint64(len(blocks)); got != to-from+1 {
		c.t.Fatalf("%s: %d blocks, want heights %d..%d", who, got, from, to)
	}
	for _, b := range blocks {
		want := c.block(ref, b.Height)
		if b.Hash != want.Hash || b.AppHash != want.AppHash || b.ParentHash != want.ParentHash {
			c.t.Fatalf("%s: block %d is %s, %s has %s", who, b.Height, b.Hash, c.m.Nodes[ref].Name, want.Hash)
		}
	}
}

// rpcErr is a JSON-RPC error object.
type rpcErr struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// readBlocks reads newBlocks notifications until each subscription in
// until has delivered its height, and fails on a notification of a
// subscription in forbidden or of one not named.
func (w *rawWS) readBlocks(until map[string]uint64, forbidden map[string]bool) map[string][]rpc.Block {
	w.t.Helper()
	got := make(map[string][]rpc.Block)
	reached := func() bool {
		for id, h := range until {
			bs := got[id]
			if len(bs) == 0 || bs[len(bs)-1].Height < h {
				return false
			}
		}
		return true
	}
	for !reached() {
		m, err := w.read(30 * time.Second)
		if err != nil {
			w.t.Fatalf("reading notifications: %v (got %d subscriptions' blocks)", err, len(got))
		}
		id := m.Params.Subscription
		if m.Method != "chain_subscription" || forbidden[id] {
			w.t.Fatalf("unexpected message %+v (method %q, subscription %q)", m.rawResponse, m.Method, id)
		}
		if _, ok := until[id]; !ok {
			w.t.Fatalf("notification for unknown subscription %q", id)
		}
		var b rpc.Block
		if err := json.Unmarshal(m.Params.Result, &b); err != nil {
			w.t.Fatalf("notification %s: %v", m.Params.Result, err)
		}
		got[id] = append(got[id], b)
	}
	return got
}

// drainUntilEnd reads everything (responses included) until subscription
// id's final error notification, returning the blocks it delivered before
// it. The error is nil when the connection ended first.
func (w *rawWS) drainUntilEnd(id string) ([]rpc.Block, *rpc.SubscriptionError) {
	w.t.Helper()
	var blocks []rpc.Block
	for {
		m, err := w.read(15 * time.Second)
		if err != nil {
			w.t.Logf("stalled connection ended: %v", err)
			return blocks, nil
		}
		if m.Method != "chain_subscription" || m.Params.Subscription != id {
			continue
		}
		var b rpc.Block
		err = json.Unmarshal(m.Params.Result, &b)
		var end *rpc.SubscriptionError
		if errors.As(err, &end) {
			return blocks, end
		}
		if err != nil {
			w.t.Fatalf("notification %s: %v", m.Params.Result, err)
		}
		blocks = append(blocks, b)
	}
}

// genesisOf loads node i's genesis file.
func (c *cluster) genesisOf(i int) *genesis.Genesis {
	c.t.Helper()
	g, err := genesis.Load(filepath.Join(c.m.Nodes[i].Home, "config", "genesis.json"))
	if err != nil {
		c.t.Fatal(err)
	}
	return g
}

func (c *cluster) checkCommittedTx(i int, tx *chain.Tx, h uint64) {
	c.t.Helper()
	var res *rpc.TxResult
	c.mustCall(i, &res, "chain_getTransaction", tx.Hash())
	blk := c.block(i, h)
	index := -1
	for k, th := range blk.Transactions.Hashes {
		if th == tx.Hash() {
			index = k
		}
	}
	sender := c.addr(accMethods)
	wantReceipt := rpc.Receipt{Code: 0, Message: "", Events: []chain.Event{{
		Type: "kv.set", Attributes: []chain.Attribute{{Key: "key", Value: "color"}},
	}}}
	switch {
	case res == nil || res.Hash != tx.Hash() || res.Status != rpc.TxCommitted:
		c.t.Fatalf("%s: getTransaction = %+v, want committed %s", c.m.Nodes[i].Name, res, tx.Hash())
	case res.Height == nil || *res.Height != h || res.Index == nil || *res.Index != index || index < 0:
		c.t.Fatalf("%s: committed at %v/%v, want height %d index %d", c.m.Nodes[i].Name, res.Height, res.Index, h, index)
	case res.Sender == nil || *res.Sender != sender || res.Nonce == nil || *res.Nonce != 0:
		c.t.Fatalf("%s: sender %v nonce %v, want %s 0", c.m.Nodes[i].Name, res.Sender, res.Nonce, sender)
	case res.Payload == nil || string(*res.Payload) != "color=blue" || res.Reason != nil:
		c.t.Fatalf("%s: payload %v reason %v", c.m.Nodes[i].Name, res.Payload, res.Reason)
	case res.Receipt == nil || !jsonEqual(c.t, *res.Receipt, wantReceipt):
		c.t.Fatalf("%s: receipt %+v, want %+v", c.m.Nodes[i].Name, res.Receipt, wantReceipt)
	}
}

// jsonEqual compares the JSON encodings of a and b.
func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}

// checkBlockMethods compares node i's block h, by number, "latest" and
// hash, hashes-only and full, with node 0's (certificates aside: each
// node keeps the quorum of commits it gathered).
func (c *cluster) checkBlockMethods(i int, h uint64, tx *chain.Tx) {
	c.t.Helper()
	name := c.m.Nodes[i].Name
	b := c.block(i, h)
	ref := c.block(0, h)
	if b == nil || ref == nil {
		c.t.Fatalf("%s: block %d missing", name, h)
	}
	if b.Height != h || b.Hash != ref.Hash || b.ParentHash != ref.ParentHash || b.Timestamp != ref.Timestamp ||
		b.Proposer != ref.Proposer || b.TxRoot != ref.TxRoot || b.AppHash != ref.AppHash ||
		b.ValidatorsHash != ref.ValidatorsHash || !jsonEqual(c.t, b.Transactions, ref.Transactions) {
		c.t.Fatalf("height %d: %s has %+v, node0 has %+v", h, name, b, ref)
	}
	if b.Certificate == nil || b.Certificate.BlockHash != b.Hash || b.Certificate.Height != h || b.View != b.Certificate.View {
		c.t.Fatalf("%s: block %d certificate %+v does not match the block", name, h, b.Certificate)
	}
	var byHash, latest, full *rpc.Block
	c.mustCall(i, &byHash, "chain_getBlockByHash", b.Hash, false)
	if !jsonEqual(c.t, byHash, b) {
		c.t.Fatalf("%s: by hash %+v, by number %+v", name, byHash, b)
	}
	c.mustCall(i, &latest, "chain_getBlockByNumber", "latest", false)
	if top := c.height(i); latest == nil || latest.Height < h || latest.Height > top {
		c.t.Fatalf("%s: latest block %+v, want a height in %d..%d", name, latest, h, top)
	}
	c.mustCall(i, &full, "chain_getBlockByNumber", h, true)
	if full == nil || len(full.Transactions.Full) != len(b.Transactions.Hashes) {
		c.t.Fatalf("%s: full block %+v", name, full)
	}
	for k, ft := range full.Transactions.Full {
		if ft.Hash != b.Transactions.Hashes[k] || ft.Height != h || ft.Index != k || ft.ChainID != c.m.ChainID {
			c.t.Fatalf("%s: full tx %d = %+v", name, k, ft)
		}
		if ft.Hash == tx.Hash() && (ft.Nonce != tx.Nonce || !bytes.Equal(ft.Payload, tx.Payload) ||
			!bytes.Equal(ft.Signature, tx.Signature) || ft.Sender != c.addr(accMethods)) {
			c.t.Fatalf("%s: full tx %+v, want %+v", name, ft, tx)
		}
	}
	for _, absent := range []struct {
		method string
		arg    any
	}{
		{"chain_getBlockByNumber", h + 1_000_000},
		{"chain_getBlockByHash", crypto.Keccak256Hash([]byte("no block"))},
		{"chain_getCertificate", h + 1_000_000},
	} {
		var raw json.RawMessage
		c.mustCall(i, &raw, absent.method, absent.arg)
		if string(raw) != "null" {
			c.t.Fatalf("%s %s(%v) = %s, want null", name, absent.method, absent.arg, raw)
		}
	}
}

// checkCertificate verifies node i's certificate of block h offline
// against the genesis validator set, and checks "latest".
func (c *cluster) checkCertificate(i int, h uint64) {
	c.t.Helper()
	vs, err := c.genesisOf(i).ValidatorSet()
	if err != nil {
		c.t.Fatal(err)
	}
	for _, arg := range []any{h, "latest"} {
		var cert *rpc.Certificate
		c.mustCall(i, &cert, "chain_getCertificate", arg)
		if cert == nil {
			c.t.Fatalf("%s: no certificate for %v", c.m.Nodes[i].Name, arg)
		}
		blk := c.block(i, cert.Height)
		if cert.BlockHash != blk.Hash || cert.View != blk.View || (arg == h && cert.Height != h) {
			c.t.Fatalf("%s: certificate %+v for block %d %s", c.m.Nodes[i].Name, cert, blk.Height, blk.Hash)
		}
		cc := &chain.Certificate{Height: cert.Height, View: cert.View, BlockHash: cert.BlockHash}
		for _, s := range cert.Signatures {
			if s.Address != vs.Validator(int(s.Validator)).Address {
				c.t.Fatalf("%s: signature of validator %d names %s", c.m.Nodes[i].Name, s.Validator, s.Address)
			}
			cc.Signatures = append(cc.Signatures, chain.CommitSig{Validator: s.Validator, Signature: s.Signature})
		}
		if err := cc.Verify(c.m.ChainID, vs); err != nil {
			c.t.Fatalf("%s: certificate of %v does not verify: %v", c.m.Nodes[i].Name, arg, err)
		}
		cc.BlockHash[0] ^= 1
		if cc.Verify(c.m.ChainID, vs) == nil {
			c.t.Fatalf("%s: certificate verifies for a different block hash", c.m.Nodes[i].Name)
		}
	}
}

func (c *cluster) checkStatus(i int) {
	c.t.Helper()
	name := c.m.Nodes[i].Name
	g := c.genesisOf(i)
	gh, err := g.Hash()
	if err != nil {
		c.t.Fatal(err)
	}
	vs, _ := g.ValidatorSet()
	var st rpc.Status
	c.mustCall(i, &st, "chain_status")
	if st.ChainID != c.m.ChainID || st.GenesisHash != gh || st.PeerID != c.m.Nodes[i].PeerID ||
		!strings.EqualFold(st.NodeAddress.Hex(), c.m.Nodes[i].Address) {
		c.t.Fatalf("%s: status %+v; want chain %s genesis %s peer %s address %s", name, st, c.m.ChainID, gh, c.m.Nodes[i].PeerID, c.m.Nodes[i].Address)
	}
	if st.Syncing || st.Peers != len(c.m.Nodes)-1 || st.LatestBlockHash == nil || st.LatestBlockTime == nil {
		c.t.Fatalf("%s: status %+v: want not syncing, %d peers, a latest block", name, st, len(c.m.Nodes)-1)
	}
	if want := vs.Validator(int(st.View % uint64(vs.Size()))).Address; st.Primary != want {
		c.t.Fatalf("%s: primary %s in view %d, want %s", name, st.Primary, st.View, want)
	}
	b := c.block(i, st.Height)
	if b == nil || b.Hash != *st.LatestBlockHash || b.Timestamp != *st.LatestBlockTime {
		c.t.Fatalf("%s: status latest %s at %d, block %d is %+v", name, *st.LatestBlockHash, *st.LatestBlockTime, st.Height, b)
	}
}

func (c *cluster) checkValidators(i int) {
	c.t.Helper()
	g := c.genesisOf(i)
	var vals []rpc.Validator
	c.mustCall(i, &vals, "chain_validators")
	if len(vals) != len(c.m.Nodes) {
		c.t.Fatalf("%s: %d validators, want %d", c.m.Nodes[i].Name, len(vals), len(c.m.Nodes))
	}
	for k, v := range vals {
		want := c.m.Nodes[k]
		if v.Name != want.Name || !strings.EqualFold(v.Address.Hex(), want.Address) || v.PeerID != want.PeerID ||
			!strings.EqualFold(hexutil.Encode(v.PublicKey), g.Validators[k].PubKey) || !v.Online {
			c.t.Fatalf("%s: validator %d = %+v, want %s %s %s %s online", c.m.Nodes[i].Name, k, v, want.Name, want.Address, want.PeerID, g.Validators[k].PubKey)
		}
	}
}

// checkQueries covers chain_evidence, kv_get, bank_getBalance on a kv
// chain, and mempool_status.
func (c *cluster) checkQueries(i int, h uint64) {
	c.t.Helper()
	name := c.m.Nodes[i].Name
	var ev json.RawMessage
	c.mustCall(i, &ev, "chain_evidence")
	if string(ev) != "[]" {
		c.t.Fatalf("%s: evidence on an honest network: %s, want []", name, ev)
	}
	var kv, missing rpc.KVValue
	c.mustCall(i, &kv, "kv_get", "color")
	if kv.Key != "color" || kv.Value == nil || *kv.Value != "blue" || kv.Height < h {
		c.t.Fatalf("%s: kv_get color = %+v, want blue at height >= %d", name, kv, h)
	}
	c.mustCall(i, &missing, "kv_get", "no-such-key")
	if missing.Key != "no-such-key" || missing.Value != nil || missing.Height < h {
		c.t.Fatalf("%s: kv_get of an unset key = %+v, want null value", name, missing)
	}
	var bal rpc.Balance
	err := c.call(i, &bal, "bank_getBalance", c.addr(accMethods))
	wantRPCError(c.t, err, rpc.CodeAppNotServed, "application not served", `"kv"`)
	wantLimit := defaultPoolLimit
	if i == 3 {
		wantLimit = poolLimitNode3
	}
	want := rpc.Mempool{Size: 0, Bytes: 0, Limit: wantLimit, BytesLimit: defaultPoolBytes, QueuedLimit: wantLimit / 4}
	var mp rpc.Mempool
	c.waitFor(name+" mempool empty after the commit", 10*time.Second, func() bool {
		c.mustCall(i, &mp, "mempool_status")
		return mp == want
	})
}

// checkMempoolTx checks a pending or queued chain_getTransaction result.
func (c *cluster) checkMempoolTx(i int, res *rpc.TxResult, tx *chain.Tx, status rpc.TxStatus) {
	c.t.Helper()
	name := c.m.Nodes[i].Name
	if res == nil || res.Hash != tx.Hash() || res.Status != status {
		c.t.Fatalf("%s: getTransaction %+v, want %s %s", name, res, status, tx.Hash())
	}
	if res.Height != nil || res.Index != nil || res.Receipt != nil || res.Reason != nil {
		c.t.Fatalf("%s: %s tx has height %v index %v receipt %v reason %v, want null", name, status, res.Height, res.Index, res.Receipt, res.Reason)
	}
	sender := crypto.PubkeyToAddress(c.keys[accPending].PublicKey)
	if res.Sender == nil || *res.Sender != sender || res.Nonce == nil || *res.Nonce != tx.Nonce || res.Payload == nil || !bytes.Equal(*res.Payload, tx.Payload) {
		c.t.Errorf("%s: %s tx: sender %v nonce %v payload %v, want %s %d %q", name, status, res.Sender, res.Nonce, res.Payload, sender, tx.Nonce, tx.Payload)
	}
}

// checkTxEvents requires the transactions subscription to deliver exactly
// account a's transactions of sent, in nonce order, with their receipts.
func (c *cluster) checkTxEvents(events <-chan rpc.TxEvent, sent []sentTx, a int) {
	c.t.Helper()
	var want []*chain.Tx
	for _, s := range sent {
		if s.acc == a {
			want = append(want, s.tx)
		}
	}
	for k, tx := range want {
		var ev rpc.TxEvent
		select {
		case ev = <-events:
		case <-time.After(10 * time.Second):
			c.t.Fatalf("transactions subscription: %d of %d events", k, len(want))
		}
		var res *rpc.TxResult
		c.mustCall(0, &res, "chain_getTransaction", tx.Hash())
		if ev.Hash != tx.Hash() || ev.Sender != c.addr(a) || ev.Nonce != tx.Nonce || ev.Receipt.Code != 0 ||
			res == nil || ev.Height != *res.Height || ev.Index != *res.Index {
			c.t.Fatalf("transaction event %d: %+v, want %s nonce %d as committed %+v", k, ev, tx.Hash(), tx.Nonce, res)
		}
	}
	select {
	case ev := <-events:
		c.t.Fatalf("unexpected transaction event %+v (another sender or a duplicate)", ev)
	default:
	}
}
