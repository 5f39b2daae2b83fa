package rpc

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
)

// Authentication and authorisation. With rpc.auth other than "none",
// every HTTP request and websocket upgrade must carry
// "Authorization: Bearer CREDENTIAL", where CREDENTIAL is a static token
// whose SHA-256 the token file lists, or a JWT signed with the shared
// secret. A request without a valid one is answered HTTP 401 (-32030)
// before anything else is read. A websocket is authenticated once, at the
// upgrade; one authenticated by a JWT with an "exp" is closed when it
// expires. Each call then needs the permission methodPermissions names
// for its method (-32031 otherwise), and passes the rate limits of its
// token and its address (ratelimit.go).

// AuthMode is rpc.auth: which bearer credentials the server accepts.
type AuthMode string

// The authentication modes.
const (
	AuthNone       AuthMode = "none"      // no authentication: every caller has every permission
	AuthToken      AuthMode = "token"     // static tokens from rpc.token_file
	AuthJWT        AuthMode = "jwt"       // HS256 JWTs signed with rpc.jwt_secret_file
	AuthTokenOrJWT AuthMode = "token+jwt" // either
)

func (m AuthMode) valid() bool {
	return m == AuthNone || m == AuthToken || m == AuthJWT || m == AuthTokenOrJWT
}

func (m AuthMode) usesTokens() bool { return m == AuthToken || m == AuthTokenOrJWT }
func (m AuthMode) usesJWT() bool    { return m == AuthJWT || m == AuthTokenOrJWT }

// jwtPrincipalName names every JWT holder in logs and rate limits: they
// share one secret, so the node cannot tell them apart.
const jwtPrincipalName = "jwt"

// principal is who a bearer credential stands for.
type principal struct {
	name    string // the token's name, or jwtPrincipalName
	perms   Permission
	limits  *buckets  // the token's rate limits; nil: none
	expires time.Time // a JWT's exp; zero: none
}

// authenticator checks bearer credentials.
type authenticator struct {
	mode   AuthMode
	tokens map[[sha256.Size]byte]*principal
	secret []byte
	jwt    *principal
	window time.Duration
}

// newAuthenticator loads the token file and the JWT secret cfg.Auth
// calls for.
func newAuthenticator(cfg Config, log *slog.Logger) (*authenticator, error) {
	a := &authenticator{mode: cfg.Auth, window: cfg.JWTIssuedAtWindow}
	if a.mode.usesTokens() {
		tokens, err := LoadTokenFile(cfg.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("rpc.token_file: %w", err)
		}
		a.tokens = make(map[[sha256.Size]byte]*principal, len(tokens))
		for _, t := range tokens {
			p := &principal{name: t.Name, perms: t.Permissions}
			if l := t.limits(cfg.TokenLimits); !l.off() {
				p.limits = newBuckets(l, "token", fmt.Sprintf("token %q", t.Name))
			}
			a.tokens[t.Hash] = p
		}
	}
	if a.mode.usesJWT() {
		secret, err := LoadJWTSecret(cfg.JWTSecretFile)
		if err != nil {
			return nil, fmt.Errorf("rpc.jwt_secret_file: %w", err)
		}
		if st, err := os.Stat(cfg.JWTSecretFile); err == nil && st.Mode().Perm()&0o077 != 0 {
			log.Warn("rpc.jwt_secret_file can be read by other users; chmod 600 it", "file", cfg.JWTSecretFile, "mode", st.Mode().Perm().String())
		}
		a.secret = secret
		a.jwt = &principal{name: jwtPrincipalName, perms: cfg.JWTPermissions}
		if !cfg.TokenLimits.off() {
			a.jwt.limits = newBuckets(cfg.TokenLimits, "token", "the JWT secret's holders")
		}
	}
	return a, nil
}

// authFailure is why a request gets HTTP 401.
type authFailure struct {
	reason string // "missing", "invalid" or "expired": the metrics label
	msg    string
}

// authenticate returns the principal of the request's bearer credential.
func (a *authenticator) authenticate(h http.Header, now time.Time) (*principal, *authFailure) {
	values := h.Values("Authorization")
	switch {
	case len(values) == 0:
		return nil, &authFailure{"missing", fmt.Sprintf(`no "Authorization: Bearer ..." header (rpc.auth = %q)`, a.mode)}
	case len(values) > 1:
		return nil, &authFailure{"invalid", "more than one Authorization header"}
	}
	scheme, cred, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	cred = strings.TrimSpace(cred)
	switch {
	case !strings.EqualFold(scheme, "Bearer"):
		return nil, &authFailure{"invalid", fmt.Sprintf("authorization scheme %.16q: want Bearer", scheme)}
	case cred == "":
		return nil, &authFailure{"missing", "empty bearer credential"}
	case len(cred) > maxCredentialBytes:
		return nil, &authFailure{"invalid", fmt.Sprintf("bearer credential longer than %d bytes", maxCredentialBytes)}
	}
	if strings.Contains(cred, ".") {
		return a.authenticateJWT(cred, now)
	}
	if !a.mode.usesTokens() {
		return nil, &authFailure{"invalid", fmt.Sprintf("not a JWT (rpc.auth = %q)", a.mode)}
	}
	if p := a.tokens[sha256.Sum256([]byte(cred))]; p != nil {
		return p, nil
	}
	return nil, &authFailure{"invalid", "unknown token"}
}

