package rpc

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/apps/bank"
	"github.com/bafomet/bafomet/ordering"
)

// chainFixture is a backend with two blocks: block 1 empty, block 2 with
// two transactions from user 10.
type chainFixture struct {
	f      *fakeBackend
	s      *Server
	url    string
	b2     *StoredBlock
	tx1    *chain.Tx
	tx2    *chain.Tx
	sender chain.Address
}

func newChainFixture(t *testing.T) *chainFixture {
	t.Helper()
	f := newFakeBackend(t)
	user := testKey(t, 10)
	tx1, tx2 := signTx(t, user, 0, "a=1"), signTx(t, user, 1, "b=2")
	f.commit(t)
	b2 := f.commit(t, tx1, tx2)
	s := startServer(t, Config{}, f)
	return &chainFixture{f: f, s: s, url: httpURL(s), b2: b2, tx1: tx1, tx2: tx2, sender: crypto.PubkeyToAddress(user.PublicKey)}
}

func TestBlockNumberAndBlocks(t *testing.T) {
	fx := newChainFixture(t)
	if got := result(t, fx.url, "chain_blockNumber", `[]`); got != float64(2) {
		t.Fatalf("blockNumber = %v, want 2", got)
	}
	hash := fx.b2.Block.Hash().Hex()
	for _, tc := range []struct{ method, params string }{
		{"chain_getBlockByNumber", `[2, false]`},
		{"chain_getBlockByNumber", `["latest"]`},
		{"chain_getBlockByHash", `["` + hash + `", false]`},
	} {
		b := result(t, fx.url, tc.method, tc.params).(map[string]any)
		want := sortedKeys("height,hash,parentHash,timestamp,proposer,txRoot,appHash,validatorsHash,view,transactions,certificate")
		if got := keys(t, b); got != want {
			t.Fatalf("%s keys = %s, want %s", tc.method, got, want)
		}
		h := fx.b2.Block.Header
		checks := map[string]any{
			"height": float64(2), "hash": hash, "parentHash": h.ParentHash.Hex(), "timestamp": float64(h.Timestamp),
			"proposer": strings.ToLower(h.Proposer.Hex()), "txRoot": h.TxRoot.Hex(), "view": float64(1),
		}
		for k, v := range checks {
			if b[k] != v {
				t.Errorf("%s %s: %s = %v, want %v", tc.method, tc.params, k, b[k], v)
			}
		}
		txs := b["transactions"].([]any)
		if len(txs) != 2 || txs[0] != fx.tx1.Hash().Hex() || txs[1] != fx.tx2.Hash().Hex() {
			t.Errorf("transactions = %v", txs)
		}
		cert := b["certificate"].(map[string]any)
		if cert["blockHash"] != hash || len(cert["signatures"].([]any)) != 3 {
			t.Errorf("certificate = %v", cert)
		}
	}
}

func TestBlockFullTransactions(t *testing.T) {
	fx := newChainFixture(t)
	b := result(t, fx.url, "chain_getBlockByNumber", `[2, true]`).(map[string]any)
	txs := b["transactions"].([]any)
	if len(txs) != 2 {
		t.Fatalf("got %d transactions", len(txs))
	}
	tx := txs[1].(map[string]any)
	if got, want := keys(t, tx), sortedKeys("hash,chainId,nonce,payload,signature,sender,height,index"); got != want {
		t.Fatalf("tx keys = %s, want %s", got, want)
	}
	want := map[string]any{
		"hash": fx.tx2.Hash().Hex(), "chainId": testChainID, "nonce": float64(1), "payload": "0x623d32",
		"sender": strings.ToLower(fx.sender.Hex()), "height": float64(2), "index": float64(1),
		"signature": hexutil.Encode(fx.tx2.Signature),
	}
	for k, v := range want {
		if tx[k] != v {
			t.Errorf("%s = %v, want %v", k, tx[k], v)
		}
	}
}

func TestAbsentResultsAreNull(t *testing.T) {
	fx := newChainFixture(t)
	for _, tc := range []struct{ method, params string }{
		{"chain_getBlockByNumber", `[3, false]`},
		{"chain_getBlockByNumber", `[0, false]`},
		{"chain_getBlockByHash", `["0x` + strings.Repeat("11", 32) + `", true]`},
		{"chain_getCertificate", `[99]`},
		{"chain_verifyCertificate", `[99]`},
		{"chain_getTransaction", `["0x` + strings.Repeat("22", 32) + `"]`},
	} {
		r := call(t, fx.url, tc.method, tc.params)
		if r.Error != nil || string(r.Result) != "null" {
			t.Errorf("%s%s = %s %v, want null", tc.method, tc.params, r.Result, r.Error)
		}
	}
}

