package rpc

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/gorilla/websocket"
)

// slowRate refills one call in 1,000 seconds: within a test only the
// burst passes, so the tests at the limit need no clock.
const slowRate = 0.001

// clientFrom is an HTTP client whose connections come from src.
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 10 * time.Second}
}

func wsDialerFrom(src string) *websocket.Dialer {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &websocket.Dialer{NetDialContext: d.DialContext, HandshakeTimeout: 5 * time.Second}
}

// callFrom makes one call from src with an optional Authorization header.
func callFrom(t *testing.T, src, url, authz, method, params string) rpcResponse {
	t.Helper()
	status, _, body := postWith(t, clientFrom(src), url, authz, reqBody(method, params))
	var r rpcResponse
	if err := jsonUnmarshal(body, &r); err != nil || status != http.StatusOK {
		t.Fatalf("%s from %s: HTTP %d %q (%v)", method, src, status, body, err)
	}
	return r
}

// rpc.ip_requests_per_sec: an address gets its burst of calls and then
// -32032, each call of a batch counted; another address is not affected.
func TestIPRequestLimitAtTheLimit(t *testing.T) {
	m := NewMetrics()
	f := newFakeBackend(t)
	f.commit(t)
	s := startServer(t, Config{IPLimits: RateLimit{RequestsPerSec: slowRate, RequestsBurst: 5}, Metrics: m}, f)
	url := httpURL(s)
	for i := range 5 {
		if r := callFrom(t, "127.0.0.2", url, "", "chain_blockNumber", `[]`); r.Error != nil {
			t.Fatalf("call %d within the burst: %+v", i+1, r.Error)
		}
	}
	r := callFrom(t, "127.0.0.2", url, "", "chain_blockNumber", `[]`)
	if errCode(r) != CodeRateLimited || !strings.Contains(r.Error.Message, "rate limited: address 127.0.0.2 is over 0.001 requests/s (burst 5); retry in ") {
		t.Fatalf("call past the burst: %+v", r)
	}
	if r := callFrom(t, "127.0.0.3", url, "", "chain_blockNumber", `[]`); r.Error != nil {
		t.Fatalf("another address: %+v", r.Error)
	}
	batch := "[" + strings.TrimSuffix(strings.Repeat(reqBody("chain_blockNumber", `[]`)+",", 7), ",") + "]"
	_, _, body := postWith(t, clientFrom("127.0.0.4"), url, "", batch)
	if n := strings.Count(body, `"result":1`); n != 5 || strings.Count(body, fmt.Sprint(CodeRateLimited)) != 2 {
		t.Fatalf("batch of 7 with a burst of 5: %s", body)
	}
	if got := metricValue(t, m.rateLimited.WithLabelValues("requests", "ip")); got != 3 {
		t.Fatalf("rate_limited{requests,ip} = %v, want 3", got)
	}
	if got := metricValue(t, m.requests.WithLabelValues("chain_blockNumber", "-32032")); got != 3 {
		t.Fatalf("requests{chain_blockNumber,-32032} = %v, want 3", got)
	}
}

// rpc.ip_txs_per_sec: chain_sendTransaction has its own bucket; a refused
// transaction does not reach the mempool, and queries go on.
func TestIPTxLimitAtTheLimit(t *testing.T) {
	m := NewMetrics()
	f := newFakeBackend(t)
	s := startServer(t, Config{IPLimits: RateLimit{TxsPerSec: slowRate, TxsBurst: 2}, Metrics: m}, f)
	url := httpURL(s)
	key := testKey(t, 10)
	for n := range 3 {
		tx := hexutil.Encode(signTx(t, key, uint64(n), "a=1").Bytes())
		r := callFrom(t, "127.0.0.2", url, "", "chain_sendTransaction", `["`+tx+`"]`)
		if n < 2 && r.Error != nil {
			t.Fatalf("transaction %d within the burst: %+v", n, r.Error)
		}
		if n == 2 && (errCode(r) != CodeRateLimited || !strings.Contains(r.Error.Message, "over 0.001 transactions/s (burst 2)")) {
			t.Fatalf("transaction past the burst: %+v", r)
		}
	}
	if r := callFrom(t, "127.0.0.2", url, "", "chain_blockNumber", `[]`); r.Error != nil {
		t.Fatalf("a query after the transaction limit: %+v", r.Error)
	}
	f.mu.Lock()
	sent := len(f.sent)
	f.mu.Unlock()
	if sent != 2 || metricValue(t, m.rateLimited.WithLabelValues("txs", "ip")) != 1 {
		t.Fatalf("%d transactions reached the backend, want 2", sent)
	}
}