func (a *authenticator) authenticateJWT(cred string, now time.Time) (*principal, *authFailure) {
	if !a.mode.usesJWT() {
		return nil, &authFailure{"invalid", fmt.Sprintf("JWTs are not accepted (rpc.auth = %q)", a.mode)}
	}
	claims, err := verifyJWT(cred, a.secret, now, a.window)
	if err != nil {
		reason := "invalid"
		if errors.Is(err, errJWTStale) || errors.Is(err, errJWTFuture) || errors.Is(err, errJWTExpired) || errors.Is(err, errJWTNotYet) {
			reason = "expired"
		}
		return nil, &authFailure{reason, err.Error()}
	}
	p := *a.jwt
	p.expires = claims.expires
	return &p, nil
}

// caller is who makes a call: the client's address, and its principal
// (nil when rpc.auth is "none").
type caller struct {
	ip string
	p  *principal
}

type callerKey struct{}

// authorize authenticates an HTTP request or websocket upgrade. When it
// returns false it has answered with HTTP 401.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) (*caller, bool) {
	c := &caller{ip: requestIP(r)}
	if s.auth.mode == AuthNone {
		return c, true
	}
	p, fail := s.auth.authenticate(r.Header, time.Now())
	if fail != nil {
		s.metrics.unauthenticated.WithLabelValues(fail.reason).Inc()
		s.log.Debug("rpc request not authenticated", "remote", r.RemoteAddr, "reason", fail.msg)
		challenge := `Bearer realm="bafomet"`
		if fail.reason != "missing" {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
		writeHTTPError(w, http.StatusUnauthorized, CodeUnauthenticated, "unauthenticated: %s", fail.msg)
		return nil, false
	}
	c.p = p
	return c, true
}

// callerOf returns the caller of a method call: the one ServeHTTP put in
// the request's context, or its websocket connection's.
func (s *Server) callerOf(ctx context.Context) *caller {
	if c, ok := ctx.Value(callerKey{}).(*caller); ok {
		return c
	}
	key := gethrpc.PeerInfoFromContext(ctx).RemoteAddr
	s.mu.Lock()
	defer s.mu.Unlock()
	if wc := s.wsConns[key]; wc != nil {
		return wc.caller
	}
	return nil
}

// admit checks that the caller of method may call it now: its permission
// and its rate limits. Every served method calls it first.
func (s *Server) admit(ctx context.Context, method string) (*caller, error) {
	c := s.callerOf(ctx)
	if c == nil {
		if s.auth.mode != AuthNone {
			return nil, &Error{Code: CodeUnauthenticated, Message: "unauthenticated: no caller for this call"}
		}
		c = &caller{}
	}
	if c.p != nil {
		need := s.permissionOf(method)
		if need == 0 || !c.p.perms.Has(need) {
			s.metrics.forbidden.WithLabelValues(need.String()).Inc()
			return nil, &Error{Code: CodeForbidden, Message: fmt.Sprintf(
				"forbidden: %s needs the %s permission; %s has %s", method, need, c.p.who(), c.p.perms)}
		}
	}
	now := time.Now()
	var tokenLimits, ipLimits *buckets
	if c.p != nil {
		tokenLimits = c.p.limits
	}
	if c.ip != "" {
		ipLimits = s.ipLimits.get(c.ip, now)
	}
	if r := takeCall(now, method == "chain_sendTransaction", tokenLimits, ipLimits); r != nil {
		return nil, s.refused(r)
	}
	return c, nil
}

// takeSub counts a subscription in for the caller's token and address,
// returning the function that counts it out.
func (s *Server) takeSub(c *caller) (func(), error) {
	var tb *buckets
	if c.p != nil && c.p.limits != nil {
		if !c.p.limits.takeSub() {
			return nil, s.refused(&limitRefusal{b: c.p.limits, limit: "subscriptions"})
		}
		tb = c.p.limits
	}
	var ib *buckets
	if c.ip != "" {
		var ok bool
		if ib, ok = s.ipLimits.takeSub(c.ip, time.Now()); !ok {
			if tb != nil {
				tb.releaseSub()
			}
			return nil, s.refused(&limitRefusal{b: ib, limit: "subscriptions"})
		}
	}
	return func() {
		for _, b := range []*buckets{tb, ib} {
			if b != nil {
				b.releaseSub()
			}
		}
	}, nil
}

func (s *Server) refused(r *limitRefusal) error {
	s.metrics.rateLimited.WithLabelValues(r.limit, r.b.scope).Inc()
	return r.error()
}

func (p *principal) who() string {
	if p.name == jwtPrincipalName {
		return "the JWT secret"
	}
	return fmt.Sprintf("token %q", p.name)
}

// isLoopback reports whether a listen address serves only this machine.
func isLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// warnExposure logs, at start, what an operator exposes without meaning
// to: RPC on the network without authentication, or bearer tokens sent in
// clear text.
func (s *Server) warnExposure(addr string) {
	if isLoopback(s.cfg.ListenAddr) {
		return
	}
	if s.auth.mode == AuthNone {
		s.log.Warn(`rpc.auth is "none" on a non-loopback address: anyone who reaches it may call every method; set rpc.auth (docs/rpc.md)`,
			"addr", addr)
	} else if s.certs == nil {
		s.log.Warn("rpc.auth is on without TLS on a non-loopback address: bearer tokens cross the network in clear text; set rpc.tls_cert and rpc.tls_key",
			"addr", addr, "auth", string(s.auth.mode))
	}
}
