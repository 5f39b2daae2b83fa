package rpc

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// Defaults for Config.
const (
	DefaultListenAddr            = "127.0.0.1:8545"
	DefaultMaxRequestBytes       = 5 << 20  // 5 MiB HTTP request body
	DefaultMaxBatchLength        = 100      // requests in one batch
	DefaultMaxBatchResponseBytes = 10 << 20 // 10 MiB of responses to one batch
	DefaultMaxResponseBytes      = 16 << 20 // 16 MiB: one call's response, or one websocket message
	DefaultResponseBufferBytes   = 128 << 20
	DefaultMaxConnections        = 1024 // HTTP and websocket, all clients
	DefaultMaxConnsPerIP         = 256  // HTTP and websocket, one remote IP
	DefaultMaxWSConnsPerIP       = 64
	DefaultWSMaxInFlight         = 4       // requests one websocket connection may have geth answer at once
	DefaultMaxWSMessageBytes     = 5 << 20 // 5 MiB websocket message
	DefaultMaxWSConnections      = 256
	DefaultMaxSubsPerConn        = 32
	DefaultSubscriberBuffer      = 256     // blocks buffered per subscription
	DefaultWSBufferBytes         = 8 << 20 // notification bytes waiting per websocket connection
	DefaultSubscriberStall       = 5 * time.Second
	DefaultPingInterval          = 30 * time.Second
	DefaultPongTimeout           = 30 * time.Second
	DefaultReadHeaderTimeout     = 10 * time.Second
	DefaultReadTimeout           = 30 * time.Second
	DefaultWriteTimeout          = 30 * time.Second
	DefaultIdleTimeout           = 60 * time.Second
	DefaultShutdownTimeout       = 5 * time.Second
	DefaultAuth                  = AuthNone
	DefaultJWTPermissions        = PermRead | PermSubmit
)

