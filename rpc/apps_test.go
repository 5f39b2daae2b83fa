package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/examples/counter"
)

// queryApp is an application with nothing but the query methods it is
// given.
type queryApp struct {
	name    string
	methods []chain.QueryMethod
}

func (a *queryApp) Name() string                                             { return a.name }
func (a *queryApp) InitState(json.RawMessage, chain.StateWriter) error       { return nil }
func (a *queryApp) CheckTx(chain.TxContext, []byte, chain.StateReader) error { return nil }
func (a *queryApp) ExecuteTx(chain.TxContext, []byte, chain.StateWriter) chain.Receipt {
	return chain.Receipt{}
}
func (a *queryApp) Query(chain.StateReader, string, []byte) ([]byte, error) {
	return nil, chain.ErrUnknownQuery
}
func (a *queryApp) QueryMethods() []chain.QueryMethod { return a.methods }

// blobApp serves blob_fill(n, byte?): a string of n copies of byte ("x"
// when absent), and blob_fail: an internal failure naming a file.
func blobApp() *queryApp {
	return &queryApp{name: "blob", methods: []chain.QueryMethod{
		{
			Name:   "fill",
			Params: []chain.QueryParam{{Name: "n", Decode: chain.ParamUint64}, {Name: "byte", Optional: true, Decode: chain.ParamString}},
			Run: func(_ chain.StateReader, args []any) (any, error) {
				n, b := args[0].(uint64), "x"
				if args[1] != nil {
					b = args[1].(string)
				}
				if len(b) != 1 {
					return nil, chain.InvalidParam("byte", errors.New("want one character"))
				}
				return strings.Repeat(b, int(n)), nil
			},
		},
		{
			Name: "fail",
			Run: func(chain.StateReader, []any) (any, error) {
				return nil, errors.New("open /secret/state: disk on fire")
			},
		},
	}}
}

// counterChain is a fake backend running the counter application, with
// addr's counter at 5 after two committed blocks.
func counterChain(t *testing.T) (*fakeBackend, chain.Address) {
	t.Helper()
	f := newFakeBackend(t)
	f.commit(t)
	f.commit(t)
	addr := f.vals[1].Validator.Address
	st := chain.NewMemState()
	if r := counter.New().ExecuteTx(chain.TxContext{Sender: addr}, []byte("inc 5"), st); !r.OK() {
		t.Fatalf("inc 5: %+v", r)
	}
	f.app, f.state, f.extraApps = counter.Name, st, []chain.Application{counter.New()}
	return f, addr
}

// An application's query method is served in its namespace over HTTP,
// in a batch and over websocket, with its result as the application
// returns it.
func TestCustomAppQueryMethod(t *testing.T) {
	f, addr := counterChain(t)
	s := startServer(t, Config{}, f)
	want := fmt.Sprintf(`{"account":%q,"value":5,"height":2}`, strings.ToLower(addr.Hex()))
	if got := string(call(t, httpURL(s), "counter_value", `["`+addr.Hex()+`"]`).Result); got != want {
		t.Fatalf("counter_value = %s, want %s", got, want)
	}
	other := f.vals[2].Validator.Address
	batch := `[` + reqBody("counter_value", `["`+addr.Hex()+`"]`) + `,` + reqBody("chain_blockNumber", `[]`) + `,` +
		reqBody("counter_value", `["`+other.Hex()+`"]`) + `]`
	_, body := post(t, httpURL(s), batch)
	if !strings.Contains(body, want) || !strings.Contains(body, `"result":2`) || !strings.Contains(body, `"value":0`) {
		t.Fatalf("batch = %s", body)
	}
	ws := dialWS(t, wsURL(s), nil)
	if r := ws.request("counter_value", `["`+addr.Hex()+`"]`); r.Error != nil || string(r.Result) != want {
		t.Fatalf("counter_value over websocket = %s %+v", r.Result, r.Error)
	}
}

// A method the server does not serve is an unknown method (-32601): one
// of an application no registered application provides, an unknown
// method of a served application, and the internal dispatcher called by
// name. A method of a registered application the chain does not run is
// -32022.
func TestAppMethodNotServed(t *testing.T) {
	f := newFakeBackend(t) // a kv chain; kv and bank registered
	s := startServer(t, Config{}, f)
	for _, m := range []string{"counter_value", "kv_put", "bafomet_appQuery", "bafomet_other"} {
		r := call(t, httpURL(s), m, `["0x00"]`)
		if r.Error == nil || r.Error.Code != CodeMethodNotFound || r.Error.Message != "the method "+m+" does not exist/is not available" {
			t.Errorf("%s = %s %+v, want method not found", m, r.Result, r.Error)
		}
	}
	f2, addr := counterChain(t)
	f2.app = "kv"
	s2 := startServer(t, Config{}, f2)
	r := call(t, httpURL(s2), "counter_value", `["`+addr.Hex()+`"]`)
	if r.Error == nil || r.Error.Code != CodeAppNotServed {
		t.Fatalf("counter_value on a kv chain registering counter = %s %+v, want %d", r.Result, r.Error, CodeAppNotServed)
	}
}

