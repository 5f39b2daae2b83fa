// Package counter is an example of a custom bafomet application written
// outside the core packages. Each account has a named counter; a
// transaction's payload is "inc N" or "dec N" (N a decimal from 1 to
// MaxStep) and changes the sender's counter, which may not go below zero.
// The query "value" (data: a 0x address) returns the counter, and the
// JSON-RPC method counter_value(account) serves it to clients.
//
// To run a chain with it, add it to the registry the node uses:
//
//	reg := apps.Builtin()
//	reg[counter.Name] = counter.New
//
// cmd/counterd is the node binary built that way (docs/applications.md).
package counter

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/bafomet/bafomet/chain"
	"github.com/ethereum/go-ethereum/common"
)

// Name is the application's genesis name.
const Name = "counter"

// MaxStep is the largest amount one transaction may add or subtract.
const MaxStep = 1_000_000

// Receipt codes.
const (
	CodeBadPayload = chain.CodeAppMin
	CodeUnderflow  = chain.CodeAppMin + 1
)

// ErrBadPayload is returned for a payload that is not "inc N" or "dec N".
var ErrBadPayload = errors.New("counter: payload is not \"inc N\" or \"dec N\"")

// App is the counter application; it keeps no state of its own.
type App struct{}

// New returns the application; it is an chain.AppFactory.
func New() chain.Application { return App{} }

// Name returns "counter".
func (App) Name() string { return Name }

func counterKey(a chain.Address) []byte { return append([]byte("counter/"), a[:]...) }

// parse returns the signed step of a payload.
func parse(payload []byte) (int64, error) {
	op, num, ok := strings.Cut(string(payload), " ")
	if !ok || (op != "inc" && op != "dec") {
		return 0, ErrBadPayload
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 1 || n > MaxStep || strconv.FormatInt(n, 10) != num {
		return 0, fmt.Errorf("%w: step %q not in 1..%d", ErrBadPayload, num, MaxStep)
	}
	if op == "dec" {
		n = -n
	}
	return n, nil
}

func read(st chain.StateReader, a chain.Address) (uint64, error) {
	v, err := st.Get(counterKey(a))
	if err != nil || v == nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("counter of %s is %d bytes", a, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// InitState accepts only an empty app_state: every counter starts at 0.
func (App) InitState(raw json.RawMessage, _ chain.StateWriter) error {
	s := strings.TrimSpace(string(raw))
	if s != "" && s != "null" && s != "{}" {
		return fmt.Errorf("counter app_state: must be empty, got %s", s)
	}
	return nil
}

// CheckTx accepts a well-formed payload.
func (App) CheckTx(_ chain.TxContext, payload []byte, _ chain.StateReader) error {
	_, err := parse(payload)
	return err
}

// ExecuteTx applies the step to the sender's counter.
func (App) ExecuteTx(ctx chain.TxContext, payload []byte, st chain.StateWriter) chain.Receipt {
	step, err := parse(payload)
	if err != nil {
		return chain.Receipt{Code: CodeBadPayload, Message: err.Error()}
	}
	cur, err := read(st, ctx.Sender)
	if err != nil {
		return chain.Receipt{Code: CodeBadPayload, Message: err.Error()}
	}
	if step < 0 && uint64(-step) > cur {
		return chain.Receipt{Code: CodeUnderflow, Message: fmt.Sprintf("counter: %d - %d is below zero", cur, -step)}
	}
	next := uint64(int64(cur) + step)
	if err := st.Set(counterKey(ctx.Sender), binary.BigEndian.AppendUint64(nil, next)); err != nil {
		return chain.Receipt{Code: CodeBadPayload, Message: err.Error()}
	}
	return chain.Receipt{Events: []chain.Event{{Type: "counter.changed", Attributes: []chain.Attribute{
		{Key: "account", Value: ctx.Sender.Hex()}, {Key: "value", Value: strconv.FormatUint(next, 10)},
	}}}}
}

// Query serves "value": data is a 0x address; the answer is
// {"account":…,"value":N}.
func (App) Query(st chain.StateReader, path string, data []byte) ([]byte, error) {
	if path != "value" {
		return nil, fmt.Errorf("counter: %w %q", chain.ErrUnknownQuery, path)
	}
	if !common.IsHexAddress(string(data)) {
		return nil, fmt.Errorf("counter: %q is not an address", data)
	}
	a := common.HexToAddress(string(data))
	v, err := read(st, a)
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		Account string `json:"account"`
		Value   uint64 `json:"value"`
	}{a.Hex(), v})
}

// Value is the result of the JSON-RPC method counter_value.
type Value struct {
	Account chain.Address `json:"account"`
	Value   uint64        `json:"value"`
	Height  uint64        `json:"height"` // committed height the counter was read at
}

// QueryMethods serves counter_value(account) over JSON-RPC: the account's
// counter at the latest committed height.
func (App) QueryMethods() []chain.QueryMethod {
	return []chain.QueryMethod{{
		Name:   "value",
		Params: []chain.QueryParam{{Name: "account", Decode: chain.ParamAddress}},
		Run: func(st chain.StateReader, args []any) (any, error) {
			a := args[0].(chain.Address)
			v, err := read(st, a)
			if err != nil {
				return nil, fmt.Errorf("counter: read %s: %w", a, err)
			}
			h, _ := chain.StateHeight(st)
			return &Value{Account: a, Value: v, Height: h}, nil
		},
	}}
}
