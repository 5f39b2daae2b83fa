package rpc

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/ethereum/go-ethereum/common/hexutil"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bafomet/bafomet/internal/testca"
)

// Every method the server registers needs a permission, and the table
// names no method the server does not serve. (A method missing from the
// table would be refused to every token.)
func TestEveryMethodHasAPermission(t *testing.T) {
	subType := reflect.TypeOf(&gethrpc.Subscription{})
	var served []string
	for ns, api := range map[string]any{"chain": &chainAPI{}, "mempool": &mempoolAPI{}} {
		typ := reflect.TypeOf(api)
		for i := range typ.NumMethod() {
			m := typ.Method(i)
			name := ns + "_" + string(unicode.ToLower(rune(m.Name[0]))) + m.Name[1:]
			if m.Type.NumOut() > 0 && m.Type.Out(0) == subType {
				name = ns + "_subscribe"
			}
			if !slices.Contains(served, name) {
				served = append(served, name)
			}
		}
	}
	var table []string
	for m := range methodPermissions {
		table = append(table, m)
	}
	sort.Strings(served)
	sort.Strings(table)
	if !reflect.DeepEqual(served, table) {
		t.Fatalf("served methods %v\npermission table %v", served, table)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// authFixture is a server with a token file of three tokens, one per
// permission, a fourth with all of them, and a JWT secret.
type authFixture struct {
	f                            *fakeBackend
	s                            *Server
	m                            *Metrics
	url                          string
	read, submit, admin, all     string // bearer tokens
	secret                       []byte
	tokenFile, secretFile, txHex string
}

func newAuthFixture(t *testing.T, mode AuthMode, mut func(*Config)) *authFixture {
	t.Helper()
	fx := &authFixture{f: newFakeBackend(t), m: NewMetrics(), secret: jwtTestSecret()}
	fx.f.commit(t)
	dir := t.TempDir()
	var file strings.Builder
	for _, tk := range []struct {
		name  string
		dst   *string
		perms Permission
	}{{"reader", &fx.read, PermRead}, {"submitter", &fx.submit, PermSubmit}, {"admin", &fx.admin, PermAdmin}, {"all", &fx.all, permAll}} {
		tok, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		*tk.dst = tok
		entry, err := TokenEntry(tk.name, tok, tk.perms)
		if err != nil {
			t.Fatal(err)
		}
		file.WriteString(entry)
	}
	fx.tokenFile = writeTestFile(t, filepath.Join(dir, "tokens.toml"), file.String())
	fx.secretFile = writeTestFile(t, filepath.Join(dir, "jwt.hex"), "0x"+hex.EncodeToString(fx.secret)+"\n")
	cfg := Config{Auth: mode, Metrics: fx.m}
	if mode.usesTokens() {
		cfg.TokenFile = fx.tokenFile
	}
	if mode.usesJWT() {
		cfg.JWTSecretFile = fx.secretFile
	}
	if mut != nil {
		mut(&cfg)
	}
	fx.s = startServer(t, cfg, fx.f)
	fx.url = httpURL(fx.s)
	fx.txHex = hexutil.Encode(signTx(t, testKey(t, 10), 0, "a=1").Bytes())
	return fx
}

func bearer(tok string) string { return "Bearer " + tok }

func reqBody(method, params string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":7,"method":%q,"params":%s}`, method, params)
}

// postAs makes one call with an Authorization header and decodes the
// JSON-RPC response; it returns the HTTP status too.
func (fx *authFixture) postAs(t *testing.T, authz, method, params string) (int, rpcResponse, http.Header) {
	t.Helper()
	status, hdr, body := postWith(t, http.DefaultClient, fx.url, authz, reqBody(method, params))
	var r rpcResponse
	if err := jsonUnmarshal(body, &r); err != nil {
		t.Fatalf("%s: bad response %q: %v", method, body, err)
	}
	return status, r, hdr
}

func errCode(r rpcResponse) int {
	if r.Error == nil {
		return 0
	}
	return r.Error.Code
}

// With rpc.auth = "token", a request without a known token gets HTTP 401
// and -32030 before anything else; a known token calls exactly the
// methods its permissions allow, and others get -32031 naming the
// permission needed.
func TestTokenAuthHTTP(t *testing.T) {
	fx := newAuthFixture(t, AuthToken, nil)
	for _, tc := range []struct {
		name, authz, method, params string
		status, code                int
		msg                         string
	}{
		{"no header", "", "chain_blockNumber", `[]`, 401, CodeUnauthenticated, "no \"Authorization: Bearer"},
		{"unknown token", bearer("bft_nope"), "chain_blockNumber", `[]`, 401, CodeUnauthenticated, "unknown token"},
		{"basic scheme", "Basic " + fx.read, "chain_blockNumber", `[]`, 401, CodeUnauthenticated, "want Bearer"},
		{"empty bearer", "Bearer ", "chain_blockNumber", `[]`, 401, CodeUnauthenticated, "empty bearer"},
		{"a JWT", bearer(SignJWT(fx.secret, time.Now(), time.Time{})), "chain_blockNumber", `[]`, 401, CodeUnauthenticated, "JWTs are not accepted"},
		{"long credential", bearer(strings.Repeat("a", maxCredentialBytes+1)), "chain_blockNumber", `[]`, 401, CodeUnauthenticated, "longer than 4096"},
		{"token with a prefix", bearer("x" + fx.read), "chain_blockNumber", `[]`, 401, CodeUnauthenticated, "unknown token"},
		{"read: query", bearer(fx.read), "chain_blockNumber", `[]`, 200, 0, ""},
		{"lower-case scheme", "bearer " + fx.read, "chain_blockNumber", `[]`, 200, 0, ""},
		{"read: app query", bearer(fx.read), "kv_get", `["k"]`, 200, 0, ""},
		{"read: submit", bearer(fx.read), "chain_sendTransaction", `["` + fx.txHex + `"]`, 200, CodeForbidden,
			`forbidden: chain_sendTransaction needs the submit permission; token "reader" has read`},
		{"read: admin", bearer(fx.read), "mempool_status", `[]`, 200, CodeForbidden, "needs the admin permission"},
		{"submit: submit", bearer(fx.submit), "chain_sendTransaction", `["` + fx.txHex + `"]`, 200, 0, ""},
		{"submit: query", bearer(fx.submit), "chain_status", `[]`, 200, CodeForbidden, "needs the read permission"},
		{"admin: admin", bearer(fx.admin), "mempool_status", `[]`, 200, 0, ""},
		{"admin: query", bearer(fx.admin), "chain_getBlockByNumber", `[1]`, 200, CodeForbidden, "needs the read permission"},
		{"all: admin", bearer(fx.all), "mempool_status", `[]`, 200, 0, ""},
		{"rpc_modules needs only a token", bearer(fx.submit), "rpc_modules", `[]`, 200, 0, ""},
		{"unknown method", bearer(fx.read), "chain_nope", `[]`, 200, CodeMethodNotFound, ""},
	} {
		status, r, hdr := fx.postAs(t, tc.authz, tc.method, tc.params)
		if status != tc.status || errCode(r) != tc.code || tc.msg != "" && !strings.Contains(r.Error.Message, tc.msg) {
			t.Errorf("%s: HTTP %d, %+v; want %d, code %d, %q", tc.name, status, r.Error, tc.status, tc.code, tc.msg)
		}
		if status == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), `Bearer realm="bafomet"`) {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, hdr.Get("WWW-Authenticate"))
		}
	}
	if got := metricValue(t, fx.m.unauthenticated.WithLabelValues("missing")); got != 2 {
		t.Errorf("unauthenticated{missing} = %v, want 2", got)
	}
	if got := metricValue(t, fx.m.unauthenticated.WithLabelValues("invalid")); got != 5 {
		t.Errorf("unauthenticated{invalid} = %v, want 5", got)
	}
	if got := metricValue(t, fx.m.forbidden.WithLabelValues("read")); got != 2 {
		t.Errorf("forbidden{read} = %v, want 2", got)
	}
	if got := metricValue(t, fx.m.requests.WithLabelValues("mempool_status", "-32031")); got != 1 {
		t.Errorf("requests{mempool_status,-32031} = %v, want 1", got)
	}
	fx.f.mu.Lock()
	sent := len(fx.f.sent)
	fx.f.mu.Unlock()
	if sent != 1 {
		t.Errorf("%d transactions reached the backend, want 1 (the submitter's)", sent)
	}
}

