package rpc

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/bafomet/bafomet/chain"
)

// dialFrom opens a TCP connection to addr from the loopback address src
// (127.0.0.2, 127.0.0.3, …: Linux routes all of 127/8 to loopback), so
// that one test can play clients at several IP addresses.
func dialFrom(t testing.TB, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

const blockNumberReq = `{"jsonrpc":"2.0","id":1,"method":"chain_blockNumber","params":[]}`

// keepAliveRequest sends one keep-alive POST on c and reads its response.
// It returns the status, or an error when the server closed or refused c.
func keepAliveRequest(c net.Conn, br *bufio.Reader) (int, error) {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	req := "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
		fmt.Sprint(len(blockNumberReq)) + "\r\n\r\n" + blockNumberReq
	if _, err := c.Write([]byte(req)); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// served reports whether a fresh client at src gets a chain_blockNumber
// answered.
func served(t testing.TB, src, addr string) bool {
	t.Helper()
	c := dialFrom(t, src, addr)
	defer c.Close()
	status, err := keepAliveRequest(c, bufio.NewReader(c))
	return err == nil && status == http.StatusOK
}

// 19,977 idle keep-alive connections from one host took all of a node's
// descriptors: RPC and metrics stopped accepting. Now a client holds at
// most max_connections_per_ip; the next is refused at once while a fresh
// client elsewhere is still served; and at max_connections the connection
// idle longest makes room for a new one.
func TestIdleKeepAliveConnectionsAreCapped(t *testing.T) {
	const perIP, total = 8, 20
	s := startServer(t, Config{MaxConnsPerIP: perIP, MaxConnections: total}, newFakeBackend(t))
	addr := s.Addr().String()

	// One attacker address: perIP idle keep-alive connections are admitted
	// (at the limit), the next one past it is refused.
	for i := 0; i < perIP; i++ {
		c := dialFrom(t, "127.0.0.2", addr)
		if status, err := keepAliveRequest(c, bufio.NewReader(c)); err != nil || status != http.StatusOK {
			t.Fatalf("connection %d (within the per-IP limit): status %d, %v", i+1, status, err)
		}
	}
	past := dialFrom(t, "127.0.0.2", addr)
	status, err := keepAliveRequest(past, bufio.NewReader(past))
	if err == nil && status != http.StatusServiceUnavailable {
		t.Fatalf("connection %d from one address: status %d, want 503 or a closed connection", perIP+1, status)
	}
	if !served(t, "127.0.0.1", addr) {
		t.Fatal("a fresh client at another address was not served while one address is at its limit")
	}
	if got := metricValue(t, s.metrics.connsRefused.WithLabelValues("per_ip")); got < 1 {
		t.Fatalf("per_ip refusals = %v", got)
	}

	// Several addresses fill the global limit with idle connections: new
	// clients are still served, the oldest idle connections make room.
	var idle []net.Conn
	for ip := 3; ip < 6; ip++ {
		for i := 0; i < perIP; i++ {
			c := dialFrom(t, fmt.Sprintf("127.0.0.%d", ip), addr)
			if status, err := keepAliveRequest(c, bufio.NewReader(c)); err != nil || status != http.StatusOK {
				t.Fatalf("idle filler from 127.0.0.%d: %d %v", ip, status, err)
			}
			idle = append(idle, c)
		}
	}
	if n := s.ln.count(); n > total {
		t.Fatalf("%d connections open, limit %d", n, total)
	}
	if !served(t, "127.0.0.9", addr) {
		t.Fatal("a fresh client was not served at the global limit")
	}
	if got := metricValue(t, s.metrics.connsEvicted); got < 1 {
		t.Fatalf("evictions = %v, want some at the global limit", got)
	}
	// The first fillers were evicted: their connections are closed.
	_ = idle[0].SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := idle[0].Read(make([]byte, 1)); err == nil {
		t.Fatal("the oldest idle connection is still open")
	}
}

// When every connection is busy (here: websockets, which are never
// evicted) the global limit refuses the next one.
func TestConnectionLimitRefusesWhenNoneIdle(t *testing.T) {
	s := startServer(t, Config{MaxConnections: 3}, newFakeBackend(t))
	for i := 0; i < 3; i++ {
		dialWS(t, wsURL(s), nil)
	}
	_, resp, err := websocket.DefaultDialer.Dial(wsURL(s), nil)
	if err == nil {
		t.Fatal("a fourth connection was admitted past max_connections 3 with none idle")
	}
	if resp != nil && resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("refusal status %d, want 503", resp.StatusCode)
	}
	if got := metricValue(t, s.metrics.connsRefused.WithLabelValues("total")); got != 1 {
		t.Fatalf("total refusals = %v, want 1", got)
	}
}

// One client took all 256 websocket slots; now one address gets at most
// max_ws_connections_per_ip.
func TestWebsocketConnectionsPerIP(t *testing.T) {
	s := startServer(t, Config{MaxWSConnsPerIP: 2}, newFakeBackend(t))
	dialWS(t, wsURL(s), nil)
	dialWS(t, wsURL(s), nil)
	_, resp, err := websocket.DefaultDialer.Dial(wsURL(s), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third websocket from one address: err %v resp %v, want 503", err, resp)
	}
	d := &websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		return (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).Dial(network, addr)
	}}
	dialWS(t, wsURL(s), d).subscribe(`["newBlocks"]`) // another address is served
}

