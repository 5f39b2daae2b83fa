package kv

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/bafomet/bafomet/chain"
)

func TestParse(t *testing.T) {
	app := NewWithConfig(Config{MaxKeyBytes: 4})
	tests := []struct {
		name     string
		payload  string
		key, val string
		wantErr  error
	}{
		{"simple", "a=b", "a", "b", nil},
		{"empty value", "a=", "a", "", nil},
		{"value with equals", "a=b=c", "a", "b=c", nil},
		{"utf8", "ключ=значение", "", "", ErrKeyTooLong}, // 8 bytes > 4
		{"key at limit", "abcd=1", "abcd", "1", nil},
		{"key over limit", "abcde=1", "", "", ErrKeyTooLong},
		{"no separator", "abc", "", "", ErrNoSeparator},
		{"empty key", "=v", "", "", ErrEmptyKey},
		{"empty payload", "", "", "", ErrNoSeparator},
		{"bad utf8", "a=\xff", "", "", ErrNotUTF8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, v, err := app.Parse([]byte(tc.payload))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && (string(k) != tc.key || string(v) != tc.val) {
				t.Fatalf("got %q=%q, want %q=%q", k, v, tc.key, tc.val)
			}
		})
	}
}

func TestDefaultKeyLimit(t *testing.T) {
	app := New().(*App)
	if _, _, err := app.Parse([]byte(strings.Repeat("k", DefaultMaxKeyBytes) + "=v")); err != nil {
		t.Fatalf("key at default limit: %v", err)
	}
	if _, _, err := app.Parse([]byte(strings.Repeat("k", DefaultMaxKeyBytes+1) + "=v")); !errors.Is(err, ErrKeyTooLong) {
		t.Fatalf("key over default limit: err = %v", err)
	}
}

func TestExecuteAndQuery(t *testing.T) {
	app := New()
	st := chain.NewMemState()
	rc := app.ExecuteTx(chain.TxContext{}, Payload("greeting", "hello"), st)
	if rc.Code != chain.CodeOK || len(rc.Events) != 1 || rc.Events[0].Type != "kv.set" ||
		rc.Events[0].Attributes[0] != (chain.Attribute{Key: "key", Value: "greeting"}) {
		t.Fatalf("receipt = %+v", rc)
	}
	rc = app.ExecuteTx(chain.TxContext{}, []byte("=x"), st)
	if rc.Code != CodeBadPayload || rc.Message != "kv: key is empty" {
		t.Fatalf("bad payload receipt = %+v", rc)
	}
	st.SetHeight(7)
	tests := []struct {
		key  string
		want string
	}{
		{"greeting", `{"key":"greeting","value":"hello","found":true,"height":7}`},
		{"missing", `{"key":"missing","value":"","found":false,"height":7}`},
	}
	for _, tc := range tests {
		out, err := app.Query(st, QueryGet, []byte(tc.key))
		if err != nil || string(out) != tc.want {
			t.Fatalf("get %q = %s, %v; want %s", tc.key, out, err, tc.want)
		}
	}
	if _, err := app.Query(st, "put", []byte("a")); !errors.Is(err, chain.ErrUnknownQuery) {
		t.Fatalf("unknown query err = %v", err)
	}
	if _, err := app.Query(st, QueryGet, nil); !errors.Is(err, ErrEmptyKey) {
		t.Fatalf("empty key query err = %v", err)
	}
}

func TestEmptyValueIsFound(t *testing.T) {
	app := New()
	st := chain.NewMemState()
	if rc := app.ExecuteTx(chain.TxContext{}, Payload("k", ""), st); !rc.OK() {
		t.Fatalf("receipt = %+v", rc)
	}
	out, err := app.Query(st, QueryGet, []byte("k"))
	if err != nil || string(out) != `{"key":"k","value":"","found":true,"height":0}` {
		t.Fatalf("get = %s, %v", out, err)
	}
}

func TestCheckTx(t *testing.T) {
	app := New()
	if err := app.CheckTx(chain.TxContext{}, []byte("a=b"), chain.NewMemState()); err != nil {
		t.Fatalf("good payload: %v", err)
	}
	if err := app.CheckTx(chain.TxContext{}, []byte("ab"), chain.NewMemState()); !errors.Is(err, ErrNoSeparator) {
		t.Fatalf("bad payload: %v", err)
	}
}

func TestInitState(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		keys    int
		wantErr string
	}{
		{"absent", "", 0, ""},
		{"null", "null", 0, ""},
		{"empty object", "{}", 0, ""},
		{"entries", `{"entries":[{"key":"a","value":"1"},{"key":"b","value":""}]}`, 2, ""},
		{"unknown field", `{"entris":[]}`, 0, `kv app_state: json: unknown field "entris"`},
		{"not an object", `[1]`, 0, "kv app_state: json: cannot unmarshal array into Go value of type kv.AppState"},
		{"empty key", `{"entries":[{"key":"","value":"1"}]}`, 0, "kv app_state: entries[0]: key is empty"},
		{"equals in key", `{"entries":[{"key":"a=b","value":"1"}]}`, 0, `kv app_state: entries[0]: key "a=b" contains '='`},
		{"duplicate", `{"entries":[{"key":"a","value":"1"},{"key":"a","value":"2"}]}`, 0,
			`kv app_state: entries[1]: key "a" already set by entries[0]`},
		{"trailing", `{} {}`, 0, "kv app_state: trailing data after the object"},
		{"case variant", `{"Entries":[{"key":"a","value":"1"}]}`, 0,
			`kv app_state: Entries: unknown field (names are case-sensitive: did you mean "entries"?)`},
		{"field twice", `{"entries":[{"key":"a","value":"1","value":"2"}]}`, 0, "kv app_state: entries[0].value: field given twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := chain.NewMemState()
			err := New().InitState(json.RawMessage(tc.raw), st)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
			} else if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if st.Len() != tc.keys {
				t.Fatalf("%d keys written, want %d", st.Len(), tc.keys)
			}
		})
	}
}

func TestQueryMethodGet(t *testing.T) {
	app := NewWithConfig(Config{MaxKeyBytes: 4})
	ms := app.QueryMethods()
	if err := chain.ValidateQueryMethods(ms); err != nil || len(ms) != 1 || ms[0].Name != "get" {
		t.Fatalf("methods = %+v, %v", ms, err)
	}
	st := chain.NewMemState()
	if rc := app.ExecuteTx(chain.TxContext{}, Payload("k", "v"), st); !rc.OK() {
		t.Fatalf("receipt = %+v", rc)
	}
	st.SetHeight(3)
	for key, want := range map[string]string{"k": `{"key":"k","value":"v","height":3}`, "no": `{"key":"no","value":null,"height":3}`} {
		res, err := ms[0].Run(st, []any{key})
		out, _ := json.Marshal(res)
		if err != nil || string(out) != want {
			t.Errorf("get %q = %s, %v; want %s", key, out, err, want)
		}
	}
	var pe *chain.InvalidParamError
	if _, err := ms[0].Run(st, []any{"12345"}); !errors.As(err, &pe) || pe.Param != "key" || !errors.Is(err, ErrKeyTooLong) {
		t.Errorf("long key: %v", err)
	}
	if _, err := ms[0].Run(st, []any{""}); !errors.As(err, &pe) || pe.Param != "key" || err.Error() != `parameter "key": key is empty` {
		t.Errorf("empty key: %v", err)
	}
}