// Two Authorization headers are refused, whatever they hold; so is one
// from the wrong scheme.
func TestAuthenticateHeaderForms(t *testing.T) {
	fx := newAuthFixture(t, AuthToken, nil)
	h := http.Header{}
	h.Add("Authorization", bearer(fx.read))
	h.Add("Authorization", bearer(fx.read))
	if _, fail := fx.s.auth.authenticate(h, time.Now()); fail == nil || fail.msg != "more than one Authorization header" {
		t.Fatalf("two headers: %+v", fail)
	}
	h = http.Header{"Authorization": {"  Bearer \t" + fx.read + "  "}}
	if p, fail := fx.s.auth.authenticate(h, time.Now()); fail != nil || p.name != "reader" {
		t.Fatalf("a token with spaces around: %+v", fail)
	}
}

// A JWT secret that other users can read is used, with a warning.
func TestJWTSecretModeWarning(t *testing.T) {
	fx := newAuthFixture(t, AuthNone, nil)
	for _, tc := range []struct {
		mode os.FileMode
		warn bool
	}{{0o600, false}, {0o640, true}, {0o604, true}} {
		if err := os.Chmod(fx.secretFile, tc.mode); err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		if _, err := New(Config{ListenAddr: "127.0.0.1:0", Auth: AuthJWT, JWTSecretFile: fx.secretFile}, newFakeBackend(t),
			slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(logs.String(), "rpc.jwt_secret_file can be read by other users"); got != tc.warn {
			t.Errorf("mode %v: warned %v, log %s", tc.mode, got, logs.String())
		}
	}
}

// A batch is checked call by call: each call gets its own answer.
func TestTokenAuthBatch(t *testing.T) {
	fx := newAuthFixture(t, AuthToken, nil)
	batch := `[` + reqBody("chain_blockNumber", `[]`) + `,` + reqBody("mempool_status", `[]`) + `,` +
		reqBody("chain_sendTransaction", `["`+fx.txHex+`"]`) + `]`
	status, _, body := postWith(t, http.DefaultClient, fx.url, bearer(fx.read), batch)
	var rs []rpcResponse
	if err := jsonUnmarshal(body, &rs); err != nil || status != 200 || len(rs) != 3 {
		t.Fatalf("batch: %d %s (%v)", status, body, err)
	}
	if errCode(rs[0]) != 0 || errCode(rs[1]) != CodeForbidden || errCode(rs[2]) != CodeForbidden {
		t.Fatalf("batch answers %s", body)
	}
	if status, _, _ := postWith(t, http.DefaultClient, fx.url, "", batch); status != 401 {
		t.Fatalf("unauthenticated batch: HTTP %d", status)
	}
}

// A health check (GET / without a body) and a CORS preflight need no
// token; every other request does.
func TestAuthExemptions(t *testing.T) {
	fx := newAuthFixture(t, AuthToken, func(c *Config) { c.CORSOrigins = []string{"https://app.example"} })
	resp, err := http.Get(fx.url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("health check: %d", resp.StatusCode)
	}
	resp, err = http.Get(fx.url + "/?x=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET with a query: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodOptions, fx.url, nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
}

// With rpc.auth = "jwt", a fresh JWT signed with the secret has
// rpc.jwt_permissions; a stale, future, expired or foreign one, or a
// static token, gets HTTP 401.
func TestJWTAuthHTTP(t *testing.T) {
	fx := newAuthFixture(t, AuthJWT, func(c *Config) { c.JWTPermissions = PermRead })
	now := time.Now()
	other := bytes.Repeat([]byte{7}, JWTSecretBytes)
	for _, tc := range []struct {
		name, token, method string
		status, code        int
		reason, msg         string
	}{
		{"fresh", SignJWT(fx.secret, now, time.Time{}), "chain_blockNumber", 200, 0, "", ""},
		{"with exp", SignJWT(fx.secret, now, now.Add(time.Hour)), "chain_blockNumber", 200, 0, "", ""},
		{"outside permissions", SignJWT(fx.secret, now, time.Time{}), "chain_sendTransaction", 200, CodeForbidden, "",
			"needs the submit permission; the JWT secret has read"},
		{"stale", SignJWT(fx.secret, now.Add(-2*time.Minute), time.Time{}), "chain_blockNumber", 401, CodeUnauthenticated, "expired", "issued too long ago"},
		{"future", SignJWT(fx.secret, now.Add(2*time.Minute), time.Time{}), "chain_blockNumber", 401, CodeUnauthenticated, "expired", "in the future"},
		{"expired", SignJWT(fx.secret, now, now.Add(-time.Second)), "chain_blockNumber", 401, CodeUnauthenticated, "expired", "exp has passed"},
		{"other secret", SignJWT(other, now, time.Time{}), "chain_blockNumber", 401, CodeUnauthenticated, "invalid", "signature does not verify"},
		{"static token", fx.read, "chain_blockNumber", 401, CodeUnauthenticated, "invalid", "not a JWT"},
	} {
		params := `[]`
		if tc.method == "chain_sendTransaction" {
			params = `["` + fx.txHex + `"]`
		}
		status, r, _ := fx.postAs(t, bearer(tc.token), tc.method, params)
		if status != tc.status || errCode(r) != tc.code || tc.msg != "" && !strings.Contains(r.Error.Message, tc.msg) {
			t.Errorf("%s: HTTP %d %+v; want %d, code %d, %q", tc.name, status, r.Error, tc.status, tc.code, tc.msg)
		}
	}
	if got := metricValue(t, fx.m.unauthenticated.WithLabelValues("expired")); got != 3 {
		t.Errorf("unauthenticated{expired} = %v, want 3", got)
	}
}

// With rpc.auth = "token+jwt" either credential works.
func TestTokenOrJWTAuth(t *testing.T) {
	fx := newAuthFixture(t, AuthTokenOrJWT, nil)
	for _, authz := range []string{bearer(fx.read), bearer(SignJWT(fx.secret, time.Now(), time.Time{}))} {
		if status, r, _ := fx.postAs(t, authz, "chain_blockNumber", `[]`); status != 200 || r.Error != nil {
			t.Errorf("%s: %d %+v", authz[:20], status, r.Error)
		}
	}
	if status, _, _ := fx.postAs(t, bearer("bft_unknown"), "chain_blockNumber", `[]`); status != 401 {
		t.Errorf("unknown token: %d", status)
	}
}

// dialWSAuth opens a websocket with an Authorization header.
func dialWSAuth(t *testing.T, url, authz string, dialer *websocket.Dialer) (*wsClient, *http.Response, error) {
	t.Helper()
	if dialer == nil {
		dialer = websocket.DefaultDialer
	}
	h := http.Header{}
	if authz != "" {
		h.Set("Authorization", authz)
	}
	c, resp, err := dialer.Dial(url, h)
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { c.Close() })
	return &wsClient{t: t, c: c}, resp, nil
}

// A websocket is authenticated at the upgrade (HTTP 401 without a token,
// no connection slot taken) and each call on it is checked against the
// token's permissions, subscriptions too.
func TestTokenAuthWebsocket(t *testing.T) {
	fx := newAuthFixture(t, AuthToken, nil)
	ws := wsURL(fx.s)
	_, resp, err := dialWSAuth(t, ws, "", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("upgrade without a token: %v %v", err, resp)
	}
	if _, resp, err = dialWSAuth(t, ws, bearer("bft_wrong"), nil); err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("upgrade with a wrong token: %v %v", err, resp)
	}
	fx.s.mu.Lock()
	slots := fx.s.wsCount
	fx.s.mu.Unlock()
	if slots != 0 {
		t.Fatalf("refused upgrades hold %d websocket slots", slots)
	}
	reader, _, err := dialWSAuth(t, ws, bearer(fx.read), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := reader.request("chain_blockNumber", `[]`); r.Error != nil {
		t.Fatalf("read over websocket: %+v", r.Error)
	}
	if r := reader.request("chain_sendTransaction", `["`+fx.txHex+`"]`); errCode(r) != CodeForbidden {
		t.Fatalf("submit with a read token over websocket: %+v", r)
	}
	sub := reader.subscribe(`["newBlocks"]`)
	fx.f.commit(t)
	if h := reader.nextHeight(sub); h != 2 {
		t.Fatalf("notified height %d", h)
	}
	submitter, _, err := dialWSAuth(t, ws, bearer(fx.submit), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := submitter.request("chain_subscribe", `["newBlocks"]`); errCode(r) != CodeForbidden {
		t.Fatalf("subscribe with a submit token: %+v", r)
	}
	if r := submitter.request("chain_sendTransaction", `["`+fx.txHex+`"]`); r.Error != nil {
		t.Fatalf("submit over websocket: %+v", r.Error)
	}
}

// A websocket authenticated by a JWT with an exp is closed when it
// expires, with status 1008 (policy violation).
func TestWebsocketClosedWhenJWTExpires(t *testing.T) {
	fx := newAuthFixture(t, AuthJWT, nil)
	now := time.Now()
	exp := now.Truncate(time.Second).Add(2 * time.Second)
	c, _, err := dialWSAuth(t, wsURL(fx.s), bearer(SignJWT(fx.secret, now, exp)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.request("chain_blockNumber", `[]`); r.Error != nil {
		t.Fatalf("before exp: %+v", r.Error)
	}
	_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err = c.c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || ce.Text != "token expired" {
		t.Fatalf("read after exp: %v", err)
	}
	if time.Now().Before(exp) {
		t.Fatalf("closed %s before exp", time.Until(exp))
	}
}

// geth's Go client works with every form of authentication, over HTTPS
// and WSS with a private CA: a static token in a header (WithHeader), a
// JWT made per request (WithHTTPAuth), subscriptions included; without a
// credential it gets the 401.
func TestGethClientWithAuthAndTLS(t *testing.T) {
	ca := testca.New(t)
	cert, key := ca.Issue(t, t.TempDir(), 2)
	fx := newAuthFixture(t, AuthTokenOrJWT, func(c *Config) { c.TLSCertFile, c.TLSKeyFile = cert, key })
	addr := fx.s.Addr().String()
	httpClient := ca.Client()
	dialer := websocket.Dialer{TLSClientConfig: ca.TLSConfig(), HandshakeTimeout: 5 * time.Second}
	creds := map[string]gethrpc.ClientOption{
		"token header": gethrpc.WithHeader("Authorization", bearer(fx.all)),
		"jwt auth":     gethrpc.WithHTTPAuth(JWTAuth(fx.secret)),
	}
	for _, url := range []string{"https://" + addr, "wss://" + addr} {
		for name, cred := range creds {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			c, err := gethrpc.DialOptions(ctx, url, gethrpc.WithHTTPClient(httpClient), gethrpc.WithWebsocketDialer(dialer), cred)
			if err != nil {
				t.Fatalf("%s %s: dial: %v", url, name, err)
			}
			var height uint64
			if err := c.CallContext(ctx, &height, "chain_blockNumber"); err != nil || height == 0 {
				t.Fatalf("%s %s: chain_blockNumber = %d, %v", url, name, height, err)
			}
			var hash string
			if err := c.CallContext(ctx, &hash, "chain_sendTransaction", fx.txHex); err != nil && !strings.Contains(err.Error(), "already") {
				t.Fatalf("%s %s: chain_sendTransaction: %v", url, name, err)
			}
			if strings.HasPrefix(url, "wss") {
				ch := make(chan Block, 4)
				sub, err := c.Subscribe(ctx, "chain", ch, "newBlocks")
				if err != nil {
					t.Fatalf("%s %s: subscribe: %v", url, name, err)
				}
				want := fx.f.Height() + 1
				fx.f.commit(t)
				select {
				case b := <-ch:
					if b.Height != want {
						t.Fatalf("%s %s: block %d, want %d", url, name, b.Height, want)
					}
				case err := <-sub.Err():
					t.Fatalf("%s %s: subscription: %v", url, name, err)
				case <-ctx.Done():
					t.Fatalf("%s %s: no block", url, name)
				}
				sub.Unsubscribe()
			}
			c.Close()
			cancel()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := gethrpc.DialOptions(ctx, "https://"+addr, gethrpc.WithHTTPClient(httpClient))
	if err != nil {
		t.Fatal(err)
	}
	var height uint64
	var he gethrpc.HTTPError
	if err := c.CallContext(ctx, &height, "chain_blockNumber"); !errors.As(err, &he) || he.StatusCode != 401 ||
		!strings.Contains(string(he.Body), "-32030") {
		t.Fatalf("https without a credential: %v", err)
	}
	if _, err := gethrpc.DialOptions(ctx, "wss://"+addr, gethrpc.WithWebsocketDialer(dialer)); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wss without a credential: %v", err)
	}
}

// A start on a non-loopback address without authentication, or with
// authentication but without TLS, logs a warning; on loopback it does
// not.
func TestAuthExposureWarnings(t *testing.T) {
	fx := newAuthFixture(t, AuthNone, nil) // for its files
	for _, tc := range []struct {
		listen string
		mode   AuthMode
		want   string
	}{
		{"0.0.0.0:0", AuthNone, `rpc.auth is \"none\" on a non-loopback address`},
		{"0.0.0.0:0", AuthToken, "bearer tokens cross the network in clear text"},
		{"127.0.0.1:0", AuthNone, ""},
		{"localhost:0", AuthNone, ""},
	} {
		var logs bytes.Buffer
		cfg := Config{ListenAddr: tc.listen, Auth: tc.mode}
		if tc.mode == AuthToken {
			cfg.TokenFile = fx.tokenFile
		}
		s, err := New(cfg, newFakeBackend(t), slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		s.Close()
		warned := strings.Contains(logs.String(), "level=WARN")
		if tc.want == "" && warned || tc.want != "" && !strings.Contains(logs.String(), tc.want) {
			t.Errorf("%s %s: log %s", tc.listen, tc.mode, logs.String())
		}
	}
}

// Authentication settings that cannot work are refused at New, naming
// the key, and start nothing.
func TestAuthConfigErrors(t *testing.T) {
	fx := newAuthFixture(t, AuthNone, nil)
	dir := t.TempDir()
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Auth: "tokens"}, `rpc.auth "tokens": want none, token, jwt or token+jwt`},
		{Config{Auth: AuthToken}, `rpc.token_file: required by rpc.auth = "token"`},
		{Config{Auth: AuthJWT}, `rpc.jwt_secret_file: required by rpc.auth = "jwt"`},
		{Config{Auth: AuthTokenOrJWT, TokenFile: fx.tokenFile}, `rpc.jwt_secret_file: required`},
		{Config{TokenFile: fx.tokenFile}, `rpc.token_file is set but rpc.auth = "none" does not use it`},
		{Config{Auth: AuthToken, TokenFile: fx.tokenFile, JWTSecretFile: fx.secretFile}, `rpc.jwt_secret_file is set but rpc.auth = "token"`},
		{Config{Auth: AuthToken, TokenFile: filepath.Join(dir, "none.toml")}, "rpc.token_file: open"},
		{Config{Auth: AuthToken, TokenFile: writeTestFile(t, filepath.Join(dir, "bad.toml"), "[[token]]\nname = \"a\"\n")}, "rpc.token_file: " + dir},
		{Config{Auth: AuthJWT, JWTSecretFile: writeTestFile(t, filepath.Join(dir, "short.hex"), "abcd")}, "rpc.jwt_secret_file: " + dir + "/short.hex: want 64 hex digits"},
		{Config{Auth: AuthJWT, JWTSecretFile: dir}, "not a regular file"},
		{Config{JWTPermissions: 8}, "rpc.jwt_permissions"},
		{Config{JWTIssuedAtWindow: -1}, "rpc.jwt_iat_window must be positive"},
		{Config{IPLimits: RateLimit{RequestsPerSec: -1}}, "rpc.ip_requests_per_sec: -1 is outside"},
		{Config{TokenLimits: RateLimit{TxsBurst: -1}}, "rpc.token_txs_burst: -1 is outside"},
	} {
		tc.cfg.ListenAddr = "127.0.0.1:0"
		if _, err := New(tc.cfg, newFakeBackend(t), nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// The metrics of authentication register cleanly.
func TestAuthMetricsRegister(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics()
	reg.MustRegister(m)
	m.unauthenticated.WithLabelValues("missing").Inc()
	m.forbidden.WithLabelValues("admin").Inc()
	m.rateLimited.WithLabelValues("txs", "ip").Inc()
	got := gathered(t, reg)
	for _, name := range []string{"bafomet_rpc_unauthenticated_total", "bafomet_rpc_forbidden_total", "bafomet_rpc_rate_limited_total"} {
		if got[name] == nil {
			t.Errorf("%s not gathered", name)
		}
	}
}
