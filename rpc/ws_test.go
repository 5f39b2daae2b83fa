package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/gorilla/websocket"

	"github.com/bafomet/bafomet/chain"
)

// wsClient is a raw websocket JSON-RPC client.
type wsClient struct {
	t    testing.TB
	c    *websocket.Conn
	id   int
	held []json.RawMessage // notifications read while waiting for a response
}

func dialWS(t testing.TB, url string, dialer *websocket.Dialer) *wsClient {
	t.Helper()
	if dialer == nil {
		dialer = websocket.DefaultDialer
	}
	c, resp, err := dialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", url, err, resp)
	}
	t.Cleanup(func() { c.Close() })
	return &wsClient{t: t, c: c}
}

// request sends a call and returns its response, holding notifications
// that arrive first.
func (w *wsClient) request(method, params string) rpcResponse {
	w.t.Helper()
	w.id++
	msg := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":%q,"params":%s}`, w.id, method, params)
	if err := w.c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		w.t.Fatal(err)
	}
	for {
		raw := w.read()
		var r rpcResponse
		if err := json.Unmarshal(raw, &r); err != nil {
			w.t.Fatal(err)
		}
		if string(r.ID) == fmt.Sprint(w.id) {
			return r
		}
		w.held = append(w.held, raw)
	}
}

func (w *wsClient) read() json.RawMessage {
	w.t.Helper()
	_ = w.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, raw, err := w.c.ReadMessage()
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	return raw
}

func (w *wsClient) subscribe(params string) string {
	w.t.Helper()
	r := w.request("chain_subscribe", params)
	if r.Error != nil {
		w.t.Fatalf("subscribe %s: %+v", params, r.Error)
	}
	var id string
	if err := json.Unmarshal(r.Result, &id); err != nil {
		w.t.Fatal(err)
	}
	return id
}

type notification struct {
	Method string `json:"method"`
	Params struct {
		Subscription string          `json:"subscription"`
		Result       json.RawMessage `json:"result"`
	} `json:"params"`
}

// next returns the next notification's subscription id and result.
func (w *wsClient) next() (string, json.RawMessage) {
	w.t.Helper()
	var raw json.RawMessage
	if len(w.held) > 0 {
		raw, w.held = w.held[0], w.held[1:]
	} else {
		raw = w.read()
	}
	var n notification
	if err := json.Unmarshal(raw, &n); err != nil || n.Method != "chain_subscription" {
		w.t.Fatalf("want a notification, got %s (%v)", raw, err)
	}
	return n.Params.Subscription, n.Params.Result
}

// nextHeight returns the height of the next block notification.
func (w *wsClient) nextHeight(sub string) uint64 {
	w.t.Helper()
	id, res := w.next()
	if id != sub {
		w.t.Fatalf("notification for %s, want %s", id, sub)
	}
	var b Block
	if err := json.Unmarshal(res, &b); err != nil {
		w.t.Fatalf("block notification %s: %v", res, err)
	}
	return b.Height
}

func commitN(t testing.TB, f *fakeBackend, n int, txs ...*chain.Tx) {
	t.Helper()
	for i := 0; i < n; i++ {
		f.commit(t, txs...)
	}
}

// waitFor polls cond every 5 ms for up to 5 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestGethClientReplayThenLive(t *testing.T) {
	f := newFakeBackend(t)
	commitN(t, f, 5)
	s := startServer(t, Config{}, f)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := gethrpc.DialContext(ctx, wsURL(s))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var height uint64
	if err := client.CallContext(ctx, &height, "chain_blockNumber"); err != nil || height != 5 {
		t.Fatalf("blockNumber over ws = %d, %v", height, err)
	}
	ch := make(chan *Block, 16)
	sub, err := client.Subscribe(ctx, "chain", ch, "newBlocks", map[string]any{"fromHeight": 2})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	go commitN(t, f, 3) // live blocks race with the replay: the seam must hold
	for want := uint64(2); want <= 8; want++ {
		select {
		case b := <-ch:
			sb, _ := f.BlockByHeight(want)
			if b.Height != want || sb == nil || b.Hash != sb.Block.Hash() {
				t.Fatalf("got block %d %s, want %d", b.Height, b.Hash, want)
			}
		case err := <-sub.Err():
			t.Fatalf("subscription error: %v", err)
		case <-ctx.Done():
			t.Fatalf("timed out waiting for block %d", want)
		}
	}
	httpClient, err := gethrpc.DialContext(ctx, httpURL(s))
	if err != nil {
		t.Fatal(err)
	}
	defer httpClient.Close()
	var b Block
	if err := httpClient.CallContext(ctx, &b, "chain_getBlockByNumber", 8, false); err != nil || b.Height != 8 {
		t.Fatalf("geth client over HTTP: %+v %v", b, err)
	}
}

