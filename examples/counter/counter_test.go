package counter_test

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/json"
	"io"
	"log/slog"
	"reflect"
	"testing"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/apps"
	"github.com/bafomet/bafomet/examples/counter"
	"github.com/ethereum/go-ethereum/crypto"
)

const chainID = "counter-test"

func TestCounterThroughExecutor(t *testing.T) {
	reg := apps.Builtin()
	reg[counter.Name] = counter.New
	app, err := reg.New("counter")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := chain.OpenStore(t.TempDir(), chain.StoreOptions{MemTableBytes: 8 << 20, BlockCacheBytes: 1 << 20, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	exec := chain.NewExecutor(store, app, chainID, log)
	if _, err := exec.InitGenesis(nil); err != nil {
		t.Fatal(err)
	}
	key, err := crypto.ToECDSA(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	b := block(t, key, 1, chain.Hash{}, "inc 5", "dec 7", "dec 2", "inc 0", "bump 1")
	res, err := exec.ApplyBlock(b, &chain.Certificate{Height: 1, BlockHash: b.Hash()})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]uint32, len(res.Receipts))
	for i, r := range res.Receipts {
		got[i] = r.Code
	}
	want := []uint32{chain.CodeOK, counter.CodeUnderflow, chain.CodeOK, counter.CodeBadPayload, counter.CodeBadPayload}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("codes = %v, want %v", got, want)
	}
	me := crypto.PubkeyToAddress(key.PublicKey)
	out, err := exec.Query("value", []byte(me.Hex()))
	if err != nil || string(out) != `{"account":"`+me.Hex()+`","value":3}` {
		t.Fatalf("value = %s, %v", out, err)
	}
	if err := app.InitState([]byte(`{"start":1}`), chain.NewMemState()); err == nil {
		t.Fatal("non-empty app_state accepted")
	}
}

// block signs payloads with consecutive nonces from 0 into block height.
func block(t *testing.T, key *ecdsa.PrivateKey, height uint64, parent chain.Hash, payloads ...string) *chain.Block {
	t.Helper()
	b := &chain.Block{Header: chain.Header{Height: height, ParentHash: parent, Timestamp: 1}}
	for i, p := range payloads {
		tx, err := chain.SignTx(key, chainID, uint64(i), []byte(p))
		if err != nil {
			t.Fatal(err)
		}
		b.Txs = append(b.Txs, tx.Bytes())
		b.Senders = append(b.Senders, crypto.PubkeyToAddress(key.PublicKey))
	}
	b.Header.TxRoot = chain.TxRoot(b.Txs, b.Senders)
	return b
}

func TestStepLimit(t *testing.T) {
	tests := []struct {
		payload string
		code    uint32
	}{
		{"inc 1000000", chain.CodeOK},
		{"inc 1000001", counter.CodeBadPayload},
		{"inc 01", counter.CodeBadPayload},
		{"inc -1", counter.CodeBadPayload},
		{"inc", counter.CodeBadPayload},
	}
	for _, tc := range tests {
		rc := counter.New().ExecuteTx(chain.TxContext{}, []byte(tc.payload), chain.NewMemState())
		if rc.Code != tc.code {
			t.Errorf("%q: code %d (%s), want %d", tc.payload, rc.Code, rc.Message, tc.code)
		}
	}
}

func TestQueryMethodValue(t *testing.T) {
	ms := counter.New().(chain.QueryService).QueryMethods()
	if err := chain.ValidateQueryMethods(ms); err != nil || len(ms) != 1 || ms[0].Name != "value" {
		t.Fatalf("methods = %+v, %v", ms, err)
	}
	me := chain.Address{0xAB, 19: 0x01}
	st := chain.NewMemState()
	for _, p := range []string{"inc 7", "dec 2"} {
		if r := counter.New().ExecuteTx(chain.TxContext{Sender: me}, []byte(p), st); !r.OK() {
			t.Fatalf("%s: %+v", p, r)
		}
	}
	st.SetHeight(4)
	res, err := ms[0].Run(st, []any{me})
	out, _ := json.Marshal(res)
	if want := `{"account":"0xab00000000000000000000000000000000000001","value":5,"height":4}`; err != nil || string(out) != want {
		t.Fatalf("value = %s, %v; want %s", out, err, want)
	}
}
