package chain

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/dgraph-io/badger/v4"
)

// MaxStateKeyBytes is the longest application state key the executor
// accepts; Set and Delete of a longer key fail (Badger's own limit is
// 65,000 bytes including the namespace).
const MaxStateKeyBytes = 4096

// ErrStateKeyTooLong is returned by Set and Delete for a key over
// MaxStateKeyBytes, and for an empty key.
var ErrStateKeyTooLong = errors.New("state key empty or too long")

// StateView reads application state at one committed height. It opens
// its Badger read transaction lazily, on the first read (Get, Nonce or
// Height), so a check that reads nothing never waits for a commit in
// flight; the height it reports is always the one its reads see. Call Close
// when done. It implements StateReader and HeightReader and is safe for use
// by one goroutine at a time.
type StateView struct {
	db     *badger.DB
	txn    *badger.Txn
	height uint64
}

// StateView returns a read-only view of the latest committed state, as of
// its first read.
func (s *Store) StateView() (*StateView, error) {
	if !s.committed.initialized.Load() {
		return nil, fmt.Errorf("state view: %w", ErrNotInitialized)
	}
	return &StateView{db: s.db}, nil
}

// open starts the read transaction and reads the height it sees.
func (v *StateView) open() error {
	if v.txn != nil {
		return nil
	}
	txn := v.db.NewTransaction(false)
	h, err := readHeight(txn)
	if err != nil {
		txn.Discard()
		return fmt.Errorf("state view: %w", err)
	}
	v.txn, v.height = txn, h
	return nil
}

// Get returns the value at key, or nil when there is none.
func (v *StateView) Get(key []byte) ([]byte, error) {
	if err := v.open(); err != nil {
		return nil, err
	}
	return txnStateGet(v.txn, key)
}

// Height returns the committed height the view reads at. A view that
// cannot open its transaction reports 0.
func (v *StateView) Height() uint64 {
	if err := v.open(); err != nil {
		return 0
	}
	return v.height
}

// Nonce returns addr's next nonce at the view's height.
func (v *StateView) Nonce(addr Address) (uint64, error) {
	if err := v.open(); err != nil {
		return 0, err
	}
	return txnNonce(v.txn, addr)
}

// Close releases the view.
func (v *StateView) Close() {
	if v.txn != nil {
		v.txn.Discard()
		v.txn = nil
	}
}

func txnStateGet(txn *badger.Txn, key []byte) ([]byte, error) {
	val, err := getValue(txn, prefixed(prefixState, key))
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if val == nil {
		val = []byte{}
	}
	return val, nil
}

func txnNonce(txn *badger.Txn, addr Address) (uint64, error) {
	v, err := getValue(txn, prefixed(prefixNonce, addr[:]))
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("nonce of %s is %d bytes, want 8", addr, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// overlayEntry is a buffered write: a value, or a deletion.
type overlayEntry struct {
	value   []byte
	deleted bool
}

// overlay buffers writes over a parent reader. The executor stacks one per
// transaction on one per block, so a failed transaction's writes are
// dropped and a block's writes reach Badger only at commit.
type overlay struct {
	parent StateReader
	writes map[string]overlayEntry
}

var _ StateWriter = (*overlay)(nil)

func newOverlay(parent StateReader) *overlay {
	return &overlay{parent: parent, writes: make(map[string]overlayEntry)}
}

// Get reads through the buffered writes to the parent.
func (o *overlay) Get(key []byte) ([]byte, error) {
	if e, ok := o.writes[string(key)]; ok {
		if e.deleted {
			return nil, nil
		}
		return append([]byte{}, e.value...), nil
	}
	return o.parent.Get(key)
}

func checkStateKey(key []byte) error {
	if len(key) == 0 || len(key) > MaxStateKeyBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrStateKeyTooLong, len(key), MaxStateKeyBytes)
	}
	return nil
}

// Set buffers a write of a copy of value.
func (o *overlay) Set(key, value []byte) error {
	if err := checkStateKey(key); err != nil {
		return err
	}
	o.writes[string(key)] = overlayEntry{value: append([]byte{}, value...)}
	return nil
}

// Delete buffers a deletion.
func (o *overlay) Delete(key []byte) error {
	if err := checkStateKey(key); err != nil {
		return err
	}
	o.writes[string(key)] = overlayEntry{deleted: true}
	return nil
}

// mergeInto moves every buffered write into dst.
func (o *overlay) mergeInto(dst *overlay) {
	for k, e := range o.writes {
		dst.writes[k] = e
	}
}

// sortedKeys returns the buffered keys in byte order, so the writes reach
// Badger in the same order on every node.
func (o *overlay) sortedKeys() []string {
	keys := make([]string, 0, len(o.writes))
	for k := range o.writes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// txnReader reads committed application state through a Badger
// transaction and remembers the first read error, so the executor can abort
// the block instead of letting an I/O error become a receipt.
type txnReader struct {
	txn *badger.Txn
	err error
}

func (r *txnReader) Get(key []byte) ([]byte, error) {
	v, err := txnStateGet(r.txn, key)
	if err != nil && r.err == nil {
		r.err = err
	}
	return v, err
}