// Config configures the RPC server. The node fills it from the [rpc]
// section of config.toml; zero fields take the defaults (WithDefaults).
type Config struct {
	// ListenAddr is host:port for HTTP and websocket (one port). Port 0
	// picks a free port; Server.Addr reports it.
	ListenAddr string
	// CORSOrigins are the browser origins allowed for HTTP (CORS) and
	// websocket (Origin check). "*" allows any. Empty allows no browser
	// origin; requests without an Origin header are always served.
	CORSOrigins []string
	// Explorer serves the block explorer at /explorer/ (its files need no
	// credentials; the page reads the chain through the JSON-RPC methods)
	// and lets the page's websocket in when it was loaded from this
	// server by IP address or localhost.
	Explorer bool
	// MaxRequestBytes limits an HTTP request body.
	MaxRequestBytes int
	// MaxBatchLength limits the number of requests in a batch.
	MaxBatchLength int
	// MaxBatchResponseBytes limits the total response size of a batch:
	// the calls after it is passed are answered with -32003.
	MaxBatchResponseBytes int
	// MaxResponseBytes limits the response to one call over HTTP (in a
	// batch too: the server answers HTTP batches call by call), and one
	// websocket response message, a batch's whole answer included; a
	// larger one is replaced by a -32003 error.
	MaxResponseBytes int
	// ResponseBufferBytes bounds the HTTP and websocket responses, all
	// clients together, that are being built or written and not yet taken
	// by their clients; the clients at one IP address may hold a quarter
	// of it (at least MaxResponseBytes + MaxBatchResponseBytes). A
	// response that finds it, or its address's share, full is replaced by
	// a -32023 error. Subscription notifications have their own budget
	// (WSBufferBytes per connection).
	ResponseBufferBytes int64
	// MaxConnections limits the open connections to the RPC port, HTTP and
	// websocket together. At the limit the connection idle the longest is
	// closed to make room, or the new one is refused when none is idle.
	MaxConnections int
	// MaxConnsPerIP limits the open connections from one remote IP address;
	// the next is refused with HTTP 503.
	MaxConnsPerIP int
	// MaxWSConnsPerIP limits the websocket connections from one remote IP
	// address; the next upgrade is refused with HTTP 503.
	MaxWSConnsPerIP int
	// WSMaxInFlight limits the requests (a batch counts as one) that one
	// websocket connection may have in progress: the server reads the
	// connection's next request only when one of them has been answered.
	// geth otherwise starts every request read at once, each holding its
	// results (a batch, up to MaxBatchResponseBytes) until written.
	WSMaxInFlight int
	// MaxWSMessageBytes limits one websocket message from a client; a
	// larger one closes the connection with status 1009.
	MaxWSMessageBytes int64
	// MaxWSConnections limits concurrent websocket connections; the next
	// upgrade is refused with HTTP 503.
	MaxWSConnections int
	// MaxSubsPerConn limits live subscriptions on one websocket connection.
	MaxSubsPerConn int
	// SubscriberBuffer is how many notifications (blocks) a live
	// subscription may have waiting to be written before it is ended as
	// too slow.
	SubscriberBuffer int
	// WSBufferBytes bounds the encoded notifications that one websocket
	// connection's subscriptions, all together, may have loaded and not
	// yet written to the client. A replay waits for the client to read
	// (and free budget); a live subscription that waits longer than
	// SubscriberStallTimeout is ended as too slow. One notification larger
	// than the whole budget is let through when it can take all of it.
	WSBufferBytes int64
	// SubscriberStallTimeout is how long a live subscription's buffer may
	// stay full before the subscription is ended as too slow. It is below
	// geth's 10-second write timeout, so the final error notification is
	// queued while the connection can still deliver it.
	SubscriberStallTimeout time.Duration
	// Metrics receives the server's Prometheus series; nil keeps them
	// unregistered (NewMetrics makes one to register).
	Metrics *Metrics
	// PingInterval is how often the server pings a websocket client.
	PingInterval time.Duration
	// PongTimeout is how long after a ping the server waits for the pong
	// (or any other frame) before closing the connection as dead.
	PongTimeout time.Duration
	// ReadHeaderTimeout limits reading an HTTP request's headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout limits reading a whole HTTP request, headers and body
	// (a body trickled slower is cut off, with HTTP 408 when possible).
	ReadTimeout time.Duration
	// WriteTimeout limits the time from the end of a request's headers to
	// the end of its response: a client that does not read its response is
	// cut off, and the response's memory freed. Websocket connections are
	// not affected once upgraded.
	WriteTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request before it is closed.
	IdleTimeout time.Duration
	// ShutdownTimeout bounds how long Close waits for HTTP requests.
	ShutdownTimeout time.Duration

	// TLSCertFile and TLSKeyFile are the PEM files of the server's
	// certificate (chain) and private key: both set, the port serves
	// HTTPS and WSS only; both empty, HTTP and WS.
	TLSCertFile, TLSKeyFile string
	// Auth is which bearer credentials the server accepts (auth.go).
	Auth AuthMode
	// TokenFile is the token file (tokens.go); used by AuthToken and
	// AuthTokenOrJWT, and only by them.
	TokenFile string
	// JWTSecretFile holds the HS256 secret (jwt.go); used by AuthJWT and
	// AuthTokenOrJWT, and only by them.
	JWTSecretFile string
	// JWTPermissions are what every valid JWT may do.
	JWTPermissions Permission
	// JWTIssuedAtWindow is how far a JWT's iat may be from the server's
	// clock, either way.
	JWTIssuedAtWindow time.Duration
	// IPLimits are each client IP address's rate limits; zero: none.
	IPLimits RateLimit
	// TokenLimits are each token's rate limits, unless the token file
	// gives the token its own; all JWT holders share one set. Zero: none.
	TokenLimits RateLimit
}

