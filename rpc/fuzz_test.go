package rpc

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzMethods are the HTTP methods FuzzParams calls, every method the API
// serves over plain HTTP.
var fuzzMethods = []string{
	"chain_sendTransaction", "chain_getTransaction", "chain_blockNumber",
	"chain_getBlockByNumber", "chain_getBlockByHash", "chain_getCertificate", "chain_verifyCertificate",
	"chain_getNonce", "chain_status", "chain_validators", "chain_evidence",
	"kv_get", "bank_getBalance", "mempool_status",
}

// serveFuzz posts body to s in-process and checks the answer is one JSON
// object (or, for a batch, an array of them) that carries a result or an
// error with a code. It returns the decoded single response, if any.
func serveFuzz(t *testing.T, s *Server, body []byte) *rpcResponse {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	out := bytes.TrimSpace(w.Body.Bytes())
	if len(out) == 0 && w.Code == http.StatusOK && onlyNotifications(body) {
		return nil // notifications get no answer
	}
	if len(out) == 0 {
		t.Fatalf("HTTP %d with an empty answer to %q", w.Code, body)
	}
	if w.Code != http.StatusOK {
		if len(out) > 0 && !json.Valid(out) && !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
			t.Fatalf("HTTP %d with a body that is not JSON: %q", w.Code, out)
		}
		return nil
	}
	if len(out) > 0 && out[0] == '[' {
		var rs []rpcResponse
		if err := json.Unmarshal(out, &rs); err != nil {
			t.Fatalf("batch answer is not JSON: %v: %q", err, out)
		}
		return nil
	}
	var r rpcResponse
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("answer is not one JSON object: %v: %q", err, out)
	}
	if r.Error == nil && r.Result == nil {
		t.Fatalf("answer has neither result nor error: %q", out)
	}
	if r.Error != nil && r.Error.Code == 0 {
		t.Fatalf("error without a code: %q", out)
	}
	return &r
}

// onlyNotifications reports whether body is a JSON-RPC notification (a
// request without an id) or a batch of them, which get no answer.
func onlyNotifications(body []byte) bool {
	var one map[string]json.RawMessage
	if json.Unmarshal(body, &one) == nil && one != nil {
		_, hasID := one["id"]
		return !hasID
	}
	var batch []map[string]json.RawMessage
	if json.Unmarshal(body, &batch) != nil || len(batch) == 0 {
		return false
	}
	for _, m := range batch {
		if _, hasID := m["id"]; hasID || m == nil {
			return false
		}
	}
	return true
}

// FuzzParams sends arbitrary JSON-RPC parameters to every method through
// the real server: each call is answered with a result or an error code,
// nothing panics, and only a successful chain_sendTransaction submits.
func FuzzParams(f *testing.F) {
	for _, p := range []string{
		`[]`, `[""]`, `["0x"]`, `["0xzz"]`, `["latest", true]`, `["0x1", false]`, `[1]`, `[-1]`,
		`["0x` + strings.Repeat("ab", 32) + `"]`, `["0x` + strings.Repeat("ab", 20) + `", "pending"]`,
		`[null]`, `{}`, `[[]]`, `[{"a":1}]`, `["18446744073709551616"]`, `[1e400]`, `"x"`,
	} {
		for i := range fuzzMethods {
			f.Add(uint8(i), []byte(p))
		}
	}
	fb := newFakeBackend(f)
	fb.commit(f, signTx(f, fb.keys[0], 0, "a=1"))
	s, err := New(DefaultConfig(), fb, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method uint8, params []byte) {
		name := fuzzMethods[int(method)%len(fuzzMethods)]
		fb.mu.Lock()
		sentBefore := len(fb.sent)
		fb.mu.Unlock()
		body := append([]byte(`{"jsonrpc":"2.0","id":7,"method":"`+name+`","params":`), params...)
		body = append(body, '}')
		r := serveFuzz(t, s, body)
		fb.mu.Lock()
		sent := len(fb.sent) - sentBefore
		fb.mu.Unlock()
		submitted := r != nil && r.Error == nil && name == "chain_sendTransaction"
		if sent != 0 && !submitted {
			t.Fatalf("%s with params %q submitted %d transactions without succeeding", name, params, sent)
		}
		if submitted && sent != 1 {
			t.Fatalf("successful chain_sendTransaction submitted %d transactions", sent)
		}
	})
}

// FuzzRequestBody posts arbitrary bytes as a whole JSON-RPC request body:
// single calls, batches and garbage all get a well-formed answer.
func FuzzRequestBody(f *testing.F) {
	for _, b := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"chain_blockNumber","params":[]}`,
		`[{"jsonrpc":"2.0","id":1,"method":"chain_status"},{"jsonrpc":"2.0","id":2,"method":"nope"}]`,
		`{"jsonrpc":"2.0","id":1,"method":"chain_getBlockByNumber","params":["0x1",true]}`,
		`{"jsonrpc":"2.0","method":"chain_status"}`, `[]`, `{`, ``, `null`, `"x"`, `{"id":{}}`,
	} {
		f.Add([]byte(b))
	}
	fb := newFakeBackend(f)
	fb.commit(f, signTx(f, fb.keys[0], 0, "a=1"))
	s, err := New(DefaultConfig(), fb, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		serveFuzz(t, s, body)
	})
}

// FuzzWebsocketFrames feeds arbitrary client frames and server messages to
// the parsers the websocket transport applies to them: counting a frame as
// a request geth will answer, and replacing an oversized answer with an
// error. Neither panics; a counted frame is JSON; a replacement is one
// JSON error object (in an array for a batch) whose id is a JSON value.
func FuzzWebsocketFrames(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"chain_blockNumber"}`, `{"jsonrpc":"2.0","method":"x"}`,
		`[{"jsonrpc":"2.0","id":"a","method":"m"},{"jsonrpc":"2.0","method":"n"}]`, `[]`, `null`, `[null]`,
		`{"jsonrpc":"2.0","id":{"a":1},"method":"m"}`, `{"jsonrpc":"2.0","id":1,"result":"0x1"}`,
		`{"jsonrpc":"2.0","id":"x,\"y","result":1}`, `[{"jsonrpc":"2.0","id":7,"error":{"code":1}}]`,
		`{"jsonrpc":"2.0","method":"chain_subscription","params":{"subscription":"0xab","result":{}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if expectsAnswer(data, 3) && !json.Valid(data) {
			t.Fatalf("counted a frame that is not JSON: %q", data)
		}
		_, _ = notificationID(data)
		out := responseError(data, &Error{Code: codeResponseTooLarge, Message: "response too large"})
		if !json.Valid(out) {
			t.Fatalf("replacement for %q is not JSON: %q", data, out)
		}
		var one struct {
			ID json.RawMessage `json:"id"`
		}
		var batch []json.RawMessage
		if json.Unmarshal(out, &batch) == nil {
			if len(batch) != 1 || json.Unmarshal(batch[0], &one) != nil {
				t.Fatalf("batch replacement %q", out)
			}
		} else if json.Unmarshal(out, &one) != nil {
			t.Fatalf("replacement %q is not an object", out)
		}
		if !json.Valid(one.ID) {
			t.Fatalf("replacement id %q is not JSON", one.ID)
		}
	})
}