func TestNewBlocksWithoutFromHeightStartsLive(t *testing.T) {
	f := newFakeBackend(t)
	commitN(t, f, 3)
	s := startServer(t, Config{}, f)
	w := dialWS(t, wsURL(s), nil)
	sub := w.subscribe(`["newBlocks"]`)
	commitN(t, f, 2)
	for _, want := range []uint64{4, 5} {
		if got := w.nextHeight(sub); got != want {
			t.Fatalf("got height %d, want %d", got, want)
		}
	}
}

func TestReconnectWithFromHeightLosesNothing(t *testing.T) {
	f := newFakeBackend(t)
	commitN(t, f, 4)
	s := startServer(t, Config{}, f)
	seen := map[uint64]int{}
	w := dialWS(t, wsURL(s), nil)
	sub := w.subscribe(`["newBlocks", {"fromHeight": 1}]`)
	var last uint64
	for i := 0; i < 6; i++ {
		if i == 2 {
			go commitN(t, f, 6)
		}
		last = w.nextHeight(sub)
		seen[last]++
	}
	w.c.Close()
	commitN(t, f, 3) // committed while disconnected
	w2 := dialWS(t, wsURL(s), nil)
	sub2 := w2.subscribe(fmt.Sprintf(`["newBlocks", {"fromHeight": %d}]`, last+1))
	for last < 13 {
		last = w2.nextHeight(sub2)
		seen[last]++
	}
	for h := uint64(1); h <= 13; h++ {
		if seen[h] != 1 {
			t.Errorf("height %d seen %d times", h, seen[h])
		}
	}
	if len(seen) != 13 {
		t.Errorf("saw %d heights, want 13", len(seen))
	}
}

func TestTransactionsSubscription(t *testing.T) {
	f := newFakeBackend(t)
	s := startServer(t, Config{}, f)
	alice, bob := testKey(t, 20), testKey(t, 21)
	a0, b0, a1 := signTx(t, alice, 0, "x=1"), signTx(t, bob, 0, "y=1"), signTx(t, alice, 1, "x=2")
	aliceAddr, _ := a0.Sender()
	w := dialWS(t, wsURL(s), nil)
	all := w.subscribe(`["transactions"]`)
	onlyAlice := w.subscribe(fmt.Sprintf(`["transactions", {"sender": %q}]`, aliceAddr.Hex()))
	f.commit(t, a0, b0)
	f.commit(t, a1)
	got := map[string][]string{}
	for i := 0; i < 5; i++ {
		id, res := w.next()
		var ev TxEvent
		if err := json.Unmarshal(res, &ev); err != nil {
			t.Fatal(err)
		}
		got[id] = append(got[id], fmt.Sprintf("%d/%d/%d/%s", ev.Height, ev.Index, ev.Nonce, ev.Hash.Hex()[:10]))
	}
	short := func(tx *chain.Tx) string { return tx.Hash().Hex()[:10] }
	wantAll := []string{"1/0/0/" + short(a0), "1/1/0/" + short(b0), "2/0/1/" + short(a1)}
	wantAlice := []string{"1/0/0/" + short(a0), "2/0/1/" + short(a1)}
	if fmt.Sprint(got[all]) != fmt.Sprint(wantAll) || fmt.Sprint(got[onlyAlice]) != fmt.Sprint(wantAlice) {
		t.Fatalf("got %v / %v, want %v / %v", got[all], got[onlyAlice], wantAll, wantAlice)
	}
	if r := w.request("chain_subscribe", `["newBlocks", {"sender": "0x00"}]`); r.Error == nil || r.Error.Code != CodeInvalidParams {
		t.Fatalf("sender on newBlocks: %+v", r.Error)
	}
	if r := w.request("chain_subscribe", `["newBlocks", {"fromHeight": "x"}]`); r.Error == nil || r.Error.Code != CodeInvalidParams ||
		!strings.Contains(r.Error.Message, `parameter "options"`) {
		t.Fatalf("bad fromHeight: %+v", r.Error)
	}
}

func TestSubscriptionReadFailureEndsWithError(t *testing.T) {
	f := newFakeBackend(t)
	commitN(t, f, 3)
	f.mu.Lock()
	f.failBlock = 2
	f.mu.Unlock()
	s := startServer(t, Config{}, f)
	w := dialWS(t, wsURL(s), nil)
	sub := w.subscribe(`["newBlocks", {"fromHeight": 1}]`)
	if h := w.nextHeight(sub); h != 1 {
		t.Fatalf("got %d", h)
	}
	_, res := w.next()
	var b Block
	err := json.Unmarshal(res, &b)
	se, ok := err.(*SubscriptionError)
	if !ok || se.Code != CodeInternal || se.FromHeight != 2 || se.Message != "reading blocks: "+internalMessage {
		t.Fatalf("got %s (%v), want an internal SubscriptionError from height 2", res, err)
	}
}