// Bad arguments get -32602 naming the parameter, before the state is
// read, as does an argument the method refuses; a failure of the application is an internal error whose text is
// not sent.
func TestAppQueryBadParams(t *testing.T) {
	f, addr := counterChain(t)
	f.extraApps = append(f.extraApps, blobApp())
	s := startServer(t, Config{}, f)
	for _, tc := range []struct{ method, params, msg string }{
		{"counter_value", `[]`, `invalid params: missing required parameter "account"`},
		{"counter_value", `null`, `invalid params: missing required parameter "account"`},
		{"counter_value", `[null]`, `invalid params: missing required parameter "account"`},
		{"counter_value", `["0x12"]`, `invalid params: parameter "account": want 20 bytes, got 1`},
		{"counter_value", `["12"]`, `invalid params: parameter "account": hex string must start with 0x`},
		{"counter_value", `[7]`, `invalid params: parameter "account": want a string, got 7`},
		{"counter_value", `["` + addr.Hex() + `", 1]`, `too many arguments, want at most 1`},
		{"counter_value", `{"account":"` + addr.Hex() + `"}`, `non-array args`},
		{"blob_fill", `[-1]`, `invalid params: parameter "n": want a non-negative integer, got -1`},
	} {
		r := call(t, httpURL(s), tc.method, tc.params)
		if r.Error == nil || r.Error.Code != CodeInvalidParams || r.Error.Message != tc.msg {
			t.Errorf("%s%s = %s %+v, want %q", tc.method, tc.params, r.Result, r.Error, tc.msg)
		}
	}
	// blob is registered but the chain runs counter: arguments are checked first.
	if r := call(t, httpURL(s), "blob_fill", `[3]`); r.Error == nil || r.Error.Code != CodeAppNotServed {
		t.Fatalf("blob_fill on a counter chain = %s %+v", r.Result, r.Error)
	}
	f.app = "blob"
	if got := string(call(t, httpURL(s), "blob_fill", `[3, "y"]`).Result); got != `"yyy"` {
		t.Fatalf("blob_fill = %s", got)
	}
	r := call(t, httpURL(s), "blob_fill", `[1, "xy"]`)
	if r.Error == nil || r.Error.Code != CodeInvalidParams || r.Error.Message != `invalid params: parameter "byte": want one character` {
		t.Fatalf("blob_fill refusing its argument = %+v", r.Error)
	}
	r = call(t, httpURL(s), "blob_fail", `[]`)
	if r.Error == nil || r.Error.Code != CodeInternal || strings.Contains(r.Error.Message, "secret") {
		t.Fatalf("blob_fail = %+v, want an internal error hiding its cause", r.Error)
	}
}

// Application query methods need the read permission, take from the rate
// limits, are counted in the metrics under their own names and are bound
// by the response size limit, exactly as kv_get.
func TestAppQueryLimits(t *testing.T) {
	fx := newAuthFixture(t, AuthToken, func(c *Config) {
		c.MaxResponseBytes = 1 << 10
		c.IPLimits = RateLimit{RequestsPerSec: slowRate, RequestsBurst: 4}
	})
	// newAuthFixture started the server over a kv chain without blob;
	// start another one over the same configuration with blob.
	fx.f.extraApps, fx.f.app = []chain.Application{blobApp()}, "blob"
	cfg := fx.s.cfg
	cfg.Metrics = NewMetrics()
	s := startServer(t, cfg, fx.f)
	url := httpURL(s)
	for _, tc := range []struct {
		name, authz string
		code        int
	}{
		{"read", bearer(fx.read), 0},
		{"submit only", bearer(fx.submit), CodeForbidden},
		{"admin only", bearer(fx.admin), CodeForbidden},
		{"no token", "", CodeUnauthenticated},
	} {
		_, _, body := postWith(t, clientFrom("127.0.0.5"), url, tc.authz, reqBody("blob_fill", `[2]`))
		var r rpcResponse
		if err := jsonUnmarshal(body, &r); err != nil || errCode(r) != tc.code {
			t.Errorf("%s: %s, want code %d", tc.name, body, tc.code)
		}
		if tc.code == CodeForbidden && !strings.Contains(r.Error.Message, "blob_fill needs the read permission") {
			t.Errorf("%s: %s", tc.name, r.Error.Message)
		}
	}
	r := callFrom(t, "127.0.0.6", url, bearer(fx.read), "blob_fill", `[2000]`)
	if errCode(r) != codeResponseTooLarge {
		t.Fatalf("a 2000-byte answer over a 1 KiB limit: %+v", r.Error)
	}
	for range 3 {
		callFrom(t, "127.0.0.6", url, bearer(fx.read), "blob_fill", `[1]`)
	}
	if r := callFrom(t, "127.0.0.6", url, bearer(fx.read), "blob_fill", `[1]`); errCode(r) != CodeRateLimited {
		t.Fatalf("call past the burst: %+v", r)
	}
	m := cfg.Metrics
	for code, want := range map[string]float64{"0": 5, "-32031": 2, "-32032": 1} {
		if got := metricValue(t, m.requests.WithLabelValues("blob_fill", code)); got != want {
			t.Errorf("requests{blob_fill,%s} = %v, want %v", code, got, want)
		}
	}
}

