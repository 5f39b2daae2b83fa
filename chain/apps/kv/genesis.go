package kv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/bafomet/bafomet/chain"
)

// AppState is the kv app_state in genesis. It may be absent, null or {}:
// the store then starts empty.
//
//	{"entries": [{"key": "greeting", "value": "hello"}]}
type AppState struct {
	Entries []Entry `json:"entries"`
}

// Entry is one initial key/value pair.
type Entry struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ParseAppState decodes and validates a kv app_state: unknown fields,
// empty, over-long or duplicate keys, keys containing '=' and invalid UTF-8
// are rejected with an error naming the entry.
func (a *App) ParseAppState(raw json.RawMessage) (*AppState, error) {
	var st AppState
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return &st, nil
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("kv app_state: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("kv app_state: trailing data after the object")
	}
	if err := chain.CheckJSONFields(trimmed, &st); err != nil {
		return nil, fmt.Errorf("kv app_state: %w", err)
	}
	seen := make(map[string]int, len(st.Entries))
	for i, e := range st.Entries {
		if err := a.checkKey([]byte(e.Key)); err != nil {
			return nil, fmt.Errorf("kv app_state: entries[%d]: %w", i, err)
		}
		if bytes.IndexByte([]byte(e.Key), '=') >= 0 {
			return nil, fmt.Errorf("kv app_state: entries[%d]: key %q contains '='", i, e.Key)
		}
		if !utf8.ValidString(e.Key) || !utf8.ValidString(e.Value) {
			return nil, fmt.Errorf("kv app_state: entries[%d]: %w", i, ErrNotUTF8)
		}
		if j, dup := seen[e.Key]; dup {
			return nil, fmt.Errorf("kv app_state: entries[%d]: key %q already set by entries[%d]", i, e.Key, j)
		}
		seen[e.Key] = i
	}
	return &st, nil
}

// InitState validates app_state and writes its entries.
func (a *App) InitState(raw json.RawMessage, state chain.StateWriter) error {
	st, err := a.ParseAppState(raw)
	if err != nil {
		return err
	}
	for i, e := range st.Entries {
		if err := state.Set([]byte(e.Key), []byte(e.Value)); err != nil {
			return fmt.Errorf("kv app_state: entries[%d]: write: %w", i, err)
		}
	}
	return nil
}
