package chain

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// QueryService is an optional interface of an Application that serves
// read-only JSON-RPC methods in its own namespace: a method named "value"
// of the application "counter" is called as counter_value. The RPC server
// registers the methods when it starts, applies the same authentication,
// permission (read), rate limits, response limits and metrics to them as
// to its own queries, and answers a call to an application the chain does
// not run with an error, without calling Run.
type QueryService interface {
	// QueryMethods returns the application's query methods. Names must be
	// unique, non-empty and free of '_'.
	QueryMethods() []QueryMethod
}

// QueryMethod describes one read-only JSON-RPC method of an application.
type QueryMethod struct {
	// Name is the method's name within the application's namespace.
	Name string
	// Params are the method's positional parameters, in order. A call
	// with more arguments than Params is refused as invalid params.
	Params []QueryParam
	// Run answers a call against a read-only view of the latest committed
	// state (StateHeight gives its height). args holds one decoded value
	// per Param, nil for an absent optional one. The result must encode
	// with encoding/json. An error wrapping an *InvalidParamError (see
	// InvalidParam) is answered as invalid params naming the parameter;
	// any other error is answered as an internal error, whose text is
	// logged, not sent. Run must not write and must be safe to call from
	// several goroutines at once.
	Run func(state StateReader, args []any) (any, error)
}

// QueryParam is one positional parameter of a QueryMethod.
type QueryParam struct {
	// Name is the parameter's name, used in error messages.
	Name string
	// Optional parameters may be absent or null; required ones may not.
	Optional bool
	// Decode turns the argument's JSON into the value Run receives. Its
	// error says what is wrong with the value; the server names the
	// parameter. ParamString, ParamAddress and ParamUint64 are decoders
	// for common types.
	Decode func(raw json.RawMessage) (any, error)
}

// QueryMethodsOf returns app's query methods, none when app does not
// implement QueryService.
func QueryMethodsOf(app Application) []QueryMethod {
	if q, ok := app.(QueryService); ok {
		return q.QueryMethods()
	}
	return nil
}

// ValidateQueryMethods checks the methods an application declares: each
// has a non-empty name without '_', unique among them, a Run function and,
// for every parameter, a non-empty name and a Decode function; required
// parameters come before optional ones.
func ValidateQueryMethods(methods []QueryMethod) error {
	seen := make(map[string]bool, len(methods))
	for _, m := range methods {
		switch {
		case m.Name == "" || strings.Contains(m.Name, "_"):
			return fmt.Errorf("query method %q: name must be non-empty and without '_'", m.Name)
		case seen[m.Name]:
			return fmt.Errorf("query method %q declared twice", m.Name)
		case m.Run == nil:
			return fmt.Errorf("query method %q: no Run function", m.Name)
		}
		seen[m.Name] = true
		optional := false
		for i, p := range m.Params {
			switch {
			case p.Name == "" || p.Decode == nil:
				return fmt.Errorf("query method %q: parameter %d needs a name and a Decode function", m.Name, i)
			case optional && !p.Optional:
				return fmt.Errorf("query method %q: required parameter %q follows an optional one", m.Name, p.Name)
			}
			optional = p.Optional
		}
	}
	return nil
}

// InvalidParamError reports an argument a query method refuses after
// decoding it (a key too long, say).
type InvalidParamError struct {
	Param string // the parameter's name
	Err   error  // what is wrong with it
}

func (e *InvalidParamError) Error() string { return fmt.Sprintf("parameter %q: %v", e.Param, e.Err) }

func (e *InvalidParamError) Unwrap() error { return e.Err }

// InvalidParam returns an error that a query method's Run returns for a
// bad argument: the RPC server answers it as invalid params naming param.
func InvalidParam(param string, err error) error {
	return &InvalidParamError{Param: param, Err: err}
}

// maxDescribedParam bounds how much of a bad argument an error quotes.
const maxDescribedParam = 64

// describeParam quotes a bad argument for an error message, truncated.
func describeParam(raw json.RawMessage) string {
	s := string(bytes.TrimSpace(raw))
	if len(s) > maxDescribedParam {
		s = s[:maxDescribedParam] + "…"
	}
	return s
}

// ParamString decodes a JSON string into a string.
func ParamString(raw json.RawMessage) (any, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("want a string, got %s", describeParam(raw))
	}
	return s, nil
}

// ParamAddress decodes a 0x-prefixed hex string of 20 bytes into an
// Address.
func ParamAddress(raw json.RawMessage) (any, error) {
	s, err := ParamString(raw)
	if err != nil {
		return nil, err
	}
	b, err := decodeHexParam(s.(string))
	if err != nil {
		return nil, err
	}
	if len(b) != len(Address{}) {
		return nil, fmt.Errorf("want 20 bytes, got %d", len(b))
	}
	return Address(b), nil
}

// ParamUint64 decodes a non-negative JSON integer into a uint64.
func ParamUint64(raw json.RawMessage) (any, error) {
	var n uint64
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, fmt.Errorf("want a non-negative integer, got %s", describeParam(raw))
	}
	return n, nil
}

func decodeHexParam(s string) ([]byte, error) {
	if !strings.HasPrefix(s, "0x") && !strings.HasPrefix(s, "0X") {
		return nil, errors.New("hex string must start with 0x")
	}
	b, err := hex.DecodeString(s[2:])
	if err != nil {
		return nil, fmt.Errorf("bad hex: %w", err)
	}
	return b, nil
}