// DefaultConfig returns the default configuration.
func DefaultConfig() Config {
	return Config{
		ListenAddr:             DefaultListenAddr,
		MaxRequestBytes:        DefaultMaxRequestBytes,
		MaxBatchLength:         DefaultMaxBatchLength,
		MaxBatchResponseBytes:  DefaultMaxBatchResponseBytes,
		MaxResponseBytes:       DefaultMaxResponseBytes,
		ResponseBufferBytes:    DefaultResponseBufferBytes,
		MaxConnections:         DefaultMaxConnections,
		MaxConnsPerIP:          DefaultMaxConnsPerIP,
		MaxWSConnsPerIP:        DefaultMaxWSConnsPerIP,
		WSMaxInFlight:          DefaultWSMaxInFlight,
		ReadTimeout:            DefaultReadTimeout,
		WriteTimeout:           DefaultWriteTimeout,
		IdleTimeout:            DefaultIdleTimeout,
		MaxWSMessageBytes:      DefaultMaxWSMessageBytes,
		MaxWSConnections:       DefaultMaxWSConnections,
		MaxSubsPerConn:         DefaultMaxSubsPerConn,
		SubscriberBuffer:       DefaultSubscriberBuffer,
		WSBufferBytes:          DefaultWSBufferBytes,
		SubscriberStallTimeout: DefaultSubscriberStall,
		PingInterval:           DefaultPingInterval,
		PongTimeout:            DefaultPongTimeout,
		ReadHeaderTimeout:      DefaultReadHeaderTimeout,
		ShutdownTimeout:        DefaultShutdownTimeout,
		Auth:                   DefaultAuth,
		JWTPermissions:         DefaultJWTPermissions,
		JWTIssuedAtWindow:      DefaultJWTIssuedAtWindow,
	}
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	if c.ListenAddr == "" {
		c.ListenAddr = d.ListenAddr
	}
	setInt(&c.MaxRequestBytes, d.MaxRequestBytes)
	setInt(&c.MaxBatchLength, d.MaxBatchLength)
	setInt(&c.MaxBatchResponseBytes, d.MaxBatchResponseBytes)
	setInt(&c.MaxResponseBytes, d.MaxResponseBytes)
	setInt(&c.MaxConnections, d.MaxConnections)
	setInt(&c.MaxConnsPerIP, d.MaxConnsPerIP)
	setInt(&c.MaxWSConnsPerIP, d.MaxWSConnsPerIP)
	setInt(&c.WSMaxInFlight, d.WSMaxInFlight)
	if c.ResponseBufferBytes == 0 {
		c.ResponseBufferBytes = d.ResponseBufferBytes
	}
	setDur(&c.ReadTimeout, d.ReadTimeout)
	setDur(&c.WriteTimeout, d.WriteTimeout)
	setDur(&c.IdleTimeout, d.IdleTimeout)
	setInt(&c.MaxWSConnections, d.MaxWSConnections)
	setInt(&c.MaxSubsPerConn, d.MaxSubsPerConn)
	setInt(&c.SubscriberBuffer, d.SubscriberBuffer)
	if c.MaxWSMessageBytes == 0 {
		c.MaxWSMessageBytes = d.MaxWSMessageBytes
	}
	if c.WSBufferBytes == 0 {
		c.WSBufferBytes = d.WSBufferBytes
	}
	setDur(&c.SubscriberStallTimeout, d.SubscriberStallTimeout)
	setDur(&c.PingInterval, d.PingInterval)
	setDur(&c.PongTimeout, d.PongTimeout)
	setDur(&c.ReadHeaderTimeout, d.ReadHeaderTimeout)
	setDur(&c.ShutdownTimeout, d.ShutdownTimeout)
	if c.Auth == "" {
		c.Auth = d.Auth
	}
	if c.JWTPermissions == 0 {
		c.JWTPermissions = d.JWTPermissions
	}
	setDur(&c.JWTIssuedAtWindow, d.JWTIssuedAtWindow)
	return c
}

func setInt(v *int, d int) {
	if *v == 0 {
		*v = d
	}
}

