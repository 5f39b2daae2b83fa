package rpc

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Connection limits. Every TCP connection to the RPC port, HTTP or
// websocket, counts against MaxConnections and against MaxConnsPerIP for
// its remote address, from accept until it is closed. A connection past
// the per-IP limit is refused. At the global limit, the server closes the
// connection that has waited longest without a request in progress (a
// keep-alive connection between requests, or one that has not sent a
// request yet) to make room; when every connection is busy with a request
// or a websocket, the new one is refused. A refused connection gets an
// HTTP 503 with a JSON-RPC error body and is closed, so the descriptor is
// held only for that write.

// refusalTimeout bounds writing the 503 to a refused connection.
const refusalTimeout = 100 * time.Millisecond

// connLimiter is the RPC listener: it admits, counts and evicts
// connections.
type connLimiter struct {
	net.Listener
	max, perIP int
	metrics    *Metrics
	// tls is set when the port serves TLS: a refused connection is then
	// closed without the plain-text 503, which its client could not read.
	tls bool

	mu    sync.Mutex
	conns map[*limitedConn]struct{}
	byIP  map[string]int
}

func newConnLimiter(ln net.Listener, max, perIP int, m *Metrics) *connLimiter {
	return &connLimiter{Listener: ln, max: max, perIP: perIP, metrics: m,
		conns: make(map[*limitedConn]struct{}), byIP: make(map[string]int)}
}

// limitedConn is an admitted connection. idleSince is the unix ns since
// which it has had no request in progress, 0 while it has one or has been
// hijacked for a websocket.
type limitedConn struct {
	net.Conn
	l         *connLimiter
	ip        string
	idleSince atomic.Int64
	closeOnce sync.Once
}

// Close closes the connection and frees its place.
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() { c.l.remove(c) })
	return err
}

// Accept returns the next admitted connection, refusing or making room as
// described above.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if lc, reason := l.admit(c); lc != nil {
			return lc, nil
		} else {
			l.metrics.connsRefused.WithLabelValues(reason).Inc()
			if l.tls {
				_ = c.Close()
			} else {
				refuse(c, reason)
			}
		}
	}
}

// admit counts c in, or returns the reason it is refused.
func (l *connLimiter) admit(c net.Conn) (*limitedConn, string) {
	ip := remoteIP(c.RemoteAddr())
	var evict *limitedConn
	l.mu.Lock()
	if l.byIP[ip] >= l.perIP {
		l.mu.Unlock()
		return nil, "per_ip"
	}
	if len(l.conns) >= l.max {
		evict = l.oldestIdle()
		if evict == nil {
			l.mu.Unlock()
			return nil, "total"
		}
		// Count it out now, so that the new one has its place at once.
		l.removeLocked(evict)
	}
	lc := &limitedConn{Conn: c, l: l, ip: ip}
	lc.idleSince.Store(time.Now().UnixNano())
	l.conns[lc] = struct{}{}
	l.byIP[ip]++
	l.metrics.conns.Set(float64(len(l.conns)))
	l.mu.Unlock()
	if evict != nil {
		_ = evict.Close()
		l.metrics.connsEvicted.Inc()
	}
	return lc, ""
}

// oldestIdle returns the connection idle the longest, or nil. Callers
// hold l.mu.
func (l *connLimiter) oldestIdle() *limitedConn {
	var best *limitedConn
	var bestT int64
	for c := range l.conns {
		if t := c.idleSince.Load(); t != 0 && (best == nil || t < bestT) {
			best, bestT = c, t
		}
	}
	return best
}

func (l *connLimiter) remove(c *limitedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.removeLocked(c)
}

func (l *connLimiter) removeLocked(c *limitedConn) {
	if _, ok := l.conns[c]; !ok {
		return
	}
	delete(l.conns, c)
	if l.byIP[c.ip]--; l.byIP[c.ip] <= 0 {
		delete(l.byIP, c.ip)
	}
	l.metrics.conns.Set(float64(len(l.conns)))
}

// track is the part of the http.Server ConnState hook that marks
// connections idle (new, or between keep-alive requests) or busy.
func (l *connLimiter) track(c net.Conn, state http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	switch state {
	case http.StateNew, http.StateIdle:
		lc.idleSince.Store(time.Now().UnixNano())
	case http.StateActive, http.StateHijacked:
		lc.idleSince.Store(0)
	}
}

// count returns the admitted connections (for tests).
func (l *connLimiter) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// refuse answers a refused connection with HTTP 503 and closes it.
func refuse(c net.Conn, reason string) {
	msg := "too many connections to the RPC server"
	if reason == "per_ip" {
		msg = "too many connections from this address"
	}
	body := `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"` + msg + `"}}`
	resp := "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body
	_ = c.SetWriteDeadline(time.Now().Add(refusalTimeout))
	_, _ = c.Write([]byte(resp))
	_ = c.Close()
}

// remoteIP is the host part of addr: connections are counted per IP
// address, whatever their port.
func remoteIP(addr net.Addr) string {
	if ta, ok := addr.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}
