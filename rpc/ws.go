package rpc

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/gorilla/websocket"
)

// The websocket transport. geth's own websocket handler pings on fixed
// 30-second timers and gives a handler no way to tell connections apart, so
// the server upgrades connections itself and hands geth a stream codec
// (gethrpc.NewCodec) over each one: every client message is one frame, and
// every response or notification is written as one text frame, exactly as
// geth's handler does. Connections are pinged every PingInterval and closed
// when nothing (not even a pong) arrives for PingInterval+PongTimeout.

// wsControlTimeout bounds writing a ping or close frame.
const wsControlTimeout = 5 * time.Second

// wsConn adapts a websocket connection to the io.ReadWriteCloser that
// gethrpc.NewCodec reads a JSON stream from.
type wsConn struct {
	conn      *websocket.Conn
	key       string // remote address; unique among live connections
	ip        string // the host part of key
	caller    *caller
	idle      time.Duration
	pending   []byte // rest of the current message, not yet read
	closeOnce sync.Once
	closed    chan struct{}
	subs      int // live subscriptions, guarded by Server.mu

	// budget bounds the notifications this connection's subscriptions
	// have loaded and not yet written (Config.WSBufferBytes).
	budget *byteBudget
	// written maps a subscription ID to the channel Write signals after
	// writing a notification for it.
	writtenMu sync.Mutex
	written   map[string]chan<- struct{}
	// srv applies the response limits to responses (not notifications).
	srv *Server
	// inFlight holds a token for each request handed to geth and not yet
	// answered (Config.WSMaxInFlight).
	inFlight chan struct{}
}

// wsLostAnswerTimeout is how long Read waits for an answer to free a
// request slot before it takes it anyway, assuming the answer was lost
// (a request it counted that geth does not answer). geth writes or gives
// up on every answer within its 10-second write timeout.
const wsLostAnswerTimeout = 10 * time.Second

func newWSConn(conn *websocket.Conn, key string, s *Server) *wsConn {
	cfg := s.cfg
	c := &wsConn{
		conn: conn, key: key, ip: hostOf(key), idle: cfg.PingInterval + cfg.PongTimeout, closed: make(chan struct{}),
		budget: newByteBudget(cfg.WSBufferBytes), written: make(map[string]chan<- struct{}), srv: s,
		inFlight: make(chan struct{}, cfg.WSMaxInFlight),
	}
	conn.SetReadLimit(cfg.MaxWSMessageBytes)
	c.extendDeadline()
	conn.SetPongHandler(func(string) error { c.extendDeadline(); return nil })
	return c
}

func (c *wsConn) extendDeadline() {
	// An error here means the connection is closed; the next read reports it.
	_ = c.conn.SetReadDeadline(time.Now().Add(c.idle))
}

// Read returns client messages as one JSON stream. Each message is
// followed by a newline, so the decoder never waits for the next frame to
// finish a value; a message that is not valid JSON is followed by a NUL
// byte instead, which makes the decoder fail on it (geth then answers
// -32700 and closes the connection, as its own websocket handler does).
func (c *wsConn) Read(p []byte) (int, error) {
	if len(c.pending) == 0 {
		_, frame, err := c.conn.ReadMessage()
		if err != nil {
			return 0, err
		}
		c.extendDeadline()
		if !json.Valid(frame) {
			c.pending = append(frame, 0)
		} else {
			if expectsAnswer(frame, c.srv.cfg.MaxBatchLength) {
				if err := c.takeSlot(); err != nil {
					return 0, err
				}
			}
			c.pending = append(c.srv.rewriteAppCalls(frame), '\n')
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// takeSlot waits for a free request slot (see wsLostAnswerTimeout).
func (c *wsConn) takeSlot() error {
	select {
	case c.inFlight <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(wsLostAnswerTimeout)
	defer t.Stop()
	select {
	case c.inFlight <- struct{}{}:
	case <-t.C: // the slot's answer is taken as lost: this request reuses it
	case <-c.closed:
		return net.ErrClosed
	}
	return nil
}

// freeSlot frees a request slot after an answer was written (or failed).
func (c *wsConn) freeSlot() {
	select {
	case <-c.inFlight:
	default: // an answer to a request not counted: nothing to free
	}
}

// expectsAnswer reports whether geth will certainly write one answer to
// the frame: a call (version "2.0", a scalar id, a method), a batch with
// at least one call, or a batch geth refuses whole (empty or too long).
// Anything else (notifications, responses, malformed elements) is not
// counted; geth may or may not answer it, and freeSlot ignores an answer
// it did not count.
func expectsAnswer(frame []byte, maxBatch int) bool {
	frame = bytes.TrimSpace(frame)
	if len(frame) == 0 || frame[0] != '[' {
		return isCall(frame)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(frame, &elems); err != nil {
		return false
	}
	if len(elems) == 0 || len(elems) > maxBatch {
		return true
	}
	for _, e := range elems {
		if isCall(e) {
			return true
		}
	}
	return false
}

// isCall applies geth's test for a call to one JSON object: exact keys,
// the last of duplicates winning, as geth's own parser reads them.
func isCall(raw []byte) bool {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return false
	}
	var version, method string
	if json.Unmarshal(m["jsonrpc"], &version) != nil || version != "2.0" {
		return false
	}
	if json.Unmarshal(m["method"], &method) != nil || method == "" {
		return false
	}
	id := bytes.TrimSpace(m["id"])
	return len(id) > 0 && id[0] != '{' && id[0] != '['
}

// Write sends one encoded message (geth writes each in one call, ending in
// a newline, which is dropped) as one text frame. A response (not a
// notification) over the response limits is replaced by an error for its
// id. After writing a subscription notification it signals the
// subscription's channel. A failed write closes the connection: the
// websocket cannot be written again, and geth, which ignores errors
// writing responses, would otherwise keep serving it (and buffering
// notifications for it).
func (c *wsConn) Write(p []byte) (int, error) {
	msg := p
	if n := len(msg); n > 0 && msg[n-1] == '\n' {
		msg = msg[:n-1]
	}
	id, isNotification := notificationID(msg)
	if !isNotification {
		defer c.freeSlot()
		taken, e := c.srv.checkResponse(c.ip, msg)
		if e != nil {
			msg = responseError(msg, e)
		}
		defer c.srv.responses.release(c.ip, taken)
	}
	if err := c.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
		_ = c.conn.Close()
		return 0, err
	}
	if isNotification {
		c.writtenMu.Lock()
		ch := c.written[id]
		c.writtenMu.Unlock()
		if ch != nil {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	return len(p), nil
}

// notificationPrefix begins every subscription notification geth writes:
// its jsonrpcMessage has no id, and the params object begins with the
// subscription ID. A response cannot begin this way (it has an id).
const notificationPrefix = `{"jsonrpc":"2.0","method":"chain_subscription","params":{"subscription":"`

// notificationID returns the subscription ID of a notification message.
func notificationID(msg []byte) (string, bool) {
	if !bytes.HasPrefix(msg, []byte(notificationPrefix)) {
		return "", false
	}
	rest := msg[len(notificationPrefix):]
	end := bytes.IndexByte(rest[:min(len(rest), 128)], '"')
	if end < 0 {
		return "", false
	}
	return string(rest[:end]), true
}

// track registers a subscription's written channel; untrack removes it.
func (c *wsConn) track(id string, ch chan<- struct{}) {
	c.writtenMu.Lock()
	c.written[id] = ch
	c.writtenMu.Unlock()
}

func (c *wsConn) untrack(id string) {
	c.writtenMu.Lock()
	delete(c.written, id)
	c.writtenMu.Unlock()
}

// SetWriteDeadline bounds the next writes.
func (c *wsConn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

// RemoteAddr identifies the connection in geth's PeerInfo.
func (c *wsConn) RemoteAddr() string { return c.key }

// Close sends a normal-closure frame and closes the connection.
func (c *wsConn) Close() error { return c.closeWith(websocket.CloseNormalClosure, "") }

// closeWith sends a close frame with code and reason and closes the
// connection.
func (c *wsConn) closeWith(code int, reason string) error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closed)
		msg := websocket.FormatCloseMessage(code, reason)
		_ = c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(wsControlTimeout))
		err = c.conn.Close()
	})
	return err
}

// pingLoop pings the client every interval until the connection closes. A
// ping that cannot be written closes the connection.
func (c *wsConn) pingLoop(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.closed:
			return
		case <-t.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsControlTimeout)); err != nil {
				_ = c.conn.Close()
				return
			}
		}
	}
}

