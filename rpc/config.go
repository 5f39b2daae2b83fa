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
	DefaultMaxBatchResponseBytes = 25 << 20 // 25 MiB of responses to one batch
	DefaultMaxWSMessageBytes     = 5 << 20  // 5 MiB websocket message
	DefaultMaxWSConnections      = 256
	DefaultMaxSubsPerConn        = 32
	DefaultSubscriberBuffer      = 256     // blocks buffered per subscription
	DefaultWSBufferBytes         = 8 << 20 // notification bytes waiting per websocket connection
	DefaultSubscriberStall       = 5 * time.Second
	DefaultPingInterval          = 30 * time.Second
	DefaultPongTimeout           = 30 * time.Second
	DefaultReadHeaderTimeout     = 10 * time.Second
	DefaultShutdownTimeout       = 5 * time.Second
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
	// MaxRequestBytes limits an HTTP request body.
	MaxRequestBytes int
	// MaxBatchLength limits the number of requests in a batch.
	MaxBatchLength int
	// MaxBatchResponseBytes limits the total response size of a batch.
	MaxBatchResponseBytes int
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
	// ShutdownTimeout bounds how long Close waits for HTTP requests.
	ShutdownTimeout time.Duration
}

// DefaultConfig returns the default configuration.
func DefaultConfig() Config {
	return Config{
		ListenAddr:             DefaultListenAddr,
		MaxRequestBytes:        DefaultMaxRequestBytes,
		MaxBatchLength:         DefaultMaxBatchLength,
		MaxBatchResponseBytes:  DefaultMaxBatchResponseBytes,
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
	return nil
}