// A body trickled at one byte per 100 ms stayed open for minutes; the
// read timeout cuts it.
func TestTrickledBodyIsCutByReadTimeout(t *testing.T) {
	const readTimeout = 500 * time.Millisecond
	s := startServer(t, Config{ReadTimeout: readTimeout}, newFakeBackend(t))
	c := dialFrom(t, "127.0.0.1", s.Addr().String())
	start := time.Now()
	if _, err := fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(blockNumberReq)); err != nil {
		t.Fatal(err)
	}
	closed := make(chan time.Duration, 1)
	go func() {
		br := bufio.NewReader(c)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestTimeout {
				t.Errorf("status %d, want 408", resp.StatusCode)
			}
		}
		closed <- time.Since(start)
	}()
	for i := 0; i < len(blockNumberReq)-1; i++ { // never completes the body
		select {
		case d := <-closed:
			t.Logf("trickled body cut after %s (%d bytes sent), read_timeout %s", d.Round(time.Millisecond), i, readTimeout)
			if d > 4*readTimeout {
				t.Fatalf("cut after %s, read_timeout %s", d, readTimeout)
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
		if _, err := c.Write([]byte{blockNumberReq[i]}); err != nil {
			t.Logf("write failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
			return
		}
	}
	t.Fatalf("a body trickled for %s was not cut (read_timeout %s)", time.Since(start).Round(time.Millisecond), readTimeout)
}

// A client that sends a request and never reads the response is cut off
// by the write timeout, freeing the response.
func TestUnreadResponseIsCutByWriteTimeout(t *testing.T) {
	const writeTimeout = 500 * time.Millisecond
	f, _ := bigChain(t, 100)
	s := startServer(t, Config{WriteTimeout: writeTimeout}, f)
	c := dialFrom(t, "127.0.0.1", s.Addr().String())
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 10)
	}
	body := batchBody(1, 100) // about 10 MiB of response: more than the socket buffers hold
	if _, err := fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the response to be built", func() bool { return s.responses.inUse() > 0 })
	start := time.Now()
	// Building the response can take longer than the write timeout (under
	// the race detector it does); then the write fails at once.
	waitFor(t, "the write timeout to free the response and the connection", func() bool {
		return s.responses.inUse() == 0 && s.ln.count() == 0
	})
	t.Logf("response and connection freed %s after the response was begun (write_timeout %s)", time.Since(start).Round(time.Millisecond), writeTimeout)
}

// bigChain commits n blocks of 40 transactions with 2 KB values each (a
// full block is about 190 KB as JSON).
func bigChain(t testing.TB, n int) (*fakeBackend, []*chain.Tx) {
	t.Helper()
	f := newFakeBackend(t)
	var txs []*chain.Tx
	val := strings.Repeat("v", 2000)
	for i := 0; i < 40; i++ {
		txs = append(txs, signTx(t, testKey(t, 50), uint64(i), fmt.Sprintf("k%d=%s", i, val)))
	}
	commitN(t, f, n, txs...)
	return f, txs
}