// writeTokens writes a token file of name → extra TOML lines and returns
// its path and each name's token (permissions: all).
func writeTokens(t *testing.T, entries map[string]string) (string, map[string]string) {
	t.Helper()
	toks := make(map[string]string)
	var b strings.Builder
	for name, extra := range entries {
		tok, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		toks[name] = tok
		e, err := TokenEntry(name, tok, permAll)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(e + extra)
	}
	return writeTestFile(t, filepath.Join(t.TempDir(), "tokens.toml"), b.String()), toks
}

// rpc.token_requests_per_sec applies to each token on its own, unless the
// token file gives the token its own value; all JWT holders share one
// bucket.
func TestTokenRequestLimitAtTheLimit(t *testing.T) {
	m := NewMetrics()
	path, toks := writeTokens(t, map[string]string{"app": "", "indexer": "requests_burst = 4\n", "free": "requests_per_sec = 0.0\n"})
	secret := jwtTestSecret()
	secretFile := writeTestFile(t, filepath.Join(t.TempDir(), "jwt.hex"), fmt.Sprintf("%x", secret))
	s := startServer(t, Config{Auth: AuthTokenOrJWT, TokenFile: path, JWTSecretFile: secretFile, Metrics: m,
		TokenLimits: RateLimit{RequestsPerSec: slowRate, RequestsBurst: 2}}, newFakeBackend(t))
	url := httpURL(s)
	for _, tc := range []struct {
		name   string
		authz  func() string
		passes int
	}{
		{"app", func() string { return bearer(toks["app"]) }, 2},
		{"indexer", func() string { return bearer(toks["indexer"]) }, 4},
		{"the JWT secret's holders", func() string { return bearer(SignJWT(secret, time.Now(), time.Time{})) }, 2},
	} {
		for i := range tc.passes + 1 {
			r := callFrom(t, "127.0.0.2", url, tc.authz(), "chain_blockNumber", `[]`)
			if i < tc.passes && r.Error != nil {
				t.Fatalf("%s: call %d within the burst: %+v", tc.name, i+1, r.Error)
			}
			if i == tc.passes && (errCode(r) != CodeRateLimited || !strings.Contains(r.Error.Message, tc.name)) {
				t.Fatalf("%s: call past the burst: %+v", tc.name, r)
			}
		}
	}
	for range 10 {
		if r := callFrom(t, "127.0.0.2", url, bearer(toks["free"]), "chain_blockNumber", `[]`); r.Error != nil {
			t.Fatalf("a token without a limit: %+v", r.Error)
		}
	}
	if got := metricValue(t, m.rateLimited.WithLabelValues("requests", "token")); got != 3 {
		t.Fatalf("rate_limited{requests,token} = %v, want 3", got)
	}
}

// A call refused by one limit takes nothing from the others. A token's
// bucket is checked before its address's: token "a" (burst 1) is refused
// its second call, and the address, whose bucket of 3 that refusal did
// not touch, still has 2 calls for token "b". When the address refuses a
// call of token "c" (burst 2), c gets back the call its bucket had
// reserved, and still makes 2 calls from other addresses.
func TestRefusedCallTakesNothing(t *testing.T) {
	path, toks := writeTokens(t, map[string]string{
		"a": "requests_per_sec = 0.001\nrequests_burst = 1\n", "b": "", "c": "requests_per_sec = 0.001\nrequests_burst = 2\n",
	})
	s := startServer(t, Config{Auth: AuthToken, TokenFile: path, IPLimits: RateLimit{RequestsPerSec: slowRate, RequestsBurst: 3}}, newFakeBackend(t))
	url := httpURL(s)
	for i, w := range []struct {
		src, tok string
		code     int
	}{
		{"127.0.0.2", "a", 0}, {"127.0.0.2", "a", CodeRateLimited}, {"127.0.0.2", "b", 0}, {"127.0.0.2", "b", 0},
		{"127.0.0.2", "b", CodeRateLimited}, // the address's 3 calls: a, b, b
		{"127.0.0.2", "c", CodeRateLimited}, // refused by the address after c's bucket was reserved: c keeps both calls
		{"127.0.0.3", "c", 0}, {"127.0.0.4", "c", 0}, {"127.0.0.5", "c", CodeRateLimited},
	} {
		if r := callFrom(t, w.src, url, bearer(toks[w.tok]), "chain_blockNumber", `[]`); errCode(r) != w.code {
			t.Fatalf("call %d (token %s from %s): %+v, want code %d", i+1, w.tok, w.src, r.Error, w.code)
		}
	}
}

