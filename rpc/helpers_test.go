package rpc

import (
	"encoding/json"
	"github.com/ethereum/go-ethereum/rlp"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
)

// startServer starts a server on a free port over backend b and closes it
// when the test ends.
func startServer(t testing.TB, cfg Config, b Backend) *Server {
	t.Helper()
	cfg.ListenAddr = "127.0.0.1:0"
	s, err := New(cfg, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func httpURL(s *Server) string { return "http://" + s.Addr().String() }
func wsURL(s *Server) string   { return "ws://" + s.Addr().String() }

// post sends body as a JSON-RPC POST and returns the status and body.
func post(t testing.TB, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(out)
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type rpcResponse struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *rpcError       `json:"error"`
}

// call makes one raw JSON-RPC call over HTTP; params is the JSON array.
func call(t testing.TB, url, method, params string) rpcResponse {
	t.Helper()
	_, body := post(t, url, `{"jsonrpc":"2.0","id":1,"method":"`+method+`","params":`+params+`}`)
	var r rpcResponse
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("%s: bad response %q: %v", method, body, err)
	}
	return r
}

// result makes a call that must succeed and decodes its result.
func result(t testing.TB, url, method, params string) any {
	t.Helper()
	r := call(t, url, method, params)
	if r.Error != nil {
		t.Fatalf("%s%s: error %d %s", method, params, r.Error.Code, r.Error.Message)
	}
	var v any
	if err := json.Unmarshal(r.Result, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// keys returns an object's keys, sorted, joined by commas.
func keys(t testing.TB, v any) string {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("want an object, got %T %v", v, v)
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

func sortedKeys(list string) string {
	ks := strings.Split(list, ",")
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

var errEOF = io.EOF

func rlpEncode(v any) ([]byte, error) { return rlp.EncodeToBytes(v) }