func setDur(v *time.Duration, d time.Duration) {
	if *v == 0 {
		*v = d
	}
}

// Validate reports the first invalid field by its config.toml key.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
		return fmt.Errorf("rpc.listen_addr %q: %w", c.ListenAddr, err)
	}
	ints := []struct {
		key string
		v   int64
	}{
		{"rpc.max_request_bytes", int64(c.MaxRequestBytes)},
		{"rpc.max_batch_length", int64(c.MaxBatchLength)},
		{"rpc.max_batch_response_bytes", int64(c.MaxBatchResponseBytes)},
		{"rpc.max_response_bytes", int64(c.MaxResponseBytes)},
		{"rpc.response_buffer_bytes", c.ResponseBufferBytes},
		{"rpc.max_connections", int64(c.MaxConnections)},
		{"rpc.max_connections_per_ip", int64(c.MaxConnsPerIP)},
		{"rpc.max_ws_connections_per_ip", int64(c.MaxWSConnsPerIP)},
		{"rpc.ws_max_in_flight", int64(c.WSMaxInFlight)},
		{"rpc.read_timeout", int64(c.ReadTimeout)},
		{"rpc.write_timeout", int64(c.WriteTimeout)},
		{"rpc.idle_timeout", int64(c.IdleTimeout)},
		{"rpc.max_ws_message_bytes", c.MaxWSMessageBytes},
		{"rpc.max_ws_connections", int64(c.MaxWSConnections)},
		{"rpc.max_subscriptions_per_connection", int64(c.MaxSubsPerConn)},
		{"rpc.subscriber_buffer", int64(c.SubscriberBuffer)},
		{"rpc.ws_buffer_bytes", c.WSBufferBytes},
		{"rpc.subscriber_stall_timeout", int64(c.SubscriberStallTimeout)},
		{"rpc.ping_interval", int64(c.PingInterval)},
		{"rpc.pong_timeout", int64(c.PongTimeout)},
		{"rpc.read_header_timeout", int64(c.ReadHeaderTimeout)},
		{"rpc.shutdown_timeout", int64(c.ShutdownTimeout)},
	}
	for _, f := range ints {
		if f.v <= 0 {
			return fmt.Errorf("%s must be positive, got %d", f.key, f.v)
		}
	}
	for _, o := range c.CORSOrigins {
		if o == "" {
			return errors.New("rpc.cors_origins: empty origin")
		}
	}
	return c.validateAuth()
}

// validateAuth checks the TLS, authentication and rate-limit fields.
func (c Config) validateAuth() error {
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("rpc.tls_cert and rpc.tls_key: set both (HTTPS and WSS) or neither (HTTP and WS)")
	}
	if !c.Auth.valid() {
		return fmt.Errorf("rpc.auth %q: want none, token, jwt or token+jwt", c.Auth)
	}
	files := []struct {
		key, path string
		used      bool
	}{{"rpc.token_file", c.TokenFile, c.Auth.usesTokens()}, {"rpc.jwt_secret_file", c.JWTSecretFile, c.Auth.usesJWT()}}
	for _, f := range files {
		if f.used && f.path == "" {
			return fmt.Errorf("%s: required by rpc.auth = %q", f.key, c.Auth)
		}
		if !f.used && f.path != "" {
			return fmt.Errorf("%s is set but rpc.auth = %q does not use it", f.key, c.Auth)
		}
	}
	if c.JWTPermissions == 0 || c.JWTPermissions&^permAll != 0 {
		return fmt.Errorf("rpc.jwt_permissions: want one or more of read, submit, admin")
	}
	if c.JWTIssuedAtWindow <= 0 {
		return fmt.Errorf("rpc.jwt_iat_window must be positive, got %s", c.JWTIssuedAtWindow)
	}
	if err := c.IPLimits.validate("rpc.ip_"); err != nil {
		return err
	}
	return c.TokenLimits.validate("rpc.token_")
}