// rpc.ip_max_subscriptions and the tokens' max_subscriptions count live
// subscriptions over all of a client's connections; ending one frees its
// place.
func TestSubscriptionLimitsAtTheLimit(t *testing.T) {
	m := NewMetrics()
	path, toks := writeTokens(t, map[string]string{"app": "max_subscriptions = 1\n", "other": ""})
	s := startServer(t, Config{Auth: AuthToken, TokenFile: path, IPLimits: RateLimit{MaxSubscriptions: 2}, Metrics: m}, newFakeBackend(t))
	ws := wsURL(s)
	dial := func(src, tok string) *wsClient {
		c, _, err := dialWSAuth(t, ws, bearer(toks[tok]), wsDialerFrom(src))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a1, a2 := dial("127.0.0.2", "app"), dial("127.0.0.2", "app")
	sub := a1.subscribe(`["newBlocks"]`)
	if r := a2.request("chain_subscribe", `["newBlocks"]`); errCode(r) != CodeRateLimited ||
		!strings.Contains(r.Error.Message, `token "app" holds its limit of 1 live subscriptions`) {
		t.Fatalf("token past its subscriptions: %+v", r)
	}
	o1, o2 := dial("127.0.0.2", "other"), dial("127.0.0.2", "other")
	o1.subscribe(`["transactions"]`)
	if r := o2.request("chain_subscribe", `["newBlocks"]`); errCode(r) != CodeRateLimited ||
		!strings.Contains(r.Error.Message, "address 127.0.0.2 holds its limit of 2 live subscriptions") {
		t.Fatalf("address past its subscriptions: %+v", r)
	}
	dial("127.0.0.3", "other").subscribe(`["newBlocks"]`) // another address
	if r := a1.request("chain_unsubscribe", `["`+sub+`"]`); r.Error != nil {
		t.Fatal(r.Error)
	}
	waitFor(t, "the subscription's place to be freed", func() bool {
		return a2.request("chain_subscribe", `["newBlocks"]`).Error == nil
	})
	o1.c.Close()
	waitFor(t, "a closed connection's subscription to be freed", func() bool {
		return o2.request("chain_subscribe", `["newBlocks"]`).Error == nil
	})
	if got := metricValue(t, m.rateLimited.WithLabelValues("subscriptions", "token")); got != 1 {
		t.Fatalf("rate_limited{subscriptions,token} = %v, want 1", got)
	}
	if got := metricValue(t, m.rateLimited.WithLabelValues("subscriptions", "ip")); got < 1 {
		t.Fatalf("rate_limited{subscriptions,ip} = %v", got)
	}
}

// A burst of 0 is one second's worth of the rate, at least 1; the bucket
// refills at the rate; the refusal says when the call would pass.
func TestBucketBurstAndRefill(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		rate  float64
		burst int
		want  int
	}{{3, 0, 3}, {2.5, 0, 3}, {0.001, 0, 1}, {3, 10, 10}} {
		b := newBuckets(RateLimit{RequestsPerSec: tc.rate, RequestsBurst: tc.burst}, "ip", "address x")
		n := 0
		for takeCall(t0, false, b) == nil {
			n++
		}
		if n != tc.want {
			t.Errorf("rate %g burst %d: %d calls at once, want %d", tc.rate, tc.burst, n, tc.want)
		}
	}
	b := newBuckets(RateLimit{RequestsPerSec: 2}, "ip", "address x")
	takeCall(t0, false, b)
	takeCall(t0, false, b)
	r := takeCall(t0, false, b)
	if r == nil || r.retry != 500*time.Millisecond || !strings.Contains(r.error().Message, "retry in 500ms") {
		t.Fatalf("refusal: %+v", r)
	}
	if takeCall(t0.Add(499*time.Millisecond), false, b) == nil {
		t.Fatal("a call passed before the bucket refilled")
	}
	if takeCall(t0.Add(500*time.Millisecond), false, b) != nil {
		t.Fatal("a call refused after the bucket refilled")
	}
}

// An address's buckets are dropped once they are full again (as a new
// address's would be), but not while it holds a subscription.
func TestIPLimitsForgetIdleAddresses(t *testing.T) {
	l := newIPLimits(RateLimit{RequestsPerSec: 1, MaxSubscriptions: 5})
	t0 := time.Unix(1_700_000_000, 0)
	l.swept = t0
	takeCall(t0, false, l.get("10.0.0.1", t0))
	subHolder, ok := l.takeSub("10.0.0.2", t0)
	if !ok || l.size() != 2 {
		t.Fatalf("size %d", l.size())
	}
	l.get("10.0.0.3", t0.Add(ipSweepEvery)) // sweeps: 10.0.0.1 has refilled
	if l.size() != 2 || l.byIP["10.0.0.1"] != nil || l.byIP["10.0.0.2"] == nil {
		t.Fatalf("after a sweep: %v", l.byIP)
	}
	subHolder.releaseSub()
	l.get("10.0.0.3", t0.Add(2*ipSweepEvery))
	if l.size() != 1 {
		t.Fatalf("after the subscription ended: %v", l.byIP)
	}
	if newIPLimits(RateLimit{}).get("10.0.0.1", t0) != nil {
		t.Fatal("buckets made with no limit configured")
	}
}
