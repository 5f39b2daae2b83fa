package rpc

import (
	"net"
	"net/http"
	"sync"
)

// freshConns tracks HTTP connections that were accepted but have not sent a
// request yet. http.Server.Shutdown treats such a connection as busy for its
// first five seconds, and clients open them routinely: Go's transport dials
// a spare connection when a request waits for one and parks it unused when
// an idle one frees up first. Shutdown closes them itself so that it only
// waits for requests that are really in progress.
type freshConns struct {
	mu      sync.Mutex
	closing bool
	conns   map[net.Conn]struct{}
}

func newFreshConns() *freshConns {
	return &freshConns{conns: make(map[net.Conn]struct{})}
}

// track is the http.Server ConnState hook.
func (f *freshConns) track(c net.Conn, state http.ConnState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if state != http.StateNew {
		delete(f.conns, c)
		return
	}
	if f.closing {
		c.Close()
		return
	}
	f.conns[c] = struct{}{}
}

// closeAll closes every connection that has not sent a request and every
// one accepted from now on.
func (f *freshConns) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closing = true
	for c := range f.conns {
		c.Close()
		delete(f.conns, c)
	}
}