// New refuses an application with methods whose name cannot be a
// namespace, two applications of one name, and invalid method
// declarations; an application without methods may have any name.
func TestNewRefusesBadAppMethods(t *testing.T) {
	run := func(chain.StateReader, []any) (any, error) { return nil, nil }
	for _, tc := range []struct {
		name string
		apps []chain.Application
		msg  string
	}{
		{"reserved namespace", []chain.Application{&queryApp{name: "chain", methods: blobApp().methods}}, `application name "chain" is a namespace of the server itself`},
		{"underscore", []chain.Application{&queryApp{name: "my_app", methods: blobApp().methods}}, `application name "my_app" cannot be a JSON-RPC namespace`},
		{"twice without methods", []chain.Application{&queryApp{name: "x"}, &queryApp{name: "x"}}, `application "x" given twice`},
		{"twice", []chain.Application{blobApp(), blobApp()}, `application "blob" given twice`},
		{"method name", []chain.Application{&queryApp{name: "a", methods: []chain.QueryMethod{{Name: "get_x", Run: run}}}}, `application "a": query method "get_x": name must be non-empty and without '_'`},
		{"no run", []chain.Application{&queryApp{name: "a", methods: []chain.QueryMethod{{Name: "get"}}}}, `query method "get": no Run function`},
		{"duplicate method", []chain.Application{&queryApp{name: "a", methods: []chain.QueryMethod{{Name: "get", Run: run}, {Name: "get", Run: run}}}}, `query method "get" declared twice`},
	} {
		f := newFakeBackend(t)
		f.extraApps = tc.apps
		_, err := New(Config{ListenAddr: "127.0.0.1:0"}, f, nil)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: New = %v, want %q", tc.name, err, tc.msg)
		}
	}
	f := newFakeBackend(t)
	f.extraApps = []chain.Application{&queryApp{name: "my_app"}, &queryApp{name: "chain"}}
	if _, err := New(Config{ListenAddr: "127.0.0.1:0"}, f, nil); err != nil {
		t.Fatalf("applications without methods: %v", err)
	}
}

// The body of a call for an application is rewritten for the dispatcher,
// keeping everything else; other calls are left as they are.
func TestRewriteAppCalls(t *testing.T) {
	s := &Server{appNamespaces: map[string]bool{"counter": true}}
	s.appMarkers = appMarkers(s.appNamespaces)
	for _, tc := range []struct{ in, want string }{
		{`{"jsonrpc":"2.0","id":"<a>","method":"counter_value","params":["0x01"]}`,
			`{"id":"<a>","jsonrpc":"2.0","method":"bafomet_appQuery","params":["counter_value",["0x01"]]}`},
		{`{"jsonrpc":"2.0","id":1,"method":"counter_value"}`,
			`{"id":1,"jsonrpc":"2.0","method":"bafomet_appQuery","params":["counter_value",null]}`},
		{`{"jsonrpc":"2.0","id":1,"method":"counter\u005fvalue","params":[]}`,
			`{"id":1,"jsonrpc":"2.0","method":"bafomet_appQuery","params":["counter_value",[]]}`},
		{`[{"jsonrpc":"2.0","id":1,"method":"chain_blockNumber","params":[]},{"jsonrpc":"2.0","id":2,"method":"bafomet_x","params":[]}]`,
			`[{"jsonrpc":"2.0","id":1,"method":"chain_blockNumber","params":[]},{"id":2,"jsonrpc":"2.0","method":"bafomet_appQuery","params":["bafomet_x",[]]}]`},
		{`{"jsonrpc":"2.0","id":1,"method":"chain_blockNumber","params":[]}`, `{"jsonrpc":"2.0","id":1,"method":"chain_blockNumber","params":[]}`},
		{`{"jsonrpc":"2.0","id":1,"method":"kv_get","params":["k"]}`, `{"jsonrpc":"2.0","id":1,"method":"kv_get","params":["k"]}`},
		{`[{"method":"counter_value"`, `[{"method":"counter_value"`},
	} {
		if got := string(s.rewriteAppCalls([]byte(tc.in))); got != tc.want {
			t.Errorf("rewrite %s\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}
