package bank

import (
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/bafomet/bafomet/chain"
	"github.com/ethereum/go-ethereum/common"
)

var (
	alice = common.HexToAddress("0x00000000000000000000000000000000000000a1")
	bob   = common.HexToAddress("0x00000000000000000000000000000000000000b0")
)

func TestParseTransfer(t *testing.T) {
	tests := []struct {
		payload string
		want    Transfer
		wantErr error
	}{
		{"transfer 0x00000000000000000000000000000000000000B0 5", Transfer{bob, 5}, nil},
		{"transfer 0x00000000000000000000000000000000000000b0 18446744073709551615", Transfer{bob, math.MaxUint64}, nil},
		{"transfer 0x00000000000000000000000000000000000000b0 18446744073709551616", Transfer{}, ErrBadAmount},
		{"transfer 0x00000000000000000000000000000000000000b0 0", Transfer{}, ErrBadAmount},
		{"transfer 0x00000000000000000000000000000000000000b0 05", Transfer{}, ErrBadAmount},
		{"transfer 0x00000000000000000000000000000000000000b0 -5", Transfer{}, ErrBadAmount},
		{"transfer 0x00000000000000000000000000000000000000b0 +5", Transfer{}, ErrBadAmount},
		{"transfer 0x00000000000000000000000000000000000000b0 ", Transfer{}, ErrBadAmount},
		{"transfer 0x00000000000000000000000000000000000000b 5", Transfer{}, ErrBadAddress},
		{"transfer 00000000000000000000000000000000000000b000 5", Transfer{}, ErrBadAddress},
		{"transfer 0x00000000000000000000000000000000000000zz 5", Transfer{}, ErrBadAddress},
		{"transfer  0x00000000000000000000000000000000000000b0 5", Transfer{}, ErrBadPayload},
		{"send 0x00000000000000000000000000000000000000b0 5", Transfer{}, ErrBadPayload},
		{"transfer 0x00000000000000000000000000000000000000b0 5 extra", Transfer{}, ErrBadPayload},
		{"", Transfer{}, ErrBadPayload},
	}
	for _, tc := range tests {
		got, err := ParseTransfer([]byte(tc.payload))
		if !errors.Is(err, tc.wantErr) || got != tc.want {
			t.Errorf("ParseTransfer(%q) = %+v, %v; want %+v, %v", tc.payload, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestTransferPayloadRoundTrip(t *testing.T) {
	p := TransferPayload(bob, 42)
	if string(p) != "transfer 0x00000000000000000000000000000000000000B0 42" {
		t.Fatalf("payload = %q", p)
	}
	got, err := ParseTransfer(p)
	if err != nil || got != (Transfer{bob, 42}) {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
}

func fund(t *testing.T, st *chain.MemState, bals map[chain.Address]uint64) {
	t.Helper()
	for a, b := range bals {
		if err := setBalance(st, a, b); err != nil {
			t.Fatal(err)
		}
	}
}

func balances(t *testing.T, st chain.StateReader) [2]uint64 {
	t.Helper()
	a, err := Balance(st, alice)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Balance(st, bob)
	if err != nil {
		t.Fatal(err)
	}
	return [2]uint64{a, b}
}

func TestExecuteTx(t *testing.T) {
	tests := []struct {
		name     string
		start    [2]uint64 // alice, bob
		payload  []byte
		wantCode uint32
		want     [2]uint64
	}{
		{"transfer", [2]uint64{100, 0}, TransferPayload(bob, 30), chain.CodeOK, [2]uint64{70, 30}},
		{"whole balance", [2]uint64{100, 1}, TransferPayload(bob, 100), chain.CodeOK, [2]uint64{0, 101}},
		{"insufficient", [2]uint64{100, 0}, TransferPayload(bob, 101), CodeInsufficientFunds, [2]uint64{100, 0}},
		{"empty account", [2]uint64{0, 0}, TransferPayload(bob, 1), CodeInsufficientFunds, [2]uint64{0, 0}},
		{"overflow", [2]uint64{2, math.MaxUint64 - 1}, TransferPayload(bob, 2), CodeOverflow, [2]uint64{2, math.MaxUint64 - 1}},
		{"to the limit", [2]uint64{1, math.MaxUint64 - 1}, TransferPayload(bob, 1), chain.CodeOK, [2]uint64{0, math.MaxUint64}},
		{"to self", [2]uint64{10, 0}, TransferPayload(alice, 10), chain.CodeOK, [2]uint64{10, 0}},
		{"bad payload", [2]uint64{10, 0}, []byte("transfer"), CodeBadPayload, [2]uint64{10, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := chain.NewMemState()
			fund(t, st, map[chain.Address]uint64{alice: tc.start[0], bob: tc.start[1]})
			before := st.Len()
			rc := New().ExecuteTx(chain.TxContext{Sender: alice}, tc.payload, st)
			if rc.Code != tc.wantCode {
				t.Fatalf("code = %d (%s), want %d", rc.Code, rc.Message, tc.wantCode)
			}
			if got := balances(t, st); got != tc.want {
				t.Fatalf("balances = %v, want %v", got, tc.want)
			}
			if rc.Code != chain.CodeOK && st.Len() != before {
				t.Fatalf("failed tx changed the key count from %d to %d", before, st.Len())
			}
		})
	}
}

func TestTransferEvent(t *testing.T) {
	st := chain.NewMemState()
	fund(t, st, map[chain.Address]uint64{alice: 5})
	rc := New().ExecuteTx(chain.TxContext{Sender: alice}, TransferPayload(bob, 5), st)
	want := chain.Event{Type: "bank.transfer", Attributes: []chain.Attribute{
		{Key: "from", Value: alice.Hex()}, {Key: "to", Value: bob.Hex()}, {Key: "amount", Value: "5"}}}
	if len(rc.Events) != 1 || rc.Events[0].Type != want.Type || len(rc.Events[0].Attributes) != 3 ||
		rc.Events[0].Attributes[0] != want.Attributes[0] || rc.Events[0].Attributes[1] != want.Attributes[1] ||
		rc.Events[0].Attributes[2] != want.Attributes[2] {
		t.Fatalf("events = %+v", rc.Events)
	}
	// A zero balance leaves no key behind.
	if v, _ := st.Get(balanceKey(alice)); v != nil {
		t.Fatalf("zero balance stored as %x", v)
	}
}

func TestCheckTx(t *testing.T) {
	st := chain.NewMemState()
	fund(t, st, map[chain.Address]uint64{alice: 5})
	app := New()
	if err := app.CheckTx(chain.TxContext{Sender: alice}, TransferPayload(bob, 5), st); err != nil {
		t.Fatalf("affordable: %v", err)
	}
	err := app.CheckTx(chain.TxContext{Sender: alice}, TransferPayload(bob, 6), st)
	if err == nil || err.Error() != "bank: insufficient funds: balance 5, amount 6" {
		t.Fatalf("unaffordable: %v", err)
	}
	if err := app.CheckTx(chain.TxContext{Sender: alice}, []byte("x"), st); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("bad payload: %v", err)
	}
	if st.Len() != 1 {
		t.Fatalf("CheckTx wrote state")
	}
}

func TestQuery(t *testing.T) {
	st := chain.NewMemState()
	fund(t, st, map[chain.Address]uint64{alice: 1000})
	st.SetHeight(3)
	app := New()
	want := `{"address":"0x00000000000000000000000000000000000000A1","balance":"1000","height":3}`
	for _, data := range [][]byte{[]byte("0x00000000000000000000000000000000000000a1"), alice[:]} {
		out, err := app.Query(st, QueryBalance, data)
		if err != nil || string(out) != want {
			t.Fatalf("query %x = %s, %v; want %s", data, out, err, want)
		}
	}
	out, err := app.Query(st, QueryBalance, []byte(bob.Hex()))
	if err != nil || string(out) != `{"address":"0x00000000000000000000000000000000000000B0","balance":"0","height":3}` {
		t.Fatalf("empty account = %s, %v", out, err)
	}
	if _, err := app.Query(st, QueryBalance, []byte("0x12")); !errors.Is(err, ErrBadAddress) {
		t.Fatalf("bad address err = %v", err)
	}
	if _, err := app.Query(st, "supply", nil); !errors.Is(err, chain.ErrUnknownQuery) {
		t.Fatalf("unknown query err = %v", err)
	}
}

func TestInitState(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    [2]uint64
		wantErr string
	}{
		{"null", "null", [2]uint64{0, 0}, ""},
		{"absent", "", [2]uint64{0, 0}, ""},
		{"funded", `{"accounts":[{"address":"0x00000000000000000000000000000000000000a1","balance":"1000"},
			{"address":"0x00000000000000000000000000000000000000B0","balance":"18446744073709551615"}]}`,
			[2]uint64{1000, math.MaxUint64}, ""},
		{"zero balance", `{"accounts":[{"address":"0x00000000000000000000000000000000000000a1","balance":"0"}]}`, [2]uint64{0, 0}, ""},
		{"bad address", `{"accounts":[{"address":"0xa1","balance":"1"}]}`, [2]uint64{},
			`bank app_state: accounts[0].address: bank: address is not 0x followed by 40 hex digits: "0xa1"`},
		{"bad balance", `{"accounts":[{"address":"0x00000000000000000000000000000000000000a1","balance":"1.5"}]}`, [2]uint64{},
			`bank app_state: accounts[0].balance: bank: amount is not a decimal integer from 1 to 18446744073709551615 without leading zeros: "1.5"`},
		{"balance too big", `{"accounts":[{"address":"0x00000000000000000000000000000000000000a1","balance":"18446744073709551616"}]}`, [2]uint64{},
			`bank app_state: accounts[0].balance: bank: amount is not a decimal integer from 1 to 18446744073709551615 without leading zeros: "18446744073709551616"`},
		{"numeric balance", `{"accounts":[{"address":"0x00000000000000000000000000000000000000a1","balance":1}]}`, [2]uint64{},
			"bank app_state: json: cannot unmarshal number into Go struct field Account.accounts.balance of type string"},
		{"duplicate", `{"accounts":[{"address":"0x00000000000000000000000000000000000000a1","balance":"1"},
			{"address":"0x00000000000000000000000000000000000000A1","balance":"2"}]}`, [2]uint64{},
			"bank app_state: accounts[1].address: 0x00000000000000000000000000000000000000A1 already funded by accounts[0]"},
		{"unknown field", `{"acounts":[]}`, [2]uint64{}, `bank app_state: json: unknown field "acounts"`},
		{"case variant", `{"accounts":[{"Address":"0x00000000000000000000000000000000000000a1","balance":"1"}]}`, [2]uint64{},
			`bank app_state: accounts[0].Address: unknown field (names are case-sensitive: did you mean "address"?)`},
		{"field twice", `{"accounts":[{"address":"0x00000000000000000000000000000000000000a1","balance":"1","balance":"9"}]}`, [2]uint64{},
			"bank app_state: accounts[0].balance: field given twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := chain.NewMemState()
			err := New().InitState(json.RawMessage(tc.raw), st)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if st.Len() != 0 {
					t.Fatalf("bad app_state wrote %d keys", st.Len())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := balances(t, st); got != tc.want {
				t.Fatalf("balances = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestQueryMethodGetBalance(t *testing.T) {
	ms := New().(*App).QueryMethods()
	if err := chain.ValidateQueryMethods(ms); err != nil || len(ms) != 1 || ms[0].Name != "getBalance" {
		t.Fatalf("methods = %+v, %v", ms, err)
	}
	addr := common.HexToAddress("0x3a8F000000000000000000000000000000000001")
	st := chain.NewMemState()
	if err := New().InitState(json.RawMessage(`{"accounts":[{"address":"`+addr.Hex()+`","balance":"18446744073709551615"}]}`), st); err != nil {
		t.Fatal(err)
	}
	st.SetHeight(9)
	res, err := ms[0].Run(st, []any{addr})
	out, _ := json.Marshal(res)
	if want := `{"address":"0x3a8f000000000000000000000000000000000001","balance":18446744073709551615,"height":9}`; err != nil || string(out) != want {
		t.Fatalf("getBalance = %s, %v; want %s", out, err, want)
	}
}
