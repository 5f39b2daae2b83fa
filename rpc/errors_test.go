package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/bafomet/bafomet/chain"
)

func TestProtocolAndParamErrors(t *testing.T) {
	fx := newChainFixture(t)
	good := hexutil.Encode(signTx(t, testKey(t, 10), 2, "c=3").Bytes())
	highS := signTx(t, testKey(t, 10), 2, "c=3")
	highS.Signature[64] = 7 // V out of range: a malformed signature
	badV := hexutil.Encode(mustEncode(t, highS))
	tests := []struct {
		name, body string
		code       int
		msg        string
	}{
		{"malformed json", `{"jsonrpc":"2.0","id":1,"method":`, CodeParseError, "parse error"},
		{"unknown method", `{"jsonrpc":"2.0","id":1,"method":"chain_nope","params":[]}`, CodeMethodNotFound, "chain_nope"},
		{"unknown namespace", `{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}`, CodeMethodNotFound, "eth_blockNumber"},
		{"too many args", `{"jsonrpc":"2.0","id":1,"method":"chain_blockNumber","params":[1]}`, CodeInvalidParams, "too many arguments"},
		{"missing tx", `{"jsonrpc":"2.0","id":1,"method":"chain_sendTransaction","params":[]}`, CodeInvalidParams, `missing required parameter "txHex"`},
		{"tx not string", `{"jsonrpc":"2.0","id":1,"method":"chain_sendTransaction","params":[5]}`, CodeInvalidParams, `parameter "txHex": want a string, got 5`},
		{"tx no 0x", `{"jsonrpc":"2.0","id":1,"method":"chain_sendTransaction","params":["abcd"]}`, CodeInvalidParams, `parameter "txHex": hex string must start with 0x`},
		{"tx bad hex", `{"jsonrpc":"2.0","id":1,"method":"chain_sendTransaction","params":["0xzz"]}`, CodeInvalidParams, `parameter "txHex": bad hex`},
		{"tx undecodable", `{"jsonrpc":"2.0","id":1,"method":"chain_sendTransaction","params":["0xc0"]}`, CodeInvalidParams, `parameter "txHex": undecodable transaction`},
		{"tx trailing bytes", `{"jsonrpc":"2.0","id":1,"method":"chain_sendTransaction","params":["` + good + `00"]}`, CodeInvalidParams, `parameter "txHex": undecodable transaction`},
		{"tx bad signature form", `{"jsonrpc":"2.0","id":1,"method":"chain_sendTransaction","params":["` + badV + `"]}`, CodeBadSignature, "bad signature"},
		{"hash short", `{"jsonrpc":"2.0","id":1,"method":"chain_getTransaction","params":["0x12"]}`, CodeInvalidParams, `parameter "hash": want 32 bytes, got 1`},
		{"number negative", `{"jsonrpc":"2.0","id":1,"method":"chain_getBlockByNumber","params":[-1, false]}`, CodeInvalidParams, `parameter "number"`},
		{"number word", `{"jsonrpc":"2.0","id":1,"method":"chain_getBlockByNumber","params":["earliest"]}`, CodeInvalidParams, `parameter "number": want a height or "latest"`},
		{"full not bool", `{"jsonrpc":"2.0","id":1,"method":"chain_getBlockByNumber","params":[1, "yes"]}`, CodeInvalidParams, `parameter "fullTransactions": want true or false`},
		{"address short", `{"jsonrpc":"2.0","id":1,"method":"chain_getNonce","params":["0x01"]}`, CodeInvalidParams, `parameter "address": want 20 bytes`},
		{"nonce tag", `{"jsonrpc":"2.0","id":1,"method":"chain_getNonce","params":["0x` + strings.Repeat("00", 20) + `", "soon"]}`, CodeInvalidParams, `parameter "tag"`},
		{"missing key", `{"jsonrpc":"2.0","id":1,"method":"kv_get","params":[]}`, CodeInvalidParams, `missing required parameter "key"`},
		{"subscribe over http", `{"jsonrpc":"2.0","id":1,"method":"chain_subscribe","params":["newBlocks"]}`, CodeMethodNotFound, "notifications not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, body := post(t, fx.url, tc.body)
			var r rpcResponse
			if err := json.Unmarshal([]byte(body), &r); err != nil || r.Error == nil {
				t.Fatalf("got %s, want an error", body)
			}
			if r.Error.Code != tc.code || !strings.Contains(r.Error.Message, tc.msg) {
				t.Fatalf("got %d %q, want code %d and %q", r.Error.Code, r.Error.Message, tc.code, tc.msg)
			}
		})
	}
	// The server still serves after all of that.
	if got := result(t, fx.url, "chain_blockNumber", `[]`); got != float64(2) {
		t.Fatalf("blockNumber after errors = %v", got)
	}
}