func TestMalformedJSONOverWebsocket(t *testing.T) {
	s := startServer(t, Config{}, newFakeBackend(t))
	w := dialWS(t, wsURL(s), nil)
	if r := w.request("chain_blockNumber", `[]`); string(r.Result) != "0" {
		t.Fatalf("blockNumber = %s", r.Result)
	}
	if err := w.c.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":9,"method":`)); err != nil {
		t.Fatal(err)
	}
	var r rpcResponse
	if err := json.Unmarshal(w.read(), &r); err != nil || r.Error == nil || r.Error.Code != CodeParseError {
		t.Fatalf("got %+v %v, want -32700", r.Error, err)
	}
	w2 := dialWS(t, wsURL(s), nil) // the server still serves
	if r := w2.request("chain_blockNumber", `[]`); string(r.Result) != "0" {
		t.Fatalf("blockNumber = %s", r.Result)
	}
}

func TestWebsocketMessageLimit(t *testing.T) {
	const limit = 512
	s := startServer(t, Config{MaxWSMessageBytes: limit}, newFakeBackend(t))
	w := dialWS(t, wsURL(s), nil)
	msg := `{"jsonrpc":"2.0","id":1,"method":"chain_blockNumber","params":[]}`
	atLimit := msg + strings.Repeat(" ", limit-len(msg))
	if err := w.c.WriteMessage(websocket.TextMessage, []byte(atLimit)); err != nil {
		t.Fatal(err)
	}
	if raw := w.read(); !strings.Contains(string(raw), `"result":0`) {
		t.Fatalf("message at the limit: %s", raw)
	}
	if err := w.c.WriteMessage(websocket.TextMessage, []byte(atLimit+" ")); err != nil {
		t.Fatal(err)
	}
	_, _, err := w.c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("message over the limit: got %v, want close 1009", err)
	}
	w2 := dialWS(t, wsURL(s), nil)
	if r := w2.request("chain_blockNumber", `[]`); string(r.Result) != "0" {
		t.Fatalf("server stopped serving: %s", r.Result)
	}
}

func TestWebsocketConnectionLimit(t *testing.T) {
	s := startServer(t, Config{MaxWSConnections: 2}, newFakeBackend(t))
	a := dialWS(t, wsURL(s), nil)
	dialWS(t, wsURL(s), nil)
	_, resp, err := websocket.DefaultDialer.Dial(wsURL(s), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third connection: err %v resp %v, want 503", err, resp)
	}
	a.c.Close()
	waitFor(t, "a freed connection slot", func() bool {
		c, _, err := websocket.DefaultDialer.Dial(wsURL(s), nil)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

func TestSubscriptionsPerConnectionLimit(t *testing.T) {
	s := startServer(t, Config{MaxSubsPerConn: 2}, newFakeBackend(t))
	w := dialWS(t, wsURL(s), nil)
	first := w.subscribe(`["newBlocks"]`)
	w.subscribe(`["transactions"]`)
	r := w.request("chain_subscribe", `["newBlocks"]`)
	if r.Error == nil || r.Error.Code != CodeTooManySubs || !strings.Contains(r.Error.Message, "limit 2") {
		t.Fatalf("third subscription: %+v", r.Error)
	}
	if r := w.request("chain_unsubscribe", `["`+first+`"]`); string(r.Result) != "true" {
		t.Fatalf("unsubscribe: %s %+v", r.Result, r.Error)
	}
	waitFor(t, "the unsubscribed slot", func() bool {
		return w.request("chain_subscribe", `["newBlocks"]`).Error == nil
	})
	other := dialWS(t, wsURL(s), nil) // the limit is per connection
	other.subscribe(`["newBlocks"]`)
	other.subscribe(`["newBlocks"]`)
}

func TestPingClosesDeadConnections(t *testing.T) {
	s := startServer(t, Config{PingInterval: 40 * time.Millisecond, PongTimeout: 80 * time.Millisecond}, newFakeBackend(t))
	live := dialWS(t, wsURL(s), nil)
	go func() { // reading makes gorilla answer pings
		for {
			if _, _, err := live.c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	dead := dialWS(t, wsURL(s), nil) // never reads, so never answers a ping
	_ = dead
	conns := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.wsConns)
	}
	waitFor(t, "two connections", func() bool { return conns() == 2 })
	waitFor(t, "the dead connection to be closed", func() bool { return conns() == 1 })
	time.Sleep(300 * time.Millisecond) // several ping intervals
	if n := conns(); n != 1 {
		t.Fatalf("live connection closed: %d connections", n)
	}
}

// smallBufferDialer dials with a small receive buffer so that a client that
// stops reading fills the socket quickly.
func smallBufferDialer() *websocket.Dialer {
	return &websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err != nil {
			return nil, err
		}
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(64 << 10)
		}
		return c, nil
	}}
}
