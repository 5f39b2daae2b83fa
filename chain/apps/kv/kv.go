// Package kv is bafomet's built-in key/value application. A transaction's
// payload is "key=value" (UTF-8, non-empty key, the first '=' separates key
// from value, so a key never contains '='); executing it sets key to value.
// The query "get" returns the value of a key and the height it was read at.
package kv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/bafomet/bafomet/chain"
)

// Name is the name genesis uses to select this application.
const Name = "kv"

// DefaultMaxKeyBytes is the default limit on the length of a key.
const DefaultMaxKeyBytes = 256

// CodeBadPayload is the receipt code of a transaction whose payload is not
// a valid "key=value".
const CodeBadPayload = chain.CodeAppMin

// QueryGet is the query path that reads one key; its data is the key.
const QueryGet = "get"

// Errors returned for malformed payloads and app_state.
var (
	ErrNoSeparator = errors.New("payload has no '=' separating key and value")
	ErrEmptyKey    = errors.New("key is empty")
	ErrKeyTooLong  = errors.New("key too long")
	ErrNotUTF8     = errors.New("payload is not valid UTF-8")
)

// Config holds the application's limits.
type Config struct {
	MaxKeyBytes int // longest key accepted, in bytes
}

// DefaultConfig returns the default limits.
func DefaultConfig() Config { return Config{MaxKeyBytes: DefaultMaxKeyBytes} }

// App is the kv application.
type App struct {
	cfg Config
}

var _ chain.Application = (*App)(nil)

// New returns a kv application with the default limits; it is the factory
// the registry uses.
func New() chain.Application { return NewWithConfig(DefaultConfig()) }

// NewWithConfig returns a kv application with the given limits. A
// non-positive MaxKeyBytes takes the default.
func NewWithConfig(cfg Config) *App {
	if cfg.MaxKeyBytes <= 0 {
		cfg.MaxKeyBytes = DefaultMaxKeyBytes
	}
	return &App{cfg: cfg}
}

// Name returns "kv".
func (a *App) Name() string { return Name }

// Payload returns the transaction payload that sets key to value.
func Payload(key, value string) []byte { return []byte(key + "=" + value) }

// Parse splits a payload into key and value and validates it.
func (a *App) Parse(payload []byte) (key, value []byte, err error) {
	if !utf8.Valid(payload) {
		return nil, nil, ErrNotUTF8
	}
	i := bytes.IndexByte(payload, '=')
	if i < 0 {
		return nil, nil, ErrNoSeparator
	}
	key, value = payload[:i], payload[i+1:]
	if err := a.checkKey(key); err != nil {
		return nil, nil, err
	}
	return key, value, nil
}

func (a *App) checkKey(key []byte) error {
	if len(key) == 0 {
		return ErrEmptyKey
	}
	if len(key) > a.cfg.MaxKeyBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrKeyTooLong, len(key), a.cfg.MaxKeyBytes)
	}
	return nil
}

// CheckTx accepts a well-formed payload; a set can always succeed.
func (a *App) CheckTx(_ chain.TxContext, payload []byte, _ chain.StateReader) error {
	if _, _, err := a.Parse(payload); err != nil {
		return fmt.Errorf("kv: %w", err)
	}
	return nil
}

// RecheckScope is chain.RecheckNone: CheckTx reads no state.
func (a *App) RecheckScope() chain.RecheckScope { return chain.RecheckNone }

// ExecuteTx sets the key. A malformed payload gets CodeBadPayload.
func (a *App) ExecuteTx(_ chain.TxContext, payload []byte, state chain.StateWriter) chain.Receipt {
	key, value, err := a.Parse(payload)
	if err != nil {
		return chain.Receipt{Code: CodeBadPayload, Message: "kv: " + err.Error()}
	}
	if err := state.Set(key, value); err != nil {
		// The executor's buffered state does not fail; a failing state is
		// reported as an application failure so nothing is written.
		return chain.Receipt{Code: CodeBadPayload, Message: "kv: set: " + err.Error()}
	}
	return chain.Receipt{Events: []chain.Event{{
		Type:       "kv.set",
		Attributes: []chain.Attribute{{Key: "key", Value: string(key)}},
	}}}
}

// GetResult is the JSON answer to the "get" query.
type GetResult struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Found  bool   `json:"found"`
	Height uint64 `json:"height"` // committed height the value was read at
}

// Query serves "get": data is the key; the answer is a JSON GetResult.
func (a *App) Query(state chain.StateReader, path string, data []byte) ([]byte, error) {
	if path != QueryGet {
		return nil, fmt.Errorf("kv: %w %q", chain.ErrUnknownQuery, path)
	}
	if err := a.checkKey(data); err != nil {
		return nil, fmt.Errorf("kv: get: %w", err)
	}
	v, err := state.Get(data)
	if err != nil {
		return nil, fmt.Errorf("kv: get %q: %w", data, err)
	}
	h, _ := chain.StateHeight(state)
	out, err := json.Marshal(GetResult{Key: string(data), Value: string(v), Found: v != nil, Height: h})
	if err != nil {
		return nil, fmt.Errorf("kv: encode result: %w", err)
	}
	return out, nil
}

// KeyValue is the result of the JSON-RPC method kv_get. Value is the
// stored text (kv values are UTF-8), null when the key is not set.
type KeyValue struct {
	Key    string  `json:"key"`
	Value  *string `json:"value"`
	Height uint64  `json:"height"` // committed height the value was read at
}

// QueryMethods serves kv_get(key) over JSON-RPC.
func (a *App) QueryMethods() []chain.QueryMethod {
	return []chain.QueryMethod{{
		Name:   "get",
		Params: []chain.QueryParam{{Name: "key", Decode: chain.ParamString}},
		Run:    a.rpcGet,
	}}
}

func (a *App) rpcGet(state chain.StateReader, args []any) (any, error) {
	key := args[0].(string)
	if err := a.checkKey([]byte(key)); err != nil {
		if errors.Is(err, ErrEmptyKey) {
			return nil, chain.InvalidParam("key", err)
		}
		return nil, chain.InvalidParam("key", fmt.Errorf("kv: get: %w", err))
	}
	v, err := state.Get([]byte(key))
	if err != nil {
		return nil, fmt.Errorf("kv: get %q: %w", key, err)
	}
	h, _ := chain.StateHeight(state)
	out := &KeyValue{Key: key, Height: h}
	if v != nil {
		s := string(v)
		out.Value = &s
	}
	return out, nil
}