func mustEncode(t *testing.T, tx *chain.Tx) []byte {
	t.Helper()
	enc, err := rlpEncode(tx)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func TestSendTransactionErrorCodes(t *testing.T) {
	fx := newChainFixture(t)
	tx := hexutil.Encode(signTx(t, testKey(t, 10), 2, "c=3").Bytes())
	tests := []struct {
		err  error
		code int
	}{
		{ErrBadSignature, -32010},
		{ErrWrongChainID, -32011},
		{ErrTxTooLarge, -32012},
		{ErrNonceTooLow, -32013},
		{ErrNonceTooFarAhead, -32014},
		{ErrRejectedByApp, -32015},
		{ErrAlreadyKnown, -32016},
		{ErrMempoolFull, -32017},
		{ErrNonceTaken, -32018},
		{ErrSenderFull, -32019},
		{ErrMalformedTx, -32602},
		{errors.New("badger: closed"), -32000},
	}
	for _, tc := range tests {
		wrapped := fmt.Errorf("%w: mempool said so", tc.err)
		fx.f.mu.Lock()
		fx.f.sendErr = wrapped
		fx.f.mu.Unlock()
		r := call(t, fx.url, "chain_sendTransaction", `["`+tx+`"]`)
		want := wrapped.Error()
		if tc.code == CodeInternal { // its text is logged, not sent
			want = internalMessage
		}
		if r.Error == nil || r.Error.Code != tc.code || r.Error.Message != want {
			t.Errorf("%v: got %+v, want code %d message %q", tc.err, r.Error, tc.code, want)
		}
	}
}

func TestHTTPLimits(t *testing.T) {
	f := newFakeBackend(t)
	f.commit(t)
	cfg := Config{MaxRequestBytes: 400, MaxBatchLength: 3}
	s := startServer(t, cfg, f)
	url := httpURL(s)
	call1 := `{"jsonrpc":"2.0","id":1,"method":"chain_blockNumber","params":[]}`
	pad := strings.Repeat(" ", 400-len(call1))
	if status, body := post(t, url, call1+pad); status != http.StatusOK || !strings.Contains(body, `"result":1`) {
		t.Fatalf("body at the limit: %d %s", status, body)
	}
	status, body := post(t, url, call1+pad+" ")
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, `"code":-32600`) || !strings.Contains(body, "too large") {
		t.Fatalf("body over the limit: %d %s", status, body)
	}
	// Chunked (no Content-Length) over the limit.
	req, _ := http.NewRequest(http.MethodPost, url, &chunkedReader{data: []byte(call1 + pad + " ")})
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked body over the limit: status %d", resp.StatusCode)
	}
	three := "[" + call1 + "," + call1 + "," + call1 + "]"
	if _, body := post(t, url, three); strings.Count(body, `"result":1`) != 3 {
		t.Fatalf("batch at the limit: %s", body)
	}
	if _, body := post(t, url, "["+call1+","+call1+","+call1+","+call1+"]"); !strings.Contains(body, `"code":-32600`) || !strings.Contains(body, "batch too large") {
		t.Fatalf("batch over the limit: %s", body)
	}
	if _, body := post(t, url, call1); !strings.Contains(body, `"result":1`) {
		t.Fatalf("still serving: %s", body)
	}
}