// serveWS upgrades a request and serves JSON-RPC on it until it closes.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	caller, ok := s.authorize(w, r)
	if !ok {
		return
	}
	ip := caller.ip
	if reason := s.acquireWS(ip); reason != "" {
		if reason != "closed" {
			s.metrics.connsRefused.WithLabelValues(reason).Inc()
		}
		if reason == "ws_per_ip" {
			writeHTTPError(w, http.StatusServiceUnavailable, CodeInvalidRequest,
				"too many websocket connections from this address: limit %d", s.cfg.MaxWSConnsPerIP)
		} else {
			writeHTTPError(w, http.StatusServiceUnavailable, CodeInvalidRequest,
				"too many websocket connections: limit %d", s.cfg.MaxWSConnections)
		}
		return
	}
	defer s.releaseWS(ip)
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.log.Debug("websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return // the upgrader has answered with an HTTP error
	}
	wc := newWSConn(conn, r.RemoteAddr, s)
	wc.caller = caller
	if p := caller.p; p != nil && !p.expires.IsZero() {
		expiry := time.AfterFunc(time.Until(p.expires), func() {
			s.log.Debug("websocket closed: its JWT expired", "remote", wc.key)
			wc.closeWith(websocket.ClosePolicyViolation, "token expired")
		})
		defer expiry.Stop()
	}
	s.mu.Lock()
	s.wsConns[wc.key] = wc
	s.mu.Unlock()
	s.metrics.wsConns.Inc()
	defer s.metrics.wsConns.Dec()
	pingDone := make(chan struct{})
	go func() {
		defer close(pingDone)
		wc.pingLoop(s.cfg.PingInterval)
	}()
	s.rpc.ServeCodec(gethrpc.NewCodec(wc), 0)
	_ = wc.Close()
	<-pingDone
	s.mu.Lock()
	delete(s.wsConns, wc.key)
	s.mu.Unlock()
}

// acquireWS reserves a websocket connection slot for a client at ip, and
// a place in the server's wait group. It returns why it cannot: the
// server closed, or a limit (the metrics label) is reached.
func (s *Server) acquireWS(ip string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return "closed"
	case s.wsCount >= s.cfg.MaxWSConnections:
		return "ws_total"
	case s.wsPerIP[ip] >= s.cfg.MaxWSConnsPerIP:
		return "ws_per_ip"
	}
	s.wsCount++
	s.wsPerIP[ip]++
	s.wg.Add(1)
	return ""
}

func (s *Server) releaseWS(ip string) {
	s.mu.Lock()
	s.wsCount--
	if s.wsPerIP[ip]--; s.wsPerIP[ip] <= 0 {
		delete(s.wsPerIP, ip)
	}
	s.mu.Unlock()
	s.wg.Done()
}

// requestIP is the remote IP address of r, without its port.
func requestIP(r *http.Request) string { return hostOf(r.RemoteAddr) }

// hostOf is the host part of a host:port address.
func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}
