package chain_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/bafomet/bafomet/chain"
)

func TestParamDecoders(t *testing.T) {
	addr := chain.Address{0xab, 19: 0x01}
	for _, tc := range []struct {
		name   string
		decode func(json.RawMessage) (any, error)
		raw    string
		want   any
		err    string
	}{
		{"string", chain.ParamString, `"k"`, "k", ""},
		{"string: number", chain.ParamString, `5`, nil, "want a string, got 5"},
		{"string: long value quoted truncated", chain.ParamString, strings.Repeat("1", 100), nil, "want a string, got " + strings.Repeat("1", 64) + "…"},
		{"address", chain.ParamAddress, `"` + addr.Hex() + `"`, addr, ""},
		{"address: upper 0X", chain.ParamAddress, `"0X` + addr.Hex()[2:] + `"`, addr, ""},
		{"address: no 0x", chain.ParamAddress, `"ab"`, nil, "hex string must start with 0x"},
		{"address: bad hex", chain.ParamAddress, `"0xzz"`, nil, "bad hex: "},
		{"address: short", chain.ParamAddress, `"0x01"`, nil, "want 20 bytes, got 1"},
		{"uint64", chain.ParamUint64, `18446744073709551615`, uint64(18446744073709551615), ""},
		{"uint64: negative", chain.ParamUint64, `-1`, nil, "want a non-negative integer, got -1"},
		{"uint64: string", chain.ParamUint64, `"1"`, nil, `want a non-negative integer, got "1"`},
	} {
		got, err := tc.decode(json.RawMessage(tc.raw))
		if tc.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
				t.Errorf("%s: err = %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestValidateQueryMethods(t *testing.T) {
	run := func(chain.StateReader, []any) (any, error) { return nil, nil }
	p := func(name string, optional bool) chain.QueryParam {
		return chain.QueryParam{Name: name, Optional: optional, Decode: chain.ParamString}
	}
	ok := []chain.QueryMethod{{Name: "get", Params: []chain.QueryParam{p("a", false), p("b", true)}, Run: run}, {Name: "list", Run: run}}
	if err := chain.ValidateQueryMethods(ok); err != nil {
		t.Fatalf("valid methods: %v", err)
	}
	for _, tc := range []struct {
		m   chain.QueryMethod
		err string
	}{
		{chain.QueryMethod{Run: run}, `query method "": name must be non-empty and without '_'`},
		{chain.QueryMethod{Name: "a_b", Run: run}, `query method "a_b": name must be non-empty and without '_'`},
		{chain.QueryMethod{Name: "get"}, `query method "get": no Run function`},
		{chain.QueryMethod{Name: "get", Run: run, Params: []chain.QueryParam{{Name: "a"}}}, `query method "get": parameter 0 needs a name and a Decode function`},
		{chain.QueryMethod{Name: "get", Run: run, Params: []chain.QueryParam{p("a", true), p("b", false)}}, `query method "get": required parameter "b" follows an optional one`},
	} {
		if err := chain.ValidateQueryMethods([]chain.QueryMethod{tc.m}); err == nil || err.Error() != tc.err {
			t.Errorf("%+v: err = %v, want %q", tc.m.Name, err, tc.err)
		}
	}
	if err := chain.ValidateQueryMethods([]chain.QueryMethod{{Name: "get", Run: run}, {Name: "get", Run: run}}); err == nil || err.Error() != `query method "get" declared twice` {
		t.Errorf("duplicate: %v", err)
	}
}

func TestInvalidParamWraps(t *testing.T) {
	cause := errors.New("key too long")
	err := chain.InvalidParam("key", cause)
	var pe *chain.InvalidParamError
	if !errors.As(err, &pe) || pe.Param != "key" || !errors.Is(err, cause) || err.Error() != `parameter "key": key too long` {
		t.Fatalf("InvalidParam = %v", err)
	}
}