// batchBody is a batch of chain_getBlockByNumber(h, true) for h in
// [from, to].
func batchBody(from, to int) string {
	var calls []string
	for h := from; h <= to; h++ {
		calls = append(calls, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"chain_getBlockByNumber","params":[%d,true]}`, h, h))
	}
	return "[" + strings.Join(calls, ",") + "]"
}

func TestBatchResponsesAreCapped(t *testing.T) {
	const batchLimit = 1 << 20
	f, _ := bigChain(t, 20)
	s := startServer(t, Config{MaxBatchResponseBytes: batchLimit, MaxResponseBytes: 2 << 20}, f)
	status, body := post(t, httpURL(s), batchBody(1, 20))
	var resps []rpcResponse
	if err := json.Unmarshal([]byte(body), &resps); err != nil || status != http.StatusOK {
		t.Fatalf("status %d, body of %d bytes: %v", status, len(body), err)
	}
	ok, capped := 0, 0
	for _, r := range resps {
		switch {
		case r.Error == nil:
			ok++
		case r.Error.Code == codeResponseTooLarge:
			capped++
		default:
			t.Fatalf("unexpected error %+v", r.Error)
		}
	}
	t.Logf("batch of 20 full blocks, limit %d: %d answered, %d capped, body %d bytes", batchLimit, ok, capped, len(body))
	if capped == 0 || ok == 0 || len(body) > batchLimit+(400<<10) {
		t.Fatalf("%d answered, %d capped, body %d bytes: want the batch cut near %d bytes", ok, capped, len(body), batchLimit)
	}

	// One response over max_response_bytes: -32003 instead, over HTTP and
	// over websocket.
	small := startServer(t, Config{MaxResponseBytes: 64 << 10}, f)
	r := call(t, httpURL(small), "chain_getBlockByNumber", `[1, true]`)
	if r.Error == nil || r.Error.Code != codeResponseTooLarge {
		t.Fatalf("HTTP response over max_response_bytes: %+v", r.Error)
	}
	_, batch := post(t, httpURL(small), `[{"jsonrpc":"2.0","id":7,"method":"chain_getBlockByNumber","params":[1,true]},`+blockNumberReq+`]`)
	var parts []rpcResponse
	if err := json.Unmarshal([]byte(batch), &parts); err != nil || len(parts) != 2 {
		t.Fatalf("batch with one oversized call: %.300s (%v)", batch, err)
	}
	if parts[0].Error == nil || parts[0].Error.Code != codeResponseTooLarge || string(parts[0].ID) != "7" || parts[1].Error != nil {
		t.Fatalf("batch with one oversized call: %.300s", batch)
	}
	w := dialWS(t, wsURL(small), nil)
	if r := w.request("chain_getBlockByNumber", `[1, true]`); r.Error == nil || r.Error.Code != codeResponseTooLarge {
		t.Fatalf("websocket response over max_response_bytes: %+v", r.Error)
	}
	if r := w.request("chain_getBlockByNumber", `[1, false]`); r.Error != nil {
		t.Fatalf("small response after a capped one: %+v", r.Error)
	}
}

// 40 connections that each sent one batch of 100 full large blocks and
// never read took a node from 171 MB to 2.33 GB. Responses waiting for
// their clients now share response_buffer_bytes; the rest get -32023 at
// once, and a reading client is still served.
func TestUnreadBatchResponsesStayWithinBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("builds large responses")
	}
	const (
		conns   = 40
		budget  = 24 << 20
		perCall = 3 << 20 // one call being answered per connection: a 190 KB block as objects and JSON, with copies
		allowed = budget + conns*perCall
	)
	f, _ := bigChain(t, 100)
	s := startServer(t, Config{ResponseBufferBytes: budget, MaxConnsPerIP: 64}, f)
	base := heapInUse()
	body := batchBody(1, 100)
	for i := 0; i < conns; i++ {
		c := dialFrom(t, "127.0.0.2", s.Addr().String())
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4 << 10)
		}
		if _, err := fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body); err != nil {
			t.Fatal(err)
		}
	}
	var peak uint64
	for i := 0; i < 6; i++ {
		time.Sleep(300 * time.Millisecond)
		peak = max(peak, heapInUse())
	}
	if !served(t, "127.0.0.1", s.Addr().String()) {
		t.Fatal("a reading client was not served")
	}
	grown := int64(peak) - int64(base)
	t.Logf("%d unread batches of 100 full blocks: heap %d MB before, peak %d MB (+%d MB, budget %d MB, allowed %d MB); busy refusals %v",
		conns, base>>20, peak>>20, grown>>20, budget>>20, allowed>>20, metricValue(t, s.metrics.responsesRefused.WithLabelValues("busy")))
	if grown > allowed {
		t.Fatalf("heap grew by %d MB with %d unread batch responses, allowed %d MB", grown>>20, conns, allowed>>20)
	}
}

// max_response_bytes at the limit is served, one byte under refused.
func TestMaxResponseBytesAtTheLimit(t *testing.T) {
	f, _ := bigChain(t, 1)
	req := `{"jsonrpc":"2.0","id":1,"method":"chain_getBlockByNumber","params":[1,true]}`
	_, body := post(t, httpURL(startServer(t, Config{}, f)), req)
	size := len(body)
	if _, got := post(t, httpURL(startServer(t, Config{MaxResponseBytes: size}, f)), req); got != body {
		t.Fatalf("response of exactly max_response_bytes (%d) not served: %.200s", size, got)
	}
	r := call(t, httpURL(startServer(t, Config{MaxResponseBytes: size - 1}, f)), "chain_getBlockByNumber", `[1, true]`)
	if r.Error == nil || r.Error.Code != codeResponseTooLarge {
		t.Fatalf("response one byte over max_response_bytes: %+v", r.Error)
	}
}

// A keep-alive connection idle for longer than idle_timeout is closed; one
// that sends its next request within it is served.
func TestIdleTimeoutClosesKeepAliveConnections(t *testing.T) {
	const idle = 300 * time.Millisecond
	s := startServer(t, Config{IdleTimeout: idle}, newFakeBackend(t))
	c := dialFrom(t, "127.0.0.1", s.Addr().String())
	br := bufio.NewReader(c)
	for i := 0; i < 3; i++ { // within the idle timeout: the connection is reused
		if status, err := keepAliveRequest(c, br); err != nil || status != http.StatusOK {
			t.Fatalf("request %d within idle_timeout: %d %v", i, status, err)
		}
		time.Sleep(idle / 3)
	}
	time.Sleep(2 * idle)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := br.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection idle for %s not closed (idle_timeout %s): %v", 2*idle, idle, err)
	}
}

// geth starts every websocket request as soon as it is read, each holding
// its results until written: one connection that sent 150 batches of 20
// full blocks and read nothing held them all. Now a connection has at most
// ws_max_in_flight requests in progress, and the next is read only when
// one is answered.
func TestWebsocketRequestsInFlightAreBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds large responses")
	}
	const (
		requests = 150
		inFlight = 4
		perBatch = 8 << 20 // one batch of 20 full blocks: 3.8 MB of results, with copies
		allowed  = (inFlight + 2) * perBatch
	)
	f, _ := bigChain(t, 20)
	s := startServer(t, Config{WSMaxInFlight: inFlight}, f)
	base := heapInUse()
	w := dialWS(t, wsURL(s), smallBufferDialer())
	body := batchBody(1, 20)
	sent := make(chan int, 1)
	go func() { // writes block once the server stops reading: count what got through
		n := 0
		for ; n < requests; n++ {
			_ = w.c.SetWriteDeadline(time.Now().Add(3 * time.Second))
			if err := w.c.WriteMessage(websocket.TextMessage, []byte(body)); err != nil {
				break
			}
		}
		sent <- n
	}()
	var peak uint64
	for i := 0; i < 8; i++ {
		time.Sleep(400 * time.Millisecond)
		peak = max(peak, heapInUse())
	}
	n := <-sent
	if !served(t, "127.0.0.1", s.Addr().String()) {
		t.Fatal("another client was not served")
	}
	grown := int64(peak) - int64(base)
	t.Logf("one connection wrote %d of %d batches of 20 full blocks without reading: heap +%d MB (allowed %d MB, ws_max_in_flight %d)",
		n, requests, grown>>20, allowed>>20, inFlight)
	if grown > allowed {
		t.Fatalf("heap grew by %d MB, allowed %d MB", grown>>20, allowed>>20)
	}
}

// Pipelined requests on one connection, more than ws_max_in_flight, are
// all answered (a batch, a notification and a malformed element among
// them do not stall the connection).
func TestWebsocketPipelinedRequestsAllAnswered(t *testing.T) {
	s := startServer(t, Config{WSMaxInFlight: 2}, newFakeBackend(t))
	w := dialWS(t, wsURL(s), nil)
	const n = 50
	for i := 1; i <= n; i++ {
		msg := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"chain_blockNumber","params":[]}`, i)
		switch i % 10 {
		case 3: // a batch of two calls
			msg = fmt.Sprintf(`[{"jsonrpc":"2.0","id":%d,"method":"chain_blockNumber"},{"jsonrpc":"2.0","id":"x%d","method":"chain_blockNumber"}]`, i, i)
		case 5: // a notification before the call: no answer for it
			if err := w.c.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","method":"chain_blockNumber"}`)); err != nil {
				t.Fatal(err)
			}
		case 7: // a call with an id geth refuses
			if err := w.c.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":{"a":1},"method":"chain_blockNumber"}`)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	start := time.Now()
	for len(seen) < n {
		raw := w.read()
		var batch []rpcResponse
		var one rpcResponse
		if json.Unmarshal(raw, &batch) == nil {
			for _, r := range batch {
				seen[string(r.ID)] = true
			}
		} else if json.Unmarshal(raw, &one) == nil && string(one.ID) != "null" {
			seen[string(one.ID)] = true
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("%d of %d answered after 5 s", len(seen), n)
		}
	}
}

