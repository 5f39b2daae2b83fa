package chain

import (
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"strings"
)

// StateReader reads application state as of one committed height.
type StateReader interface {
	// Get returns the value stored at key, or nil when there is none.
	Get(key []byte) ([]byte, error)
}

// StateWriter reads and writes application state during execution. Writes
// are buffered by the executor and reach Badger only when the whole block
// commits; an application never commits anything itself.
type StateWriter interface {
	StateReader
	// Set stores value at key. An empty value is stored as empty, not deleted.
	Set(key, value []byte) error
	// Delete removes key.
	Delete(key []byte) error
}

// TxContext describes the transaction an application checks or executes.
// The executor has already verified the signature and the nonce.
type TxContext struct {
	Height    uint64  // height of the block being executed, or the next height during CheckTx
	Index     int     // position in the block (0 during CheckTx)
	Timestamp uint64  // block timestamp, unix ms (0 during CheckTx)
	Hash      Hash    // transaction hash
	Sender    Address // recovered sender
	Nonce     uint64
}

// Event is a typed record an application attaches to a receipt.
type Event struct {
	Type       string      `json:"type"`
	Attributes []Attribute `json:"attributes"`
}

// Attribute is one key/value pair of an Event.
type Attribute struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Receipt codes. Applications return CodeOK for success and any code of
// their own ≥ CodeAppMin for failures; the executor uses the codes below it.
const (
	CodeOK           uint32 = 0
	CodeBadNonce     uint32 = 1 // nonce is not the sender's next nonce
	CodeBadSignature uint32 = 2 // transaction did not decode or verify
	CodeWrongChain   uint32 = 3 // chain id is not this chain's
	CodeAppMin       uint32 = 100
)

// Receipt is the outcome of executing one transaction.
type Receipt struct {
	Code    uint32  `json:"code"`
	Message string  `json:"message"`
	Events  []Event `json:"events"`
}

// OK reports whether the transaction succeeded.
func (r Receipt) OK() bool { return r.Code == CodeOK }

// ErrUnknownQuery is returned by Application.Query for a path it does not
// serve.
var ErrUnknownQuery = errors.New("unknown query")

// Application is bafomet's pluggable state-transition function.
//
// Contract: InitState and ExecuteTx are called by the executor one at a
// time; CheckTx and Query may be called from other goroutines at the same
// time, each with its own read-only view, so an application should keep no
// mutable state of its own outside the state it is given.
//
// ExecuteTx must be deterministic — the same transactions applied
// to the same state on any node produce the same writes and receipts. It must
// not read clocks, randomness, the environment, or iterate maps in an order
// that reaches state or receipts. Everything it needs is in its arguments.
type Application interface {
	// Name is the name genesis uses to select the application ("kv").
	Name() string

	// InitState validates the genesis app_state and writes the initial
	// state. It is also used to validate genesis files, so a bad app_state
	// must return an error that names the problem.
	InitState(appState json.RawMessage, state StateWriter) error

	// CheckTx decides whether a transaction may enter the mempool: the
	// payload is well formed and, against current committed state, could
	// succeed. It must not write.
	CheckTx(ctx TxContext, payload []byte, state StateReader) error

	// ExecuteTx applies one transaction. A receipt with a non-zero code
	// means failure, and the executor then discards every write the
	// transaction made (the sender's nonce still advances).
	ExecuteTx(ctx TxContext, payload []byte, state StateWriter) Receipt

	// Query answers a read-only query against committed state. path names
	// the query (for example "get"); data is its argument. It returns
	// ErrUnknownQuery for a path it does not serve.
	Query(state StateReader, path string, data []byte) ([]byte, error)
}

// AppFactory creates a fresh Application.
type AppFactory func() Application

// Apps maps application names to factories.
type Apps map[string]AppFactory

// New creates the application called name.
func (a Apps) New(name string) (Application, error) {
	f, ok := a[name]
	if !ok {
		return nil, &UnknownAppError{Name: name, Known: a.Names()}
	}
	return f(), nil
}

// Names returns the registered names, sorted.
func (a Apps) Names() []string {
	names := make([]string, 0, len(a))
	for n := range a {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// UnknownAppError reports an application name that is not registered.
type UnknownAppError struct {
	Name  string
	Known []string
}

func (e *UnknownAppError) Error() string {
	return "unknown app " + strconv.Quote(e.Name) + " (known: " + strings.Join(e.Known, ", ") + ")"
}

// RecheckScope says which held transactions the mempool must re-check with
// CheckTx after a block commits, because the block may have changed their
// verdict.
type RecheckScope uint8

// Recheck scopes, from the safest to the cheapest.
const (
	// RecheckAll re-checks every held transaction: CheckTx may read any
	// state. It is the scope of an application that does not say.
	RecheckAll RecheckScope = iota
	// RecheckSenders re-checks the held transactions of senders that have
	// a transaction in the block: CheckTx reads only state of the sender
	// that only the sender's own transactions can make worse (bank's
	// balance check).
	RecheckSenders
	// RecheckNone re-checks nothing: CheckTx reads no state, so its verdict
	// never changes (kv's payload check).
	RecheckNone
)

// Rechecker is an optional interface of an Application that narrows the
// mempool's re-check after each block. Getting it wrong admits blocks with
// failing transactions (they fail with a receipt, costing block space),
// never a state divergence.
type Rechecker interface {
	RecheckScope() RecheckScope
}

// RecheckScopeOf returns app's scope, RecheckAll unless it implements
// Rechecker.
func RecheckScopeOf(app Application) RecheckScope {
	if r, ok := app.(Rechecker); ok {
		return r.RecheckScope()
	}
	return RecheckAll
}

// HeightReader is implemented by the committed-state views the store hands
// to Query and CheckTx: Height is the committed height the view reads at
// (0 after genesis, before any block).
type HeightReader interface {
	Height() uint64
}

// StateHeight returns the committed height state reads at, and false when
// state does not know it (for example an in-memory test state).
func StateHeight(state StateReader) (uint64, bool) {
	h, ok := state.(HeightReader)
	if !ok {
		return 0, false
	}
	return h.Height(), true
}
