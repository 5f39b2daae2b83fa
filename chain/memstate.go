package chain

import "sort"

// MemState is an in-memory StateWriter for tests and tools. It is not safe
// for concurrent use. Its Height is what StateHeight reports for it.
type MemState struct {
	kv     map[string][]byte
	height uint64
}

// NewMemState returns an empty in-memory state at height 0.
func NewMemState() *MemState { return &MemState{kv: make(map[string][]byte)} }

// Get returns the value at key, or nil when there is none.
func (m *MemState) Get(key []byte) ([]byte, error) {
	v, ok := m.kv[string(key)]
	if !ok {
		return nil, nil
	}
	return append([]byte{}, v...), nil
}

// Set stores a copy of value at key.
func (m *MemState) Set(key, value []byte) error {
	m.kv[string(key)] = append([]byte{}, value...)
	return nil
}

// Delete removes key.
func (m *MemState) Delete(key []byte) error {
	delete(m.kv, string(key))
	return nil
}

// Height returns the height set with SetHeight.
func (m *MemState) Height() uint64 { return m.height }

// SetHeight sets the height the state claims to read at.
func (m *MemState) SetHeight(h uint64) { m.height = h }

// Len returns the number of keys.
func (m *MemState) Len() int { return len(m.kv) }

// Keys returns the keys in ascending byte order.
func (m *MemState) Keys() []string {
	keys := make([]string, 0, len(m.kv))
	for k := range m.kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