// ws_max_in_flight at the limit: with two requests held in progress, a
// third on the same connection is not read until one is answered; with a
// limit of three it is answered at once.
func TestWebsocketInFlightAtTheLimit(t *testing.T) {
	for _, limit := range []int{2, 3} {
		f := newFakeBackend(t)
		gate := make(chan struct{})
		f.queryGate = gate
		s := startServer(t, Config{WSMaxInFlight: limit}, f)
		w := dialWS(t, wsURL(s), nil)
		for id := 1; id <= 2; id++ { // held in the backend until the gate opens
			if err := w.c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"kv_get","params":["k"]}`, id))); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.c.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":3,"method":"chain_blockNumber","params":[]}`)); err != nil {
			t.Fatal(err)
		}
		_ = w.c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, first, err := w.c.ReadMessage()
		switch {
		case limit == 2 && err == nil:
			t.Fatalf("limit 2: a third request was answered while two were in progress: %s", first)
		case limit == 3 && err != nil:
			t.Fatalf("limit 3: the third request was not answered: %v", err)
		case limit == 3 && !strings.Contains(string(first), `"id":3`):
			t.Fatalf("limit 3: first answer %s, want id 3", first)
		}
		close(gate)
		if limit == 2 { // the connection is unusable after a read timeout; a new one is served
			w = dialWS(t, wsURL(s), nil)
			if r := w.request("chain_blockNumber", `[]`); r.Error != nil {
				t.Fatalf("after the gate opened: %+v", r.Error)
			}
		}
	}
}