func TestGetCertificateVerifies(t *testing.T) {
	fx := newChainFixture(t)
	var c Certificate
	raw := call(t, fx.url, "chain_getCertificate", `[2]`).Result
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	if c.Height != 2 || c.View != 1 || c.BlockHash != fx.b2.Block.Hash() || len(c.Signatures) != 3 {
		t.Fatalf("certificate = %+v", c)
	}
	vals := make([]chain.Validator, len(fx.f.vals))
	for i, v := range fx.f.vals {
		vals[i] = v.Validator
	}
	vs, err := chain.NewValidatorSet(vals)
	if err != nil {
		t.Fatal(err)
	}
	cert := chain.Certificate{Height: c.Height, View: c.View, BlockHash: c.BlockHash}
	for i, sig := range c.Signatures {
		if sig.Address != vals[sig.Validator].Address {
			t.Errorf("signature %d address %s, want %s", i, sig.Address, vals[sig.Validator].Address)
		}
		cert.Signatures = append(cert.Signatures, chain.CommitSig{Validator: sig.Validator, Signature: sig.Signature})
	}
	if err := cert.Verify(testChainID, vs); err != nil {
		t.Fatalf("certificate from RPC does not verify: %v", err)
	}
	if got := keys(t, result(t, fx.url, "chain_getCertificate", `["latest"]`)); got != "blockHash,height,signatures,view" {
		t.Fatalf("keys = %s", got)
	}
}

