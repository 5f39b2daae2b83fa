package rpc

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/gorilla/websocket"
)

// Server serves bafomet's JSON-RPC API over HTTP POST and websocket on one
// address. Create it with New, then Start; Close stops it and every
// goroutine it started.
type Server struct {
	cfg      Config
	backend  Backend
	log      *slog.Logger
	rpc      *gethrpc.Server
	upgrader websocket.Upgrader
	origins  originSet
	metrics  *Metrics

	httpSrv   *http.Server
	ln        *connLimiter
	fresh     *freshConns
	responses *responseBudget // Config.ResponseBufferBytes
	auth      *authenticator
	certs     *certReloader // nil without TLS
	ipLimits  *ipLimits
	explorer  http.Handler // nil unless Config.Explorer

	appMethods    map[string]*appMethod // application query methods by full name (kv_get)
	appNamespaces map[string]bool       // the applications that have any
	appMarkers    [][]byte              // what a call of one of them contains (mayCallApp)

	mu      sync.Mutex
	closed  bool
	started bool
	wsCount int
	wsPerIP map[string]int
	wsConns map[string]*wsConn
	subs    map[*subscription]struct{}

	wg        sync.WaitGroup
	quit      chan struct{}
	closeOnce sync.Once
}

// New creates a server; zero config fields take their defaults. It does not
// listen until Start.
func New(cfg Config, backend Backend, logger *slog.Logger) (*Server, error) {
	if backend == nil {
		return nil, errors.New("rpc: nil backend")
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("rpc: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("module", "rpc")
	auth, err := newAuthenticator(cfg, logger)
	if err != nil {
		return nil, fmt.Errorf("rpc: %w", err)
	}
	var certs *certReloader
	if cfg.TLSCertFile != "" {
		if certs, err = newCertReloader(cfg.TLSCertFile, cfg.TLSKeyFile, logger); err != nil {
			return nil, fmt.Errorf("rpc: rpc.tls_cert and rpc.tls_key: %w", err)
		}
	}
	s := &Server{
		cfg:     cfg,
		backend: backend,
		log:     logger,
		rpc:     gethrpc.NewServer(),
		origins: newOriginSet(cfg.CORSOrigins),
		metrics: cfg.Metrics,
		wsConns: make(map[string]*wsConn),
		wsPerIP: make(map[string]int),
		subs:    make(map[*subscription]struct{}),
		quit:    make(chan struct{}),
		fresh:   newFreshConns(),
		// The largest answer: a batch's, which may pass its limit by one response.
		responses: newResponseBudget(cfg.ResponseBufferBytes, int64(cfg.MaxBatchResponseBytes)+int64(cfg.MaxResponseBytes)),
		auth:      auth,
		certs:     certs,
		ipLimits:  newIPLimits(cfg.IPLimits),
	}
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	if s.appMethods, s.appNamespaces, err = appMethodsOf(backend.Applications()); err != nil {
		return nil, fmt.Errorf("rpc: %w", err)
	}
	s.appMarkers = appMarkers(s.appNamespaces)
	s.rpc.SetBatchLimits(cfg.MaxBatchLength, cfg.MaxBatchResponseBytes)
	// ServeHTTP refuses bodies over MaxRequestBytes before geth reads them;
	// geth's own limit leaves room for rewriteAppCalls, which can double a
	// call's method name.
	s.rpc.SetHTTPBodyLimit(2*cfg.MaxRequestBytes + (cfg.MaxBatchLength+1)*appRewriteSlack)
	s.upgrader = websocket.Upgrader{
		ReadBufferSize:  4096,
		WriteBufferSize: 4096,
		CheckOrigin: func(r *http.Request) bool {
			return s.origins.allowRequest(r) || (s.explorer != nil && sameLocalOrigin(r))
		},
	}
	apis := []struct {
		name string
		api  any
	}{
		{"chain", &chainAPI{s}},
		{"mempool", &mempoolAPI{s}},
	}
	if len(s.appNamespaces) > 0 {
		apis = append(apis, struct {
			name string
			api  any
		}{appQueryNamespace, &appQueryAPI{s}})
	}
	for _, a := range apis {
		if err := s.rpc.RegisterName(a.name, a.api); err != nil {
			return nil, fmt.Errorf("rpc: register %s: %w", a.name, err)
		}
	}
	if cfg.Explorer {
		s.explorer = newExplorerHandler()
	}
	s.httpSrv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ConnState:         s.connState,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Start listens on the configured address and serves in the background.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.started {
		return errors.New("rpc: server already started or closed")
	}
	ln, err := net.Listen("tcp", s.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("rpc: listen on %s: %w", s.cfg.ListenAddr, err)
	}
	s.ln, s.started = newConnLimiter(ln, s.cfg.MaxConnections, s.cfg.MaxConnsPerIP, s.metrics), true
	var served net.Listener = s.ln
	scheme := "http"
	if s.certs != nil {
		s.ln.tls, scheme = true, "https"
		served = tls.NewListener(s.ln, s.certs.tlsConfig())
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.httpSrv.Serve(served); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("rpc server stopped", "err", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		s.fanOut()
	}()
	s.log.Info("rpc server listening", "addr", ln.Addr().String(), "scheme", scheme, "auth", string(s.auth.mode))
	s.warnExposure(ln.Addr().String())
	return nil
}

// Addr returns the address the server listens on, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close stops the server: it stops accepting, waits up to ShutdownTimeout
// for HTTP requests and then closes the connections of those still running
// (a response its client does not read), closes every websocket connection
// and subscription, and returns when every goroutine the server started has
// ended.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		started := s.started
		s.mu.Unlock()
		close(s.quit)
		if started {
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
			s.fresh.closeAll()
			err = s.httpSrv.Shutdown(ctx)
			cancel()
			if errors.Is(err, context.DeadlineExceeded) {
				// Requests still running at the deadline (a response its
				// client never reads, say) are cut: that is the timeout's
				// purpose, not a failure of Close.
				s.log.Warn("rpc: requests still running after the shutdown timeout; closing their connections",
					"timeout", s.cfg.ShutdownTimeout)
				err = nil
			}
			err = errors.Join(err, s.httpSrv.Close())
		}
		s.rpc.Stop()
		s.wg.Wait()
	})
	if err != nil {
		return fmt.Errorf("rpc: close: %w", err)
	}
	return nil
}

