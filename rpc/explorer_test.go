package rpc

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

func get(t *testing.T, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// TestExplorerFiles: with Explorer on, the page and its script and styles
// are served under /explorer/ without credentials even where every
// JSON-RPC call needs a token, with a content security policy that allows
// no inline script; /explorer redirects; nothing but GET and HEAD.
func TestExplorerFiles(t *testing.T) {
	fx := newAuthFixture(t, AuthToken, func(c *Config) { c.Explorer = true })
	resp, body := get(t, fx.url+"/explorer/", nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(body, `<script src="app.js" defer></script>`) {
		t.Fatalf("GET /explorer/: %d %s\n%.200s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("content security policy %q", csp)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatal("no X-Content-Type-Options: nosniff")
	}
	for path, ctype := range map[string]string{"/explorer/app.js": "text/javascript", "/explorer/style.css": "text/css"} {
		if resp, _ := get(t, fx.url+path, nil); resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	if resp, _ := get(t, fx.url+"/explorer", nil); resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/explorer/" {
		t.Fatalf("GET /explorer: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := get(t, fx.url+"/explorer/nope.js", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET a file that is not there: %d", resp.StatusCode)
	}
	if code, _ := post(t, fx.url+"/explorer/", `{"jsonrpc":"2.0","id":1,"method":"chain_status","params":[]}`); code != http.StatusMethodNotAllowed {
		t.Fatalf("POST /explorer/: %d", code)
	}
	if code, _ := post(t, fx.url, `{"jsonrpc":"2.0","id":1,"method":"chain_status","params":[]}`); code != http.StatusUnauthorized {
		t.Fatalf("chain_status without a token beside the explorer: %d", code)
	}
}

func TestExplorerOffByDefault(t *testing.T) {
	s := startServer(t, Config{}, newFakeBackend(t))
	if resp, body := get(t, httpURL(s)+"/explorer/", nil); resp.StatusCode == http.StatusOK && strings.Contains(body, "<html") {
		t.Fatalf("explorer served while off: %d", resp.StatusCode)
	}
}

// TestExplorerWebsocketOrigin: the explorer's page may open a websocket to
// the server it came from when it was reached by IP address or localhost;
// another origin, or a DNS name (which a foreign page could rebind), needs
// rpc.cors_origins, and without the explorer nothing changes.
func TestExplorerWebsocketOrigin(t *testing.T) {
	on := startServer(t, Config{Explorer: true}, newFakeBackend(t))
	off := startServer(t, Config{}, newFakeBackend(t))
	dial := func(s *Server, origin, host string) int {
		t.Helper()
		h := http.Header{"Origin": {origin}}
		if host != "" {
			h.Set("Host", host)
		}
		d := *websocket.DefaultDialer
		c, resp, err := d.Dial(wsURL(s), h)
		if err == nil {
			c.Close()
			return http.StatusSwitchingProtocols
		}
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		return resp.StatusCode
	}
	addr := func(s *Server) string { return s.Addr().String() }
	port := addr(on)[strings.LastIndex(addr(on), ":"):]
	for _, tc := range []struct {
		name         string
		s            *Server
		origin, host string
		want         int
	}{
		{"same origin by IP", on, "http://" + addr(on), "", http.StatusSwitchingProtocols},
		{"same origin by localhost", on, "http://localhost" + port, "localhost" + port, http.StatusSwitchingProtocols},
		{"same origin, explorer off", off, "http://" + addr(off), "", http.StatusForbidden},
		{"another origin", on, "http://evil.example", "", http.StatusForbidden},
		{"a DNS name rebound to the node", on, "http://evil.example" + port, "evil.example" + port, http.StatusForbidden},
		{"another port", on, "http://127.0.0.1:1", "", http.StatusForbidden},
	} {
		if got := dial(tc.s, tc.origin, tc.host); got != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.name, got, tc.want)
		}
	}
}