// TestVerifyCertificate: the node's verdict on a stored certificate names
// its signers and the quorum; a certificate short of a quorum, or with a
// signature that does not verify, or for another block, is not valid and
// the error says why.
func TestVerifyCertificate(t *testing.T) {
	fx := newChainFixture(t)
	verdict := func(number string) CertificateVerdict {
		t.Helper()
		var v CertificateVerdict
		if err := json.Unmarshal(call(t, fx.url, "chain_verifyCertificate", "["+number+"]").Result, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	v := verdict("2")
	if !v.Valid || v.Error != nil || v.Height != 2 || v.View != 1 || v.BlockHash != fx.b2.Block.Hash() ||
		!slices.Equal(v.Signers, []uint32{0, 1, 2}) || v.Quorum != 3 || v.Validators != 4 {
		t.Fatalf("verdict on a good certificate: %+v", v)
	}
	if got := keys(t, result(t, fx.url, "chain_verifyCertificate", `["latest"]`)); got != "blockHash,error,height,quorum,signers,valid,validators,view" {
		t.Fatalf("keys = %s", got)
	}

	fx.f.mu.Lock()
	good := *fx.b2.Certificate
	short := good
	short.Signatures = good.Signatures[:2]
	forged := good
	forged.Signatures = slices.Clone(good.Signatures)
	forged.Signatures[1].Signature = slices.Clone(forged.Signatures[1].Signature)
	forged.Signatures[1].Signature[5] ^= 1
	other := good
	other.BlockHash = chain.Hash{1}
	fx.f.mu.Unlock()
	for name, c := range map[string]chain.Certificate{"short of a quorum": short, "forged signature": forged, "another block": other} {
		fx.f.mu.Lock()
		fx.f.blocks[1] = &StoredBlock{Block: fx.b2.Block, Certificate: &c}
		fx.f.mu.Unlock()
		if v := verdict("2"); v.Valid || v.Error == nil || *v.Error == "" {
			t.Errorf("%s: verdict %+v, want invalid with a reason", name, v)
		}
	}
}

func TestGetTransactionStatuses(t *testing.T) {
	fx := newChainFixture(t)
	user := testKey(t, 11)
	pend, queued, dropped := signTx(t, user, 0, "p=1"), signTx(t, user, 5, "q=1"), signTx(t, user, 1, "d=1")
	addr := crypto.PubkeyToAddress(user.PublicKey)
	fx.f.mu.Lock()
	fx.f.txs[pend.Hash()] = &TxInfo{Status: TxPending, Tx: pend, Sender: addr}
	fx.f.txs[queued.Hash()] = &TxInfo{Status: TxQueued, Tx: queued, Sender: addr}
	// The node keeps no payload for a dropped transaction (the mempool's
	// table of drops holds its hash, sender and nonce): payload is null,
	// never "0x", which would claim an empty payload.
	fx.f.txs[dropped.Hash()] = &TxInfo{Status: TxDropped, Sender: addr, Nonce: 1, Reason: "time-to-live expired"}
	fx.f.mu.Unlock()
	allKeys := sortedKeys("hash,status,height,index,sender,nonce,payload,receipt,reason")
	tests := []struct {
		tx   *chain.Tx
		want string
	}{
		{fx.tx2, fmt.Sprintf(`{"hash":%q,"status":"committed","height":2,"index":1,"sender":%q,"nonce":1,"payload":"0x623d32","receipt":{"code":0,"message":"","events":[{"type":"kv.set","attributes":[{"key":"key","value":"k"}]}]},"reason":null}`,
			fx.tx2.Hash().Hex(), strings.ToLower(fx.sender.Hex()))},
		{pend, fmt.Sprintf(`{"hash":%q,"status":"pending","height":null,"index":null,"sender":%q,"nonce":0,"payload":"0x703d31","receipt":null,"reason":null}`,
			pend.Hash().Hex(), strings.ToLower(addr.Hex()))},
		{queued, fmt.Sprintf(`{"hash":%q,"status":"queued","height":null,"index":null,"sender":%q,"nonce":5,"payload":"0x713d31","receipt":null,"reason":null}`,
			queued.Hash().Hex(), strings.ToLower(addr.Hex()))},
		{dropped, fmt.Sprintf(`{"hash":%q,"status":"dropped","height":null,"index":null,"sender":%q,"nonce":1,"payload":null,"receipt":null,"reason":"time-to-live expired"}`,
			dropped.Hash().Hex(), strings.ToLower(addr.Hex()))},
	}
	for _, tc := range tests {
		r := call(t, fx.url, "chain_getTransaction", `["`+tc.tx.Hash().Hex()+`"]`)
		if string(r.Result) != tc.want {
			t.Errorf("getTransaction:\n got %s\nwant %s", r.Result, tc.want)
		}
		var v any
		_ = json.Unmarshal(r.Result, &v)
		if got := keys(t, v); got != allKeys {
			t.Errorf("keys = %s, want %s", got, allKeys)
		}
	}
}

func TestSendTransactionAndNonce(t *testing.T) {
	fx := newChainFixture(t)
	tx := signTx(t, testKey(t, 10), 2, "c=3")
	r := call(t, fx.url, "chain_sendTransaction", `["`+hexutil.Encode(tx.Bytes())+`"]`)
	if r.Error != nil || string(r.Result) != `"`+tx.Hash().Hex()+`"` {
		t.Fatalf("sendTransaction = %s %v, want %s", r.Result, r.Error, tx.Hash().Hex())
	}
	fx.f.mu.Lock()
	sent := fx.f.sent
	fx.f.mu.Unlock()
	if len(sent) != 1 || sent[0].Hash() != tx.Hash() {
		t.Fatalf("backend got %v", sent)
	}
	addr := `"` + fx.sender.Hex() + `"`
	for _, tc := range []struct {
		params string
		want   float64
	}{
		{`[` + addr + `]`, 2},
		{`[` + addr + `, "latest"]`, 2},
		{`[` + addr + `, "pending"]`, 3},
		{`["0x` + strings.Repeat("00", 20) + `"]`, 0},
	} {
		if got := result(t, fx.url, "chain_getNonce", tc.params); got != tc.want {
			t.Errorf("getNonce%s = %v, want %v", tc.params, got, tc.want)
		}
	}
}

func TestStatusValidatorsMempoolEvidence(t *testing.T) {
	fx := newChainFixture(t)
	f := fx.f
	wantStatus := fmt.Sprintf(`{"chainId":%q,"genesisHash":%q,"nodeAddress":%q,"peerId":"peer0","height":2,"earliestHeight":1,"latestBlockHash":%q,"latestBlockTime":%d,"view":1,"primary":%q,"syncing":false,"peers":2,"sync":null}`,
		testChainID, f.GenesisHash().Hex(), strings.ToLower(f.vals[0].Validator.Address.Hex()), fx.b2.Block.Hash().Hex(),
		fx.b2.Block.Header.Timestamp, strings.ToLower(f.vals[1].Validator.Address.Hex()))
	if got := string(call(t, fx.url, "chain_status", `[]`).Result); got != wantStatus {
		t.Errorf("status:\n got %s\nwant %s", got, wantStatus)
	}
	vals := result(t, fx.url, "chain_validators", `[]`).([]any)
	if len(vals) != 4 {
		t.Fatalf("got %d validators", len(vals))
	}
	v3 := vals[3].(map[string]any)
	if keys(t, v3) != "address,name,online,peerId,publicKey" || v3["name"] != "val3" || v3["online"] != false ||
		v3["peerId"] != "peer3" || v3["publicKey"] != hexutil.Encode(f.vals[3].Validator.PubKey) {
		t.Errorf("validator 3 = %v", v3)
	}
	if got := string(call(t, fx.url, "mempool_status", `[]`).Result); got != `{"size":3,"bytes":420,"limit":5000,"bytesLimit":1048576,"queued":1,"queuedLimit":1250}` {
		t.Errorf("mempool_status = %s", got)
	}
	if got := string(call(t, fx.url, "chain_evidence", `[]`).Result); got != `[]` {
		t.Errorf("empty evidence = %s", got)
	}
	a := &ordering.Message{Type: ordering.MsgPrepare, From: 2, View: 3, Height: 7, Digest: chain.Hash{1}, Signature: []byte{0xaa}}
	b := &ordering.Message{Type: ordering.MsgPrepare, From: 2, View: 3, Height: 7, Digest: chain.Hash{2}, Signature: []byte{0xbb}}
	f.mu.Lock()
	f.evidence = []ordering.Evidence{{A: a, B: b}}
	f.mu.Unlock()
	wantEv := fmt.Sprintf(`[{"validator":2,"type":"prepare","view":3,"height":7,"first":{"type":"prepare","view":3,"height":7,"digest":%q,"signature":"0xaa"},"second":{"type":"prepare","view":3,"height":7,"digest":%q,"signature":"0xbb"}}]`,
		chain.Hash{1}.Hex(), chain.Hash{2}.Hex())
	if got := string(call(t, fx.url, "chain_evidence", `[]`).Result); got != wantEv {
		t.Errorf("evidence:\n got %s\nwant %s", got, wantEv)
	}
}

func TestStatusAtGenesis(t *testing.T) {
	f := newFakeBackend(t)
	s := startServer(t, Config{}, f)
	st := result(t, httpURL(s), "chain_status", `[]`).(map[string]any)
	if st["height"] != float64(0) || st["latestBlockHash"] != nil || st["latestBlockTime"] != nil {
		t.Fatalf("status at genesis = %v", st)
	}
}

func TestAppQueries(t *testing.T) {
	fx := newChainFixture(t)
	fx.f.mu.Lock()
	fx.f.kv["color"] = "blue"
	fx.f.mu.Unlock()
	if got := string(call(t, fx.url, "kv_get", `["color"]`).Result); got != `{"key":"color","value":"blue","height":0}` {
		t.Errorf("kv_get = %s", got)
	}
	if got := string(call(t, fx.url, "kv_get", `["nope"]`).Result); got != `{"key":"nope","value":null,"height":0}` {
		t.Errorf("kv_get absent = %s", got)
	}
	r := call(t, fx.url, "kv_get", `["`+strings.Repeat("k", 257)+`"]`)
	if r.Error == nil || r.Error.Code != CodeInvalidParams || !strings.Contains(r.Error.Message, `parameter "key"`) {
		t.Errorf("kv_get long key = %+v", r.Error)
	}
	addr := fx.sender
	r = call(t, fx.url, "bank_getBalance", `["`+addr.Hex()+`"]`)
	if r.Error == nil || r.Error.Code != CodeAppNotServed {
		t.Errorf("bank on a kv chain = %s %+v", r.Result, r.Error)
	}
	fx.f.mu.Lock()
	fx.f.app, fx.f.balances[addr] = bank.Name, 1_000_000_007
	fx.f.mu.Unlock()
	want := fmt.Sprintf(`{"address":%q,"balance":1000000007,"height":2}`, strings.ToLower(addr.Hex()))
	if got := string(call(t, fx.url, "bank_getBalance", `["`+addr.Hex()+`"]`).Result); got != want {
		t.Errorf("bank_getBalance = %s, want %s", got, want)
	}
}