// connState is the http.Server ConnState hook.
func (s *Server) connState(c net.Conn, state http.ConnState) {
	s.fresh.track(c, state)
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if s.ln != nil {
		s.ln.track(c, state)
	}
}

// ServeHTTP serves one HTTP request: a websocket upgrade, a CORS preflight,
// a health check (GET / without a body, answered 200 without
// authentication), the explorer's files (with Config.Explorer) or a
// JSON-RPC POST.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.explorer != nil && isExplorerRequest(r) && !websocket.IsWebSocketUpgrade(r) {
		s.explorer.ServeHTTP(w, r)
		return
	}
	if websocket.IsWebSocketUpgrade(r) {
		s.serveWS(w, r)
		return
	}
	if !s.origins.applyCORS(w, r) {
		return
	}
	if r.Method == http.MethodGet && r.ContentLength == 0 && r.URL.RawQuery == "" {
		s.rpc.ServeHTTP(w, r)
		return
	}
	c, ok := s.authorize(w, r)
	if !ok {
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), callerKey{}, c))
	if r.Method == http.MethodPost {
		body, err := s.readBody(r)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			writeHTTPError(w, http.StatusRequestTimeout, CodeInvalidRequest,
				"request body not received within %s (rpc.read_timeout)", s.cfg.ReadTimeout)
			return
		}
		if err != nil {
			writeHTTPError(w, http.StatusRequestEntityTooLarge, CodeInvalidRequest, "%v", err)
			return
		}
		if len(bytes.TrimSpace(body)) == 0 {
			writeHTTPError(w, http.StatusBadRequest, CodeParseError, "empty request body: want a JSON-RPC request or batch")
			return
		}
		body = s.rewriteAppCalls(body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		if body = bytes.TrimSpace(body); body[0] == '[' && s.serveBatch(w, r, body) {
			return
		}
		s.serveBuffered(w, r)
		return
	}
	s.rpc.ServeHTTP(w, r)
}

// readBody reads the request body, refusing one over MaxRequestBytes
// whether or not it declares its length.
func (s *Server) readBody(r *http.Request) ([]byte, error) {
	limit := int64(s.cfg.MaxRequestBytes)
	if r.ContentLength > limit {
		return nil, fmt.Errorf("request body too large: %d bytes, limit %d", r.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("request body too large: over %d bytes", limit)
	}
	return body, nil
}

// writeHTTPError answers with an HTTP status and a JSON-RPC error body.
func writeHTTPError(w http.ResponseWriter, status, code int, format string, args ...any) {
	body, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0",
		"id":      nil,
		"error":   map[string]any{"code": code, "message": fmt.Sprintf(format, args...)},
	})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// originSet is the configured CORS origins.
type originSet struct {
	any     bool
	allowed map[string]bool
}

func newOriginSet(origins []string) originSet {
	o := originSet{allowed: make(map[string]bool)}
	for _, v := range origins {
		if v == "*" {
			o.any = true
		}
		o.allowed[strings.ToLower(strings.TrimRight(v, "/"))] = true
	}
	return o
}

func (o originSet) allows(origin string) bool {
	return o.any || o.allowed[strings.ToLower(strings.TrimRight(origin, "/"))]
}

// allowRequest accepts requests without an Origin (non-browser clients) and
// those from an allowed origin.
func (o originSet) allowRequest(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	return origin == "" || o.allows(origin)
}

// applyCORS sets CORS headers for an allowed origin and answers preflight
// requests. It returns false when it has answered the request itself.
func (o originSet) applyCORS(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if !o.allows(origin) {
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusForbidden)
			return false
		}
		return true // served without CORS headers: the browser hides it
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "POST, GET, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return false
	}
	return true
}
