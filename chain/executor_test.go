package chain_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/apps/bank"
	"github.com/bafomet/bafomet/chain/apps/kv"
)

func query(t *testing.T, n *testNode, path, data string) string {
	t.Helper()
	out, err := n.exec.Query(path, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestApplyBlockKV(t *testing.T) {
	n := newTestNode(t, kv.New(), `{"entries":[{"key":"seed","value":"0"}]}`)
	defer n.close()
	k1, k2 := keyN(t, 1), keyN(t, 2)
	txs := []signed{
		sign(t, k1, 0, "a=1"),
		sign(t, k1, 1, "no separator"), // app failure: nonce still advances
		sign(t, k1, 1, "b=2"),          // bad nonce: 1 was used
		sign(t, k1, 2, "b=2"),
		sign(t, k2, 5, "c=3"), // bad nonce: k2's next is 0
	}
	res := n.apply(txs...)
	want := []uint32{chain.CodeOK, kv.CodeBadPayload, chain.CodeBadNonce, chain.CodeOK, chain.CodeBadNonce}
	if got := codes(res.Receipts); !reflect.DeepEqual(got, want) {
		t.Fatalf("codes = %v, want %v", got, want)
	}
	if res.Receipts[2].Message != "nonce 1, expected 2" || res.Receipts[4].Message != "nonce 5, expected 0" {
		t.Fatalf("nonce messages = %q, %q", res.Receipts[2].Message, res.Receipts[4].Message)
	}
	for _, tc := range []struct {
		key, want string
	}{
		{"seed", `{"key":"seed","value":"0","found":true,"height":1}`},
		{"a", `{"key":"a","value":"1","found":true,"height":1}`},
		{"b", `{"key":"b","value":"2","found":true,"height":1}`},
		{"c", `{"key":"c","value":"","found":false,"height":1}`},
	} {
		if got := query(t, n, kv.QueryGet, tc.key); got != tc.want {
			t.Errorf("get %s = %s, want %s", tc.key, got, tc.want)
		}
	}
	for _, tc := range []struct {
		k    chain.Address
		want uint64
	}{{addr(k1), 3}, {addr(k2), 0}} {
		if got, err := n.store.Nonce(tc.k); err != nil || got != tc.want {
			t.Errorf("nonce %s = %d, %v; want %d", tc.k, got, err, tc.want)
		}
	}
	checkStored(t, n, res)
}

// checkStored checks every read path of the block store for block 1.
func checkStored(t *testing.T, n *testNode, res *chain.BlockResult) {
	t.Helper()
	b, err := n.store.Block(1)
	if err != nil || b.Hash() != res.Hash {
		t.Fatalf("Block(1) = %v", err)
	}
	if bh, err := n.store.BlockByHash(res.Hash); err != nil || bh.Header.Height != 1 {
		t.Fatalf("BlockByHash = %v", err)
	}
	if c, err := n.store.Certificate(1); err != nil || c.BlockHash != res.Hash || len(c.Signatures) != 1 {
		t.Fatalf("Certificate(1) = %+v, %v", c, err)
	}
	latest, lh, err := n.store.LatestBlock()
	if err != nil || lh != res.Hash || latest.Header.Height != 1 {
		t.Fatalf("LatestBlock = %v", err)
	}
	for i, h := range res.TxHashes {
		rec, err := n.store.Tx(h)
		if err != nil || rec.Height != 1 || rec.Index != uint64(i) || rec.Receipt.Code != res.Receipts[i].Code ||
			rec.Receipt.Message != res.Receipts[i].Message {
			t.Fatalf("Tx(%d) = %+v, %v", i, rec, err)
		}
	}
	if rs, err := n.store.Receipts(1); err != nil || !reflect.DeepEqual(codes(rs), codes(res.Receipts)) ||
		rs[2].Message != res.Receipts[2].Message {
		t.Fatalf("Receipts(1) = %+v, %v", rs, err)
	}
	if ah, err := n.store.AppHashAt(1); err != nil || ah != res.AppHash {
		t.Fatalf("AppHashAt(1) = %s, %v; want %s", ah, err, res.AppHash)
	}
	if _, err := n.store.Block(2); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("Block(2) err = %v", err)
	}
}

func TestReceiptEventsStored(t *testing.T) {
	n := newTestNode(t, kv.New(), "")
	defer n.close()
	res := n.apply(sign(t, keyN(t, 1), 0, "x=y"))
	rec, err := n.store.Tx(res.TxHashes[0])
	if err != nil {
		t.Fatal(err)
	}
	want := chain.Event{Type: "kv.set", Attributes: []chain.Attribute{{Key: "key", Value: "x"}}}
	if len(rec.Receipt.Events) != 1 || !reflect.DeepEqual(rec.Receipt.Events[0], want) {
		t.Fatalf("events = %+v", rec.Receipt.Events)
	}
}

func TestBankThroughExecutor(t *testing.T) {
	alice, bob := keyN(t, 1), keyN(t, 2)
	state := `{"accounts":[{"address":"` + addr(alice).Hex() + `","balance":"100"}]}`
	n := newTestNode(t, bank.New(), state)
	defer n.close()
	before, err := n.store.AppHashAt(0)
	if err != nil {
		t.Fatal(err)
	}
	res := n.apply(
		sign(t, alice, 0, string(bank.TransferPayload(addr(bob), 30))),
		sign(t, alice, 1, string(bank.TransferPayload(addr(bob), 71))), // insufficient
		sign(t, bob, 0, string(bank.TransferPayload(addr(alice), 5))),
	)
	want := []uint32{chain.CodeOK, bank.CodeInsufficientFunds, chain.CodeOK}
	if got := codes(res.Receipts); !reflect.DeepEqual(got, want) {
		t.Fatalf("codes = %v, want %v", got, want)
	}
	for _, tc := range []struct {
		who  chain.Address
		want string
	}{
		{addr(alice), `{"address":"` + addr(alice).Hex() + `","balance":"75","height":1}`},
		{addr(bob), `{"address":"` + addr(bob).Hex() + `","balance":"25","height":1}`},
	} {
		if got := query(t, n, bank.QueryBalance, tc.who.Hex()); got != tc.want {
			t.Errorf("balance = %s, want %s", got, tc.want)
		}
	}
	if res.AppHash == before {
		t.Fatal("appHash did not change")
	}
}

func TestCheckTx(t *testing.T) {
	alice := keyN(t, 1)
	n := newTestNode(t, bank.New(), `{"accounts":[{"address":"`+addr(alice).Hex()+`","balance":"10"}]}`)
	defer n.close()
	mk := func(chainID string, payload []byte) *chain.Tx {
		tx, err := chain.SignTx(alice, chainID, 0, payload)
		if err != nil {
			t.Fatal(err)
		}
		return tx
	}
	if err := n.exec.CheckTx(mk(testChainID, bank.TransferPayload(addr(keyN(t, 2)), 10)), addr(alice)); err != nil {
		t.Fatalf("affordable: %v", err)
	}
	if err := n.exec.CheckTx(mk(testChainID, bank.TransferPayload(addr(keyN(t, 2)), 11)), addr(alice)); err == nil ||
		err.Error() != "bank check: bank: insufficient funds: balance 10, amount 11" {
		t.Fatalf("unaffordable: %v", err)
	}
	if err := n.exec.CheckTx(mk("other", bank.TransferPayload(addr(alice), 1)), addr(alice)); !errors.Is(err, chain.ErrTxWrongChainID) {
		t.Fatalf("wrong chain: %v", err)
	}
}

func TestInitGenesis(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	defer s.Close()
	e := chain.NewExecutor(s, kv.New(), testChainID, quietLog)
	if _, err := s.Height(); !errors.Is(err, chain.ErrNotInitialized) {
		t.Fatalf("height before genesis: %v", err)
	}
	if _, err := s.StateView(); !errors.Is(err, chain.ErrNotInitialized) {
		t.Fatalf("view before genesis: %v", err)
	}
	if _, err := e.InitGenesis(json.RawMessage(`{"entries":[{"key":"","value":"x"}]}`)); err == nil ||
		err.Error() != "init kv state: kv app_state: entries[0]: key is empty" {
		t.Fatalf("bad app_state: %v", err)
	}
	if ok, err := s.Initialized(); ok || err != nil {
		t.Fatalf("initialized after a failed genesis: %v, %v", ok, err)
	}
	h0, err := e.InitGenesis(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.InitGenesis(nil); !errors.Is(err, chain.ErrInitialized) {
		t.Fatalf("second genesis: %v", err)
	}
	if got, err := s.AppHashAt(0); err != nil || got != h0 {
		t.Fatalf("AppHashAt(0) = %s, %v", got, err)
	}
	if _, _, err := s.LatestBlock(); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("latest block at genesis: %v", err)
	}
	var empty chain.LtHash
	if h0 != empty.AppHash() {
		t.Fatalf("empty genesis appHash = %s, want the empty accumulator's %s", h0, empty.AppHash())
	}
}

func TestApplyBlockRejects(t *testing.T) {
	n := newTestNode(t, kv.New(), "")
	defer n.close()
	n.apply(sign(t, keyN(t, 1), 0, "a=1"))
	parent := n.parentHash()
	good, goodCert := makeBlock(t, 2, parent, nil)
	skip, skipCert := makeBlock(t, 3, parent, nil)
	orphan, orphanCert := makeBlock(t, 2, chain.Hash{9}, nil)
	badRoot, badRootCert := makeBlock(t, 2, parent, []signed{sign(t, keyN(t, 1), 1, "b=1")})
	badRoot.Senders[0] = chain.Address{1}
	badRootCert.BlockHash = badRoot.Hash()
	otherCert := *goodCert
	otherCert.BlockHash = chain.Hash{1}
	tests := []struct {
		name    string
		b       *chain.Block
		c       *chain.Certificate
		wantErr error
	}{
		{"skips a height", skip, skipCert, chain.ErrWrongHeight},
		{"repeats a height", mustBlock(t, n, 1), goodCert, chain.ErrWrongHeight},
		{"wrong parent", orphan, orphanCert, chain.ErrWrongParent},
		{"certificate of another block", good, &otherCert, chain.ErrCertMismatch},
		{"certificate of another height", good, skipCert, chain.ErrCertMismatch},
		{"senders do not match root", badRoot, badRootCert, chain.ErrTxRootMismatch},
		{"nil certificate", good, nil, chain.ErrNilBlockOrCert},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := n.exec.ApplyBlock(tc.b, tc.c); !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if n.height() != 1 {
				t.Fatalf("height moved to %d", n.height())
			}
		})
	}
	if _, err := n.exec.ApplyBlock(good, goodCert); err != nil {
		t.Fatalf("the good block after the rejects: %v", err)
	}
}

