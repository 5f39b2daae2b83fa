package bank

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/bafomet/bafomet/chain"
)

// AppState is the bank app_state in genesis. Balances are decimal strings
// (0 to 2^64−1) so JSON tools never round them. It may be absent or null:
// the bank then starts with no funded accounts.
//
//	{"accounts": [{"address": "0x…", "balance": "1000"}]}
type AppState struct {
	Accounts []Account `json:"accounts"`
}

// Account is one funded account in genesis.
type Account struct {
	Address string `json:"address"`
	Balance string `json:"balance"`
}

// GenesisAccount is a parsed, validated genesis account.
type GenesisAccount struct {
	Address chain.Address
	Balance uint64
}

// ParseAppState decodes and validates a bank app_state; unknown fields, a
// bad address or balance, and a duplicate address are errors naming the
// account.
func ParseAppState(raw json.RawMessage) ([]GenesisAccount, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return nil, nil
	}
	var st AppState
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("bank app_state: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("bank app_state: trailing data after the object")
	}
	if err := chain.CheckJSONFields(trimmed, &st); err != nil {
		return nil, fmt.Errorf("bank app_state: %w", err)
	}
	out := make([]GenesisAccount, 0, len(st.Accounts))
	seen := make(map[chain.Address]int, len(st.Accounts))
	for i, acc := range st.Accounts {
		addr, err := ParseAddress(acc.Address)
		if err != nil {
			return nil, fmt.Errorf("bank app_state: accounts[%d].address: %w", i, err)
		}
		bal, err := ParseAmount(acc.Balance)
		if err != nil {
			return nil, fmt.Errorf("bank app_state: accounts[%d].balance: %w", i, err)
		}
		if j, dup := seen[addr]; dup {
			return nil, fmt.Errorf("bank app_state: accounts[%d].address: %s already funded by accounts[%d]", i, addr, j)
		}
		seen[addr] = i
		out = append(out, GenesisAccount{Address: addr, Balance: bal})
	}
	return out, nil
}

// InitState validates app_state and writes the genesis balances.
func (*App) InitState(raw json.RawMessage, state chain.StateWriter) error {
	accounts, err := ParseAppState(raw)
	if err != nil {
		return err
	}
	for i, acc := range accounts {
		if err := setBalance(state, acc.Address, acc.Balance); err != nil {
			return fmt.Errorf("bank app_state: accounts[%d]: write: %w", i, err)
		}
	}
	return nil
}