// chunkedReader hides its length so that the request is sent chunked.
type chunkedReader struct{ data []byte }

func (r *chunkedReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, errEOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestCORS(t *testing.T) {
	s := startServer(t, Config{CORSOrigins: []string{"https://app.example"}}, newFakeBackend(t))
	for _, tc := range []struct {
		origin     string
		status     int
		allowedHdr string
	}{
		{"https://app.example", http.StatusNoContent, "https://app.example"},
		{"https://evil.example", http.StatusForbidden, ""},
	} {
		req, _ := http.NewRequest(http.MethodOptions, httpURL(s), nil)
		req.Header.Set("Origin", tc.origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Access-Control-Allow-Origin") != tc.allowedHdr {
			t.Errorf("preflight from %s: %d %q", tc.origin, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	tests := []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.ListenAddr = "nocolon" }, "rpc.listen_addr"},
		{func(c *Config) { c.MaxBatchLength = -1 }, "rpc.max_batch_length must be positive"},
		{func(c *Config) { c.SubscriberBuffer = -2 }, "rpc.subscriber_buffer must be positive"},
		{func(c *Config) { c.PongTimeout = -1 }, "rpc.pong_timeout must be positive"},
		{func(c *Config) { c.CORSOrigins = []string{""} }, "rpc.cors_origins"},
	}
	for _, tc := range tests {
		c := DefaultConfig()
		tc.mut(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
	if got := (Config{}).WithDefaults(); got.MaxWSConnections != DefaultMaxWSConnections || got.ListenAddr != DefaultListenAddr {
		t.Errorf("WithDefaults = %+v", got)
	}
}

// Storage errors name files; a client is told only that the node failed,
// and the detail goes to the node's log.
func TestInternalErrorsDoNotLeakPaths(t *testing.T) {
	const path = "/var/lib/bafomet/data/blocks/000042.blk"
	f := newFakeBackend(t)
	commitN(t, f, 3)
	f.mu.Lock()
	f.failBlock = 2
	f.failErr = fmt.Errorf("read block 2: open %s: input/output error", path)
	f.sendErr = fmt.Errorf("mempool journal: write %s: no space left on device", path)
	f.mu.Unlock()
	var logs bytes.Buffer
	s, err := New(Config{ListenAddr: "127.0.0.1:0"}, f, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tx := hexutil.Encode(signTx(t, testKey(t, 1), 0, "k=v").Bytes())
	for _, c := range []struct{ method, params string }{
		{"chain_getBlockByNumber", `[2, false]`},
		{"chain_getBlockByNumber", `[2, true]`},
		{"chain_sendTransaction", `["` + tx + `"]`},
	} {
		r := call(t, httpURL(s), c.method, c.params)
		if r.Error == nil || r.Error.Code != CodeInternal {
			t.Fatalf("%s%s: %+v, want an internal error", c.method, c.params, r.Error)
		}
		if strings.Contains(r.Error.Message, "/") || !strings.Contains(r.Error.Message, internalMessage) {
			t.Fatalf("%s%s: message %q names a path or is not the internal message", c.method, c.params, r.Error.Message)
		}
	}
	w := dialWS(t, wsURL(s), nil)
	sub := w.subscribe(`["newBlocks", {"fromHeight": 1}]`)
	w.nextHeight(sub)
	if _, res := w.next(); strings.Contains(string(res), "/") {
		t.Fatalf("subscription end %s names a path", res)
	}
	if !strings.Contains(logs.String(), path) {
		t.Fatalf("the node's log lacks the detail:\n%s", logs.String())
	}
}
