// Package bank is bafomet's built-in token application: accounts with
// uint64 balances, funded in genesis, and transfers between them.
//
// A transfer's payload is the ASCII text
//
//	transfer 0x<40 hex digits> <amount>
//
// with single spaces, the recipient's address in either case, and the amount
// a decimal integer from 1 to 2^64−1 without sign or leading zeros (see
// docs/transactions.md). The sender is the transaction's signer.
package bank

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"

	"github.com/bafomet/bafomet/chain"
)

// Name is the name genesis uses to select this application.
const Name = "bank"

// Receipt codes of failed transfers.
const (
	CodeBadPayload        = chain.CodeAppMin     // payload is not a valid transfer
	CodeInsufficientFunds = chain.CodeAppMin + 1 // sender's balance is below the amount
	CodeOverflow          = chain.CodeAppMin + 2 // recipient's balance would exceed 2^64−1
)

// QueryBalance is the query path that reads an account's balance; its data
// is the address as 0x-prefixed hex text or as 20 raw bytes.
const QueryBalance = "balance"

// balancePrefix is the state key prefix of balances: "b/" ‖ 20-byte address
// → 8-byte big-endian balance. A zero balance is stored as no key, so the
// state (and the appHash) has one form for each set of balances.
const balancePrefix = "b/"

// App is the bank application. It keeps no state of its own.
type App struct{}

var _ chain.Application = (*App)(nil)

// New returns a bank application; it is the factory the registry uses.
func New() chain.Application { return &App{} }

// Name returns "bank".
func (*App) Name() string { return Name }

func balanceKey(addr chain.Address) []byte {
	return append([]byte(balancePrefix), addr[:]...)
}

// Balance reads addr's balance from state; an absent account has 0.
func Balance(state chain.StateReader, addr chain.Address) (uint64, error) {
	v, err := state.Get(balanceKey(addr))
	if err != nil {
		return 0, fmt.Errorf("bank: read balance of %s: %w", addr, err)
	}
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("bank: balance of %s is %d bytes, want 8", addr, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

func setBalance(state chain.StateWriter, addr chain.Address, bal uint64) error {
	if bal == 0 {
		return state.Delete(balanceKey(addr))
	}
	return state.Set(balanceKey(addr), binary.BigEndian.AppendUint64(nil, bal))
}

// CheckTx accepts a well-formed transfer the sender can currently afford.
func (*App) CheckTx(ctx chain.TxContext, payload []byte, state chain.StateReader) error {
	t, err := ParseTransfer(payload)
	if err != nil {
		return err
	}
	bal, err := Balance(state, ctx.Sender)
	if err != nil {
		return err
	}
	if bal < t.Amount {
		return fmt.Errorf("bank: insufficient funds: balance %d, amount %d", bal, t.Amount)
	}
	return nil
}

// RecheckScope is chain.RecheckSenders: CheckTx reads only the sender's
// balance, which only the sender's own transfers lower.
func (*App) RecheckScope() chain.RecheckScope { return chain.RecheckSenders }

// ExecuteTx moves Amount from the sender to the recipient. A bad payload,
// insufficient funds or an overflowing recipient balance fails the
// transaction with no state change.
func (*App) ExecuteTx(ctx chain.TxContext, payload []byte, state chain.StateWriter) chain.Receipt {
	t, err := ParseTransfer(payload)
	if err != nil {
		return chain.Receipt{Code: CodeBadPayload, Message: err.Error()}
	}
	from, err := Balance(state, ctx.Sender)
	if err != nil {
		return chain.Receipt{Code: CodeBadPayload, Message: err.Error()}
	}
	if from < t.Amount {
		return chain.Receipt{Code: CodeInsufficientFunds,
			Message: fmt.Sprintf("bank: insufficient funds: balance %d, amount %d", from, t.Amount)}
	}
	if t.To != ctx.Sender {
		to, err := Balance(state, t.To)
		if err != nil {
			return chain.Receipt{Code: CodeBadPayload, Message: err.Error()}
		}
		if to > math.MaxUint64-t.Amount {
			return chain.Receipt{Code: CodeOverflow,
				Message: fmt.Sprintf("bank: recipient balance %d + amount %d overflows", to, t.Amount)}
		}
		if err := setBalance(state, ctx.Sender, from-t.Amount); err != nil {
			return chain.Receipt{Code: CodeBadPayload, Message: "bank: write: " + err.Error()}
		}
		if err := setBalance(state, t.To, to+t.Amount); err != nil {
			return chain.Receipt{Code: CodeBadPayload, Message: "bank: write: " + err.Error()}
		}
	}
	return chain.Receipt{Events: []chain.Event{{Type: "bank.transfer", Attributes: []chain.Attribute{
		{Key: "from", Value: ctx.Sender.Hex()},
		{Key: "to", Value: t.To.Hex()},
		{Key: "amount", Value: fmt.Sprint(t.Amount)},
	}}}}
}

// BalanceResult is the JSON answer to the "balance" query. Balance is a
// decimal string so that JSON clients without 64-bit integers read it
// exactly.
type BalanceResult struct {
	Address string `json:"address"`
	Balance string `json:"balance"`
	Height  uint64 `json:"height"` // committed height the balance was read at
}

// Query serves "balance".
func (*App) Query(state chain.StateReader, path string, data []byte) ([]byte, error) {
	if path != QueryBalance {
		return nil, fmt.Errorf("bank: %w %q", chain.ErrUnknownQuery, path)
	}
	var addr chain.Address
	if len(data) == len(addr) {
		copy(addr[:], data)
	} else {
		a, err := ParseAddress(string(data))
		if err != nil {
			return nil, fmt.Errorf("bank: balance query: %w", err)
		}
		addr = a
	}
	bal, err := Balance(state, addr)
	if err != nil {
		return nil, err
	}
	h, _ := chain.StateHeight(state)
	out, err := json.Marshal(BalanceResult{Address: addr.Hex(), Balance: fmt.Sprint(bal), Height: h})
	if err != nil {
		return nil, fmt.Errorf("bank: encode result: %w", err)
	}
	return out, nil
}

// AccountBalance is the result of the JSON-RPC method bank_getBalance.
type AccountBalance struct {
	Address chain.Address `json:"address"`
	Balance uint64        `json:"balance"`
	Height  uint64        `json:"height"` // committed height the balance was read at
}

// QueryMethods serves bank_getBalance(address) over JSON-RPC.
func (*App) QueryMethods() []chain.QueryMethod {
	return []chain.QueryMethod{{
		Name:   "getBalance",
		Params: []chain.QueryParam{{Name: "address", Decode: chain.ParamAddress}},
		Run: func(state chain.StateReader, args []any) (any, error) {
			addr := args[0].(chain.Address)
			bal, err := Balance(state, addr)
			if err != nil {
				return nil, err
			}
			h, _ := chain.StateHeight(state)
			return &AccountBalance{Address: addr, Balance: bal, Height: h}, nil
		},
	}}
}
