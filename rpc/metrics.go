package rpc

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the server's Prometheus series. Every label is bounded: the
// method label takes only the names of served methods, and the code label
// only "0" (success) or one of the error codes in errors.go. Calls that geth
// refuses before they reach a method (a parse error, an unknown method, too
// many parameters) are not counted.
type Metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	wsConns     prometheus.Gauge
	subscribers prometheus.Gauge
	dropped     prometheus.Counter

	conns            prometheus.Gauge
	connsRefused     *prometheus.CounterVec
	connsEvicted     prometheus.Counter
	responsesRefused *prometheus.CounterVec

	unauthenticated *prometheus.CounterVec
	forbidden       *prometheus.CounterVec
	rateLimited     *prometheus.CounterVec
}

// NewMetrics creates the series; register the result (it is a
// prometheus.Collector) and pass it in Config.Metrics.
func NewMetrics() *Metrics {
	return &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bafomet_rpc_requests_total",
			Help: "JSON-RPC calls answered, by method and result code (0 = success).",
		}, []string{"method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bafomet_rpc_request_duration_seconds",
			Help:    "Time a JSON-RPC method took to answer, encoding excluded.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9),
		}, []string{"method"}),
		wsConns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bafomet_rpc_ws_connections", Help: "Open websocket connections.",
		}),
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bafomet_rpc_ws_subscribers", Help: "Live chain_subscribe subscriptions.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bafomet_rpc_ws_dropped_subscribers_total",
			Help: "Subscriptions ended because the client did not read fast enough (error -32020).",
		}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bafomet_rpc_connections", Help: "Open connections to the RPC port, HTTP and websocket.",
		}),
		connsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bafomet_rpc_connections_refused_total",
			Help: "Connections refused at a limit: total (rpc.max_connections, none idle), per_ip (rpc.max_connections_per_ip), ws_total (rpc.max_ws_connections) or ws_per_ip (rpc.max_ws_connections_per_ip).",
		}, []string{"reason"}),
		connsEvicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bafomet_rpc_connections_evicted_total",
			Help: "Idle connections closed to make room at rpc.max_connections.",
		}),
		responsesRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bafomet_rpc_responses_refused_total",
			Help: "Responses replaced by an error: too_large (rpc.max_response_bytes, -32003) or busy (rpc.response_buffer_bytes, -32023).",
		}, []string{"reason"}),
		unauthenticated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bafomet_rpc_unauthenticated_total",
			Help: "HTTP requests and websocket upgrades refused with HTTP 401 (-32030): missing (no bearer credential), invalid (unknown token, bad JWT) or expired (JWT exp passed, iat outside rpc.jwt_iat_window, nbf ahead).",
		}, []string{"reason"}),
		forbidden: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bafomet_rpc_forbidden_total",
			Help: "Calls refused because the token lacks the permission the method needs (-32031), by that permission: read, submit or admin.",
		}, []string{"permission"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bafomet_rpc_rate_limited_total",
			Help: "Calls and subscriptions refused at a rate limit (-32032), by limit (requests, txs or subscriptions) and scope (ip: rpc.ip_*, token: rpc.token_* or the token file's).",
		}, []string{"limit", "scope"}),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.requests.Describe(ch)
	m.duration.Describe(ch)
	m.wsConns.Describe(ch)
	m.subscribers.Describe(ch)
	m.dropped.Describe(ch)
	m.conns.Describe(ch)
	m.connsRefused.Describe(ch)
	m.connsEvicted.Describe(ch)
	m.responsesRefused.Describe(ch)
	m.unauthenticated.Describe(ch)
	m.forbidden.Describe(ch)
	m.rateLimited.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.requests.Collect(ch)
	m.duration.Collect(ch)
	m.wsConns.Collect(ch)
	m.subscribers.Collect(ch)
	m.dropped.Collect(ch)
	m.conns.Collect(ch)
	m.connsRefused.Collect(ch)
	m.connsEvicted.Collect(ch)
	m.responsesRefused.Collect(ch)
	m.unauthenticated.Collect(ch)
	m.forbidden.Collect(ch)
	m.rateLimited.Collect(ch)
}

// observe records one call of method that started at start and ended with
// *errp (nil errp or nil error = success). Use it deferred, with a named
// error result: defer s.observe("chain_x", time.Now(), &err).
// An internal error's detail, which the client does not get, is logged.
func (s *Server) observe(method string, start time.Time, errp *error) {
	code := 0
	if errp != nil && *errp != nil {
		code = ErrorCode(*errp)
		var he *hiddenError
		if errors.As(*errp, &he) {
			s.log.Warn("rpc internal error", "method", method, "what", he.what, "err", he.err)
		}
	}
	s.metrics.requests.WithLabelValues(method, strconv.Itoa(code)).Inc()
	s.metrics.duration.WithLabelValues(method).Observe(time.Since(start).Seconds())
}