func mustBlock(t *testing.T, n *testNode, h uint64) *chain.Block {
	t.Helper()
	b, err := n.store.Block(h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReplayedTxKeepsFirstRecord(t *testing.T) {
	n := newTestNode(t, kv.New(), "")
	defer n.close()
	tx := sign(t, keyN(t, 1), 0, "a=1")
	first := n.apply(tx)
	second := n.apply(tx, tx)
	if got := codes(second.Receipts); !reflect.DeepEqual(got, []uint32{chain.CodeBadNonce, chain.CodeBadNonce}) {
		t.Fatalf("replay codes = %v", got)
	}
	rec, err := n.store.Tx(first.TxHashes[0])
	if err != nil || rec.Height != 1 || rec.Receipt.Code != chain.CodeOK {
		t.Fatalf("record = %+v, %v", rec, err)
	}
	// A transaction first included too early and executed later is
	// indexed at its execution.
	early := sign(t, keyN(t, 1), 2, "c=3")
	n.apply(early)
	res := n.apply(sign(t, keyN(t, 1), 1, "b=2"), early)
	if got := codes(res.Receipts); !reflect.DeepEqual(got, []uint32{chain.CodeOK, chain.CodeOK}) {
		t.Fatalf("codes = %v", got)
	}
	if rec, err := n.store.Tx(res.TxHashes[1]); err != nil || rec.Height != 4 || rec.Index != 1 || rec.Receipt.Code != chain.CodeOK {
		t.Fatalf("late record = %+v, %v", rec, err)
	}
}