// A request whose headers do not arrive within read_header_timeout is cut.
func TestReadHeaderTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	s := startServer(t, Config{ReadHeaderTimeout: timeout}, newFakeBackend(t))
	c := dialFrom(t, "127.0.0.1", s.Addr().String())
	start := time.Now()
	if _, err := c.Write([]byte("POST / HTTP/1.1\r\nHost: x\r\n")); err != nil { // headers never finished
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.Copy(io.Discard, c) // returns when the server closes
	if d := time.Since(start); d > 4*timeout || d < timeout/2 {
		t.Fatalf("connection with unfinished headers closed after %s, read_header_timeout %s", d, timeout)
	}
}

// Clients at one address that send large requests and never read hold at
// most a quarter of response_buffer_bytes: a client elsewhere still gets a
// large answer instead of -32023.
func TestOneAddressHoldsAShareOfTheResponseBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("builds large responses")
	}
	const budget = 24 << 20
	f, _ := bigChain(t, 100)
	s := startServer(t, Config{ResponseBufferBytes: budget, MaxResponseBytes: 4 << 20}, f)
	body := batchBody(1, 40) // 7.6 MB of answers: more than the socket buffers hold
	for i := 0; i < 20; i++ {
		c := dialFrom(t, "127.0.0.2", s.Addr().String())
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4 << 10)
		}
		if _, err := fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second) // the unread answers are built and stuck
	held := s.responses.inUse()
	c := dialFrom(t, "127.0.0.3", s.Addr().String())
	victim := batchBody(41, 80) // 7.6 MB: more than is left when one address holds the whole budget
	if _, err := fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(victim), victim); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("20 unread batches from one address hold %d MB of a %d MB budget (share %d MB); another address's batch: HTTP %d, %d bytes",
		held>>20, budget>>20, s.responses.perIP>>20, resp.StatusCode, len(out))
	if held > s.responses.perIP {
		t.Fatalf("one address holds %d bytes, share %d", held, s.responses.perIP)
	}
	var answers []rpcResponse
	if resp.StatusCode != http.StatusOK || json.Unmarshal(out, &answers) != nil || len(answers) != 40 {
		t.Fatalf("another address's batch: HTTP %d %.200s", resp.StatusCode, out)
	}
	for _, a := range answers {
		if a.Error != nil {
			t.Fatalf("another address's batch: %+v", a.Error)
		}
	}
}

// A response its client never reads is cut when the server closes: Close
// waits ShutdownTimeout, closes that connection and reports no error.
func TestCloseCutsUnreadResponses(t *testing.T) {
	f, _ := bigChain(t, 100)
	s, err := New(Config{ListenAddr: "127.0.0.1:0", ShutdownTimeout: 200 * time.Millisecond}, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	body := batchBody(1, 100)
	c := dialFrom(t, "127.0.0.1", s.Addr().String())
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 10)
	}
	if _, err := fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the response is being written, and not read
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatalf("Close with an unread response: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Close took %v", d)
	}
}
