package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/big"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/gorilla/websocket"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/rpc"
)

// The issue-6 acceptance tests: every JSON-RPC method and error over real
// HTTP, websocket subscriptions with geth's client and a raw websocket
// client, limits, and the CLI client, against one four-validator testnet
// of real processes shared by the subtests (which run in order).

// Accounts of the RPC testnet, one job each so that nonces never collide.
const (
	accMethods   = 0  // committed transactions for the read methods
	accPending   = 1  // pending and queued transactions
	accErrors    = 2  // application errors at the nonce limits
	accFillPool  = 3  // queued transactions that fill node 3's queued limit
	accPoolFull  = 4  // evicts accFillPool's newest queued one on node 3
	accLoadFirst = 5  // first of the accounts loading while subscribers watch
	accLoadCount = 4  // how many: 5..8
	accRawWS     = 9  // transactions watched by the raw websocket client
	accCLI       = 10 // bafomet tx send
	accStallLoad = 11 // first of the accounts loading while a subscriber stalls
	accStallN    = 4  // how many: 11..14
	accDropped   = 15 // a queued transaction that expires on node 3
	rpcAccounts  = 16
)

// Settings of the RPC testnet that differ from the generated defaults.
const (
	// poolLimitNode3 is node 3's mempool size (and per-sender) limit, so
	// that the mempool-full refusal is cheap to reach.
	poolLimitNode3 = 16
	// stallBufferNode1 is node 1's per-subscription buffer, so that a
	// stalled subscriber overflows after few blocks.
	stallBufferNode1 = 4
	// ttlNode3 is node 3's mempool time-to-live, so that a queued
	// transaction is dropped there quickly.
	ttlNode3 = 3 * time.Second
	// Generated defaults the tests check limits against.
	defaultMaxNonceGap   = 16
	defaultMaxTxBytes    = 65536
	defaultMaxRequest    = 5 << 20
	defaultMaxWSMessage  = 5 << 20
	defaultMaxBatch      = 100
	defaultMaxSubsOnConn = 32
	defaultPoolLimit     = 10000
	defaultPoolBytes     = 64 << 20
	defaultMaxWSConns    = 256
	defaultMaxWSConnsIP  = 64 // rpc.max_ws_connections_per_ip
	// maxLoadPerAccount bounds a background load that the test stops.
	maxLoadPerAccount = 5000
)

// TestRPC starts the testnet and runs the subtests in order.
func TestRPC(t *testing.T) {
	c := newCluster(t, 4, rpcAccounts, "kv")
	c.setConfig(3, "max_txs", "10000", strconv.Itoa(poolLimitNode3))
	c.setConfig(3, "max_txs_per_sender", "64", strconv.Itoa(poolLimitNode3))
	c.setConfig(3, "ttl", `"10m0s"`, strconv.Quote(ttlNode3.String()))
	c.setConfig(1, "subscriber_buffer", "256", strconv.Itoa(stallBufferNode1))
	c.startAll()
	c.waitFor("all validators online", 30*time.Second, func() bool { return c.allOnline(0) })
	// RPC answers before a node's consensus driver runs (and chain_status
	// shows no primary until the first view or commit); a validator whose
	// peers commit a block before its driver starts takes itself for a
	// wiped one and abstains, so nothing is sent until every node has
	// logged that it started.
	c.waitFor("every node started", 30*time.Second, c.allStarted)
	steps := []struct {
		name string
		run  func(*cluster)
	}{
		{"Methods", testRPCMethods},
		{"PendingAndQueued", testRPCPendingQueued},
		{"DroppedByTTL", testRPCDropped},
		{"InvalidRequests", testRPCInvalidRequests},
		{"ApplicationErrors", testRPCApplicationErrors},
		{"MempoolFull", testRPCMempoolFull},
		{"BatchAndBodyLimits", testRPCBatchAndLimits},
		{"WebsocketLimits", testRPCWebsocketLimits},
		{"SubscriptionsUnderLoad", testRPCSubscriptionsUnderLoad},
		{"RawWebsocket", testRPCRawWebsocket},
		{"StalledSubscriber", testRPCStalledSubscriber},
		{"CLI", testRPCCLI},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) { s.run(c.with(t)) })
	}
	for i := range c.m.Nodes {
		c.stop(i)
	}
}

// with returns a copy of c that reports to t, for use inside a subtest.
func (c *cluster) with(t *testing.T) *cluster {
	cp := *c
	cp.t = t
	return &cp
}

// allStarted reports whether every node has logged "node started".
func (c *cluster) allStarted() bool {
	for i := range c.m.Nodes {
		if !strings.Contains(c.log(i), `msg="node started"`) {
			return false
		}
	}
	return true
}

func (c *cluster) allOnline(i int) bool {
	var vals []rpc.Validator
	if c.call(i, &vals, "chain_validators") != nil {
		return false
	}
	for _, v := range vals {
		if !v.Online {
			return false
		}
	}
	return len(vals) == len(c.m.Nodes)
}

// testRPCMethods commits one transaction and reads it back through every
// read method on every node.
func testRPCMethods(c *cluster) {
	t := c.t
	tx := c.signTx(accMethods, 0, "color=blue")
	c.send(0, tx)
	res := c.waitCommitted(0, tx.Hash())
	h := *res.Height
	for i := range c.m.Nodes {
		c.waitFor("commit on "+c.m.Nodes[i].Name, 30*time.Second, func() bool { return c.height(i) >= h })
		c.checkCommittedTx(i, tx, h)
		c.checkBlockMethods(i, h, tx)
		c.checkCertificate(i, h)
		if got := c.nonce(i, accMethods, false); got != 1 {
			t.Errorf("%s: committed nonce %d, want 1", c.m.Nodes[i].Name, got)
		}
		if got := c.nonce(i, accMethods, true); got != 1 {
			t.Errorf("%s: pending nonce %d, want 1", c.m.Nodes[i].Name, got)
		}
		c.checkStatus(i)
		c.checkValidators(i)
		c.checkQueries(i, h)
	}
	var unknown *rpc.TxResult
	c.mustCall(0, &unknown, "chain_getTransaction", crypto.Keccak256Hash([]byte("never sent")))
	if unknown != nil {
		t.Errorf("unknown transaction: %+v, want null", unknown)
	}
}

// batchCall posts a batch and decodes the array of responses.
func (c *cluster) batchCall(i int, reqs ...map[string]any) []rawResponse {
	c.t.Helper()
	for k, r := range reqs {
		r["jsonrpc"], r["id"] = "2.0", k+1
	}
	body, err := json.Marshal(reqs)
	if err != nil {
		c.t.Fatal(err)
	}
	status, out := c.post(i, body)
	var resps []rawResponse
	if err := json.Unmarshal(out, &resps); err != nil || status != 200 {
		c.t.Fatalf("batch: HTTP %d %s: %v", status, out, err)
	}
	return resps
}

// testRPCPendingQueued observes a queued transaction behind a nonce gap,
// then fills the gap and reads both as pending in the same batch that
// submits the filler (so no block can commit in between), then committed.
func testRPCPendingQueued(c *cluster) {
	t := c.t
	queued := c.signTx(accPending, 1, "q=1")
	c.send(1, queued)
	var res *rpc.TxResult
	c.mustCall(1, &res, "chain_getTransaction", queued.Hash())
	c.checkMempoolTx(1, res, queued, rpc.TxQueued)
	// A queued transaction is not gossiped (issue 29, finding 3): after
	// longer than the node's re-send age, no other node knows it.
	time.Sleep(3 * time.Second)
	for i := range c.m.Nodes {
		if i == 1 {
			continue
		}
		var other *rpc.TxResult
		c.mustCall(i, &other, "chain_getTransaction", queued.Hash())
		if other != nil {
			t.Fatalf("%s holds the queued transaction as %+v, want it unknown there", c.m.Nodes[i].Name, other)
		}
	}
	if got := c.nonce(1, accPending, true); got != 0 {
		t.Fatalf("pending nonce with only a queued tx: %d, want 0", got)
	}
	filler := c.signTx(accPending, 0, "q=0")
	resps := c.batchCall(1,
		map[string]any{"method": "chain_sendTransaction", "params": []any{hexutil.Encode(filler.Bytes())}},
		map[string]any{"method": "chain_getTransaction", "params": []any{filler.Hash()}},
		map[string]any{"method": "chain_getTransaction", "params": []any{queued.Hash()}},
		map[string]any{"method": "chain_getNonce", "params": []any{c.addr(accPending), "pending"}},
		map[string]any{"method": "chain_getNonce", "params": []any{c.addr(accPending)}},
	)
	if len(resps) != 5 {
		t.Fatalf("batch of 5 answered with %d responses", len(resps))
	}
	for k, r := range resps {
		if r.Error != nil || string(r.ID) != strconv.Itoa(k+1) {
			t.Fatalf("batch response %d: id %s error %+v", k, r.ID, r.Error)
		}
	}
	var hash chain.Hash
	var fillerRes, queuedRes rpc.TxResult
	var pendingNonce, committedNonce uint64
	for k, dst := range []any{&hash, &fillerRes, &queuedRes, &pendingNonce, &committedNonce} {
		if err := json.Unmarshal(resps[k].Result, dst); err != nil {
			t.Fatalf("batch response %d %s: %v", k, resps[k].Result, err)
		}
	}
	if hash != filler.Hash() || pendingNonce != 2 || committedNonce != 0 {
		t.Fatalf("send returned %s (want %s), nonces pending %d committed %d, want 2 and 0", hash, filler.Hash(), pendingNonce, committedNonce)
	}
	c.checkMempoolTx(1, &fillerRes, filler, rpc.TxPending)
	c.checkMempoolTx(1, &queuedRes, queued, rpc.TxPending)
	for _, tx := range []*chain.Tx{filler, queued} {
		res := c.waitCommitted(1, tx.Hash())
		if res.Receipt == nil || res.Receipt.Code != 0 || *res.Nonce != tx.Nonce {
			t.Fatalf("committed %+v", res)
		}
	}
}

// testRPCDropped sends a transaction that waits behind a nonce gap until
// node 3's short time-to-live drops it, and reads it there as dropped with
// the reason; no other node ever held it (queued transactions are not
// gossiped).
func testRPCDropped(c *cluster) {
	tx := c.signTx(accDropped, 1, "dropped=1")
	c.send(3, tx)
	var res *rpc.TxResult
	c.waitFor("the queued transaction dropped on node3", ttlNode3+10*time.Second, func() bool {
		res = nil
		c.mustCall(3, &res, "chain_getTransaction", tx.Hash())
		return res != nil && res.Status == rpc.TxDropped
	})
	if res.Reason == nil || !strings.Contains(*res.Reason, "ttl "+ttlNode3.String()) || res.Height != nil || res.Receipt != nil {
		c.t.Fatalf("dropped transaction: %+v with reason %q, want a time-to-live reason", res, deref(res.Reason))
	}
	var other *rpc.TxResult
	c.mustCall(0, &other, "chain_getTransaction", tx.Hash())
	if other != nil {
		c.t.Fatalf("node0 holds the transaction as %+v, want it unknown there", other)
	}
	var mp rpc.Mempool
	c.mustCall(3, &mp, "mempool_status")
	if mp.Size != 0 {
		c.t.Fatalf("node3 mempool holds %d after the drop, want 0", mp.Size)
	}
}

// deref returns *s, or "<null>" for nil.
func deref(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}

// testRPCInvalidRequests sends requests the server must refuse with a
// standard code naming the parameter, checking after each that the node
// still serves.
func testRPCInvalidRequests(c *cluster) {
	t := c.t
	status, r := c.postOne(0, []byte(`{"jsonrpc":"2.0","id":1,"method":"chain_blockNumber"`))
	if r.Error == nil || r.Error.Code != rpc.CodeParseError {
		t.Fatalf("malformed JSON: HTTP %d %+v, want %d", status, r.Error, rpc.CodeParseError)
	}
	c.requireServing(0)
	hash := crypto.Keccak256Hash([]byte("x"))
	cases := []struct {
		method string
		args   []any
		code   int
		frags  []string
	}{
		{"chain_noSuchMethod", nil, rpc.CodeMethodNotFound, []string{"chain_noSuchMethod"}},
		{"nosuchns_call", nil, rpc.CodeMethodNotFound, nil},
		{"chain_subscribe", []any{"newBlocks"}, rpc.CodeMethodNotFound, []string{"notifications not supported"}},
		{"chain_sendTransaction", []any{"0xzz"}, rpc.CodeInvalidParams, []string{`parameter "txHex"`, "bad hex"}},
		{"chain_sendTransaction", []any{"1234"}, rpc.CodeInvalidParams, []string{`parameter "txHex"`, "0x"}},
		{"chain_sendTransaction", []any{"0x1234"}, rpc.CodeInvalidParams, []string{`parameter "txHex"`, "undecodable transaction"}},
		{"chain_sendTransaction", []any{42}, rpc.CodeInvalidParams, []string{`parameter "txHex"`, "want a string"}},
		{"chain_sendTransaction", nil, rpc.CodeInvalidParams, []string{`missing required parameter "txHex"`}},
		{"chain_getTransaction", nil, rpc.CodeInvalidParams, []string{`missing required parameter "hash"`}},
		{"chain_getTransaction", []any{"0x1234"}, rpc.CodeInvalidParams, []string{`parameter "hash"`, "want 32 bytes, got 2"}},
		{"chain_getTransaction", []any{hash, 1}, rpc.CodeInvalidParams, []string{"too many arguments, want at most 1"}},
		{"chain_blockNumber", []any{1}, rpc.CodeInvalidParams, []string{"too many arguments, want at most 0"}},
		{"chain_getBlockByNumber", []any{map[string]int{"x": 1}}, rpc.CodeInvalidParams, []string{`parameter "number"`, `"latest"`}},
		{"chain_getBlockByNumber", []any{-1}, rpc.CodeInvalidParams, []string{`parameter "number"`}},
		{"chain_getBlockByNumber", []any{"pending"}, rpc.CodeInvalidParams, []string{`parameter "number"`}},
		{"chain_getBlockByNumber", []any{1, "yes"}, rpc.CodeInvalidParams, []string{`parameter "fullTransactions"`, "true or false"}},
		{"chain_getBlockByHash", []any{"0x"}, rpc.CodeInvalidParams, []string{`parameter "hash"`}},
		{"chain_getCertificate", []any{true}, rpc.CodeInvalidParams, []string{`parameter "number"`}},
		{"chain_getNonce", []any{"0x12"}, rpc.CodeInvalidParams, []string{`parameter "address"`, "want 20 bytes"}},
		{"chain_getNonce", []any{c.addr(0), "soon"}, rpc.CodeInvalidParams, []string{`parameter "tag"`, `"soon"`}},
		{"kv_get", []any{5}, rpc.CodeInvalidParams, []string{`parameter "key"`, "want a string"}},
		{"kv_get", []any{""}, rpc.CodeInvalidParams, []string{`parameter "key"`, "empty"}},
		{"bank_getBalance", []any{"0xzz"}, rpc.CodeInvalidParams, []string{`parameter "address"`}},
		{"mempool_status", []any{"x"}, rpc.CodeInvalidParams, []string{"too many arguments, want at most 0"}},
	}
	for _, tc := range cases {
		var out json.RawMessage
		err := c.call(0, &out, tc.method, tc.args...)
		if err == nil {
			t.Fatalf("%s%v: got %s, want error %d", tc.method, tc.args, out, tc.code)
		}
		wantRPCError(t, err, tc.code, tc.frags...)
		c.requireServing(0)
	}
}

// rawTx encodes a transaction's wire form with an arbitrary signature.
func rawTx(t *testing.T, chainID string, nonce uint64, payload, sig []byte) string {
	t.Helper()
	enc, err := rlp.EncodeToBytes([]any{chainID, nonce, payload, sig})
	if err != nil {
		t.Fatal(err)
	}
	return hexutil.Encode(enc)
}

// testRPCApplicationErrors triggers every mempool refusal (except a full
// mempool, see testRPCMempoolFull) with its distinct code, at the limits
// where they apply, then commits the account's transactions.
func testRPCApplicationErrors(c *cluster) {
	t := c.t
	good := c.signTx(accErrors, 0, "e=0")
	sig := func(mutate func(s []byte) []byte) string {
		s := mutate(append([]byte(nil), good.Signature...))
		return rawTx(t, c.m.ChainID, 0, good.Payload, s)
	}
	highS := func(s []byte) []byte {
		n := crypto.S256().Params().N
		v := new(big.Int).Sub(n, new(big.Int).SetBytes(s[32:64]))
		v.FillBytes(s[32:64])
		s[64] ^= 1
		return s
	}
	wrongChain, err := chain.SignTx(c.keys[accErrors], "another-chain", 0, []byte("e=0"))
	if err != nil {
		t.Fatal(err)
	}
	atSizeLimit := c.sizedTx(accErrors, 0, defaultMaxTxBytes)
	tooLarge := c.sizedTx(accErrors, 0, defaultMaxTxBytes+1)
	refusals := []struct {
		name  string
		txHex string
		code  int
		frags []string
	}{
		{"bad V", sig(func(s []byte) []byte { s[64] = 7; return s }), rpc.CodeBadSignature, []string{"bad signature", "V value"}},
		{"high S", sig(highS), rpc.CodeBadSignature, []string{"bad signature", "lower half"}},
		{"zero R", sig(func(s []byte) []byte { clear(s[:32]); return s }), rpc.CodeBadSignature, []string{"bad signature"}},
		{"short", sig(func(s []byte) []byte { return s[:64] }), rpc.CodeBadSignature, []string{"bad signature", "65 bytes"}},
		{"wrong chain", hexutil.Encode(wrongChain.Bytes()), rpc.CodeWrongChainID, []string{"wrong chain id", "another-chain"}},
		{"too large", hexutil.Encode(tooLarge.Bytes()), rpc.CodeTxTooLarge, []string{"too large", strconv.Itoa(defaultMaxTxBytes)}},
		{"rejected by app", hexutil.Encode(c.signTx(accErrors, 0, "no separator").Bytes()), rpc.CodeRejectedByApp, []string{"rejected", "'='"}},
		{"too far ahead", hexutil.Encode(c.signTx(accErrors, defaultMaxNonceGap+1, "e=far").Bytes()), rpc.CodeNonceTooFarAhead, []string{"nonce too far ahead", "max gap 16"}},
	}
	for _, r := range refusals {
		var h chain.Hash
		err := c.call(0, &h, "chain_sendTransaction", r.txHex)
		if err == nil {
			t.Fatalf("%s: accepted as %s", r.name, h)
		}
		wantRPCError(t, err, r.code, r.frags...)
		c.requireServing(0)
	}
	// At the limits: the largest transaction and the farthest nonce are
	// accepted, and a second submission of either is already known.
	atGap := c.signTx(accErrors, defaultMaxNonceGap, "e=gap")
	for _, tx := range []*chain.Tx{atGap, atSizeLimit} {
		c.send(0, tx)
		var h chain.Hash
		err := c.call(0, &h, "chain_sendTransaction", hexutil.Encode(tx.Bytes()))
		wantRPCError(t, err, rpc.CodeAlreadyKnown, "already known")
	}
	var h chain.Hash
	err = c.call(0, &h, "chain_sendTransaction", hexutil.Encode(c.signTx(accErrors, defaultMaxNonceGap, "e=other").Bytes()))
	wantRPCError(t, err, rpc.CodeNonceTaken, "nonce already used")
	c.requireServing(0)
	c.fillNonces(accErrors, 1, defaultMaxNonceGap, defaultMaxNonceGap+1)
	err = c.call(0, &h, "chain_sendTransaction", hexutil.Encode(good.Bytes()))
	wantRPCError(t, err, rpc.CodeNonceTooLow, "nonce too low")
	c.requireServing(0)
}

// sizedTx signs a kv transaction from a whose wire form is exactly size
// bytes.
func (c *cluster) sizedTx(a int, nonce uint64, size int) *chain.Tx {
	c.t.Helper()
	pad := size - c.signTx(a, nonce, "big=").Size()
	for try := 0; try < 8; try++ {
		tx := c.signTx(a, nonce, "big="+strings.Repeat("x", pad))
		if tx.Size() == size {
			return tx
		}
		pad += size - tx.Size()
	}
	c.t.Fatalf("cannot build a %d-byte transaction", size)
	return nil
}

// fillNonces sends a's nonces from..to-1 except skip (already in the
// pool) to node 0 and waits until nonce to-1 is committed everywhere.
func (c *cluster) fillNonces(a int, from, skip, to uint64) {
	c.t.Helper()
	for n := from; n < to; n++ {
		if n != skip {
			c.send(0, c.signTx(a, n, "fill"+strconv.FormatUint(n, 10)+"=x"))
		}
	}
	for i := range c.m.Nodes {
		c.waitFor("filled nonces committed", 30*time.Second, func() bool { return c.nonce(i, a, false) == to })
	}
}

// testRPCMempoolFull fills node 3's queued transactions (its mempool holds
// poolLimitNode3, so max_queued is a quarter of that) from one account,
// sees the queued-limit refusal, sees another account's queued
// transaction evict the first account's newest (its status says so) and
// that account's ready transaction accepted and committed, then commits
// the whole queue through node 0, where the refused bytes are accepted.
func testRPCMempoolFull(c *cluster) {
	t := c.t
	queuedLimit := poolLimitNode3 / 4
	fill := make([]*chain.Tx, poolLimitNode3+1)
	for n := range fill {
		fill[n] = c.signTx(accFillPool, uint64(n), "pool"+strconv.Itoa(n)+"=x")
	}
	var h chain.Hash
	for n := 1; n <= poolLimitNode3; n++ {
		err := c.call(3, &h, "chain_sendTransaction", hexutil.Encode(fill[n].Bytes()))
		if n <= queuedLimit {
			if err != nil {
				t.Fatalf("queued nonce %d of %d: %v", n, queuedLimit, err)
			}
			continue
		}
		wantRPCError(t, err, rpc.CodeMempoolFull, "mempool full", "limit "+strconv.Itoa(queuedLimit)+" (max_queued)")
	}
	var mp rpc.Mempool
	c.mustCall(3, &mp, "mempool_status")
	if mp.Size != queuedLimit || mp.Queued != queuedLimit || mp.QueuedLimit != queuedLimit {
		t.Fatalf("node3 mempool_status %+v, want %d held, all queued, queuedLimit %d", mp, queuedLimit, queuedLimit)
	}
	// Refused, not remembered: the same bytes are refused the same way,
	// not as already known.
	err := c.call(3, &h, "chain_sendTransaction", hexutil.Encode(fill[queuedLimit+1].Bytes()))
	wantRPCError(t, err, rpc.CodeMempoolFull, "max_queued")
	// Another sender's queued transaction takes the newest queued slot of
	// the sender holding the most.
	other1 := c.signTx(accPoolFull, 1, "full1=x")
	c.send(3, other1)
	var res *rpc.TxResult
	c.mustCall(3, &res, "chain_getTransaction", fill[queuedLimit].Hash())
	if res == nil || res.Status != rpc.TxDropped || res.Reason == nil ||
		!strings.HasPrefix(*res.Reason, "evicted to make room (queued transactions at max_queued "+strconv.Itoa(queuedLimit)) {
		t.Fatalf("evicted transaction: %+v, reason %q", res, deref(res.Reason))
	}
	// Its ready transaction is admitted, and both commit.
	other0 := c.signTx(accPoolFull, 0, "full0=x")
	c.send(3, other0)
	c.waitCommitted(3, other1.Hash())
	c.requireServing(3)
	// The whole queue commits through node 0, the refused bytes included.
	// Once nonce 0 is there the rest of node3's queue turns ready and is
	// gossiped, so node 0 may already know a transaction when it arrives.
	for _, tx := range fill {
		if err := c.call(0, &h, "chain_sendTransaction", hexutil.Encode(tx.Bytes())); err != nil {
			wantRPCError(t, err, rpc.CodeAlreadyKnown, "already known")
		}
	}
	c.waitFor("the queue committed and node3's mempool drained", 30*time.Second, func() bool {
		var mp rpc.Mempool
		c.mustCall(3, &mp, "mempool_status")
		return mp.Size == 0 && c.nonce(3, accFillPool, false) == poolLimitNode3+1
	})
}

// testRPCBatchAndLimits covers batches (mixed, at and over the length
// limit, empty) and request bodies at and over the size limit.
func testRPCBatchAndLimits(c *cluster) {
	t := c.t
	resps := c.batchCall(0,
		map[string]any{"method": "chain_blockNumber"},
		map[string]any{"method": "chain_noSuchMethod"},
		map[string]any{"method": "chain_getTransaction", "params": []any{"0xzz"}},
	)
	var h uint64
	if len(resps) != 3 || json.Unmarshal(resps[0].Result, &h) != nil || resps[0].Error != nil ||
		resps[1].Error == nil || resps[1].Error.Code != rpc.CodeMethodNotFound || string(resps[1].ID) != "2" ||
		resps[2].Error == nil || resps[2].Error.Code != rpc.CodeInvalidParams || string(resps[2].ID) != "3" {
		t.Fatalf("mixed batch: %+v", resps)
	}
	reqs := make([]map[string]any, defaultMaxBatch)
	for k := range reqs {
		reqs[k] = map[string]any{"method": "chain_blockNumber"}
	}
	if resps := c.batchCall(0, reqs...); len(resps) != defaultMaxBatch {
		t.Fatalf("batch of %d answered with %d responses", defaultMaxBatch, len(resps))
	}
	over := c.batchCall(0, append(reqs, map[string]any{"method": "chain_blockNumber"})...)
	if len(over) != 1 || over[0].Error == nil || over[0].Error.Code != rpc.CodeInvalidRequest || over[0].Error.Message != "batch too large" {
		t.Fatalf("batch of %d: %+v, want one -32600 batch too large", defaultMaxBatch+1, over)
	}
	c.requireServing(0)
	if _, r := c.postOne(0, []byte(`[]`)); r.Error == nil || r.Error.Code != rpc.CodeInvalidRequest {
		t.Fatalf("empty batch: %+v, want -32600", r)
	}
	request := []byte(`{"jsonrpc":"2.0","id":7,"method":"chain_blockNumber","params":[]}`)
	atLimit := append(request, bytes.Repeat([]byte(" "), defaultMaxRequest-len(request))...)
	status, r := c.postOne(0, atLimit)
	if status != 200 || r.Error != nil || string(r.ID) != "7" {
		t.Fatalf("body of exactly %d bytes: HTTP %d %+v", defaultMaxRequest, status, r)
	}
	status, r = c.postOne(0, append(atLimit, ' '))
	if status != 413 || r.Error == nil || r.Error.Code != rpc.CodeInvalidRequest || !strings.Contains(r.Error.Message, "too large") {
		t.Fatalf("body of %d bytes: HTTP %d %+v, want 413 -32600", defaultMaxRequest+1, status, r.Error)
	}
	c.requireServing(0)
}

// testRPCWebsocketLimits sends a websocket message at the size limit
// (answered), one over it (closed with 1009) and malformed JSON (-32700,
// then closed); the node keeps serving.
func testRPCWebsocketLimits(c *cluster) {
	t := c.t
	request := []byte(`{"jsonrpc":"2.0","id":1,"method":"chain_blockNumber","params":[]}`)
	atLimit := append(request, bytes.Repeat([]byte(" "), defaultMaxWSMessage-len(request))...)
	w := c.dialRawWS(0, 0)
	if err := w.conn.WriteMessage(websocket.TextMessage, atLimit); err != nil {
		t.Fatal(err)
	}
	if m, err := w.read(10 * time.Second); err != nil || m.Error != nil || string(m.ID) != "1" {
		t.Fatalf("message of exactly %d bytes: %+v %v", defaultMaxWSMessage, m, err)
	}
	if err := w.conn.WriteMessage(websocket.TextMessage, append(atLimit, ' ')); err != nil {
		t.Fatal(err)
	}
	_, err := w.read(10 * time.Second)
	if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("message of %d bytes: read %v, want close 1009", defaultMaxWSMessage+1, err)
	}
	c.requireServing(0)
	w = c.dialRawWS(0, 0)
	if err := w.conn.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":1,`)); err != nil {
		t.Fatal(err)
	}
	m, err := w.read(10 * time.Second)
	if err != nil || m.Error == nil || m.Error.Code != rpc.CodeParseError {
		t.Fatalf("malformed JSON over websocket: %+v %v, want -32700", m, err)
	}
	if _, err := w.read(10 * time.Second); err == nil {
		t.Fatal("connection still open after malformed JSON")
	}
	c.requireServing(0)
	c.checkWSConnectionLimit(3)
}

// checkWSConnectionLimit opens the most websocket connections node i
// allows one address (127.0.0.1), sees the next upgrade refused with HTTP
// 503; fills the node's limit from three more addresses (127.0.0.2-4),
// sees a fifth address refused; and sees a slot freed once one connection
// closes.
func (c *cluster) checkWSConnectionLimit(i int) {
	t := c.t
	before := c.wsConnections(i)
	var conns []*rawWS
	for k := 0; k < defaultMaxWSConnsIP; k++ {
		conns = append(conns, c.dialRawWSFrom(i, "127.0.0.1"))
	}
	status, body := c.refusedWSDialFrom(i, "127.0.0.1")
	if status != 503 || !strings.Contains(body, `"code":-32600`) || !strings.Contains(body, "from this address: limit "+strconv.Itoa(defaultMaxWSConnsIP)) {
		t.Fatalf("websocket connection %d from one address: HTTP %d %s, want 503 with a -32600 body", defaultMaxWSConnsIP+1, status, body)
	}
	for k := defaultMaxWSConnsIP; k < defaultMaxWSConns; k++ {
		conns = append(conns, c.dialRawWSFrom(i, "127.0.0."+strconv.Itoa(2+(k-defaultMaxWSConnsIP)/defaultMaxWSConnsIP)))
	}
	status, body = c.refusedWSDialFrom(i, "127.0.0.5")
	if status != 503 || !strings.Contains(body, `"code":-32600`) || !strings.Contains(body, "limit "+strconv.Itoa(defaultMaxWSConns)) {
		t.Fatalf("websocket connection %d: HTTP %d %s, want 503 with a -32600 body", defaultMaxWSConns+1, status, body)
	}
	c.requireServing(i)
	conns[len(conns)-1].conn.Close()
	c.waitFor("a websocket slot freed", 10*time.Second, func() bool {
		status, _ := c.refusedWSDialFrom(i, "127.0.0.5")
		return status == 0
	})
	for _, w := range conns {
		w.conn.Close()
	}
	// The node counts a connection until its handler sees the close: wait
	// for that, so that the next test finds the limit as this one did.
	c.waitFor("the node released the websocket connections", 10*time.Second, func() bool {
		return c.wsConnections(i) <= before
	})
}

// dialRawWSFrom opens a raw websocket to node i from the loopback address
// src (Linux routes all of 127/8 to loopback).
func (c *cluster) dialRawWSFrom(i int, src string) *rawWS {
	c.t.Helper()
	conn, resp, err := wsDialerFrom(src).Dial(c.wsURL(i), nil)
	if err != nil {
		c.t.Fatalf("websocket dial %s from %s: %v", c.wsURL(i), src, err)
	}
	resp.Body.Close()
	c.t.Cleanup(func() { conn.Close() })
	return &rawWS{t: c.t, conn: conn}
}

func wsDialerFrom(src string) *websocket.Dialer {
	return &websocket.Dialer{HandshakeTimeout: 10 * time.Second, NetDialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)},
	}).DialContext}
}

// refusedWSDial tries a websocket upgrade on node i and returns the HTTP
// status and body of the refusal, or status 0 when the upgrade succeeded
// (the connection is closed again).
func (c *cluster) refusedWSDial(i int) (int, string) {
	c.t.Helper()
	return c.refusedWSDialFrom(i, "127.0.0.1")
}

// refusedWSDialFrom is refusedWSDial from the loopback address src.
func (c *cluster) refusedWSDialFrom(i int, src string) (int, string) {
	c.t.Helper()
	conn, resp, err := wsDialerFrom(src).Dial(c.wsURL(i), nil)
	if err == nil {
		resp.Body.Close()
		conn.Close()
		return 0, ""
	}
	if resp == nil {
		c.t.Fatalf("websocket dial: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitQuiet waits until every node has the same height and returns it.
func (c *cluster) waitQuiet() uint64 {
	c.t.Helper()
	var h uint64
	c.waitFor("nodes at one height", 30*time.Second, func() bool {
		h = c.height(0)
		for i := 1; i < len(c.m.Nodes); i++ {
			if c.height(i) != h {
				return false
			}
		}
		return true
	})
	return h
}

// testRPCSubscriptionsUnderLoad subscribes with geth's client on every
// node, replays from height 1, reconnects with fromHeight, and follows one
// sender's transactions while a load commits many blocks.
func testRPCSubscriptionsUnderLoad(c *cluster) {
	t := c.t
	h0 := c.waitQuiet()
	live := make([]*blockSub, len(c.m.Nodes))
	for i := range live {
		live[i] = subscribeBlocks(t, c.dial(i, true), 0)
	}
	replay := subscribeBlocks(t, c.dial(2, true), 1)
	txs := make(chan rpc.TxEvent, 1024)
	txSub, err := c.dial(0, true).Subscribe(t.Context(), "chain", txs, "transactions", map[string]any{"sender": c.addr(accLoadFirst)})
	if err != nil {
		t.Fatalf("subscribe transactions: %v", err)
	}
	defer txSub.Unsubscribe()
	firstCl := c.dial(1, true)
	first := subscribeBlocks(t, firstCl, 0)
	accs := make([]int, accLoadCount)
	for k := range accs {
		accs[k] = accLoadFirst + k
	}
	load := c.startLoad(accs, maxLoadPerAccount, []int{0, 1, 2})
	first.waitHeight(t, h0+3, 30*time.Second)
	firstCl.Close()
	first.stop()
	seen, _ := first.snapshot()
	last := seen[len(seen)-1].Height
	c.waitFor("commits while disconnected", 30*time.Second, func() bool { return c.height(1) >= last+3 })
	second := subscribeBlocks(t, c.dial(1, true), last+1)
	second.waitHeight(t, c.height(1)+3, 30*time.Second) // replayed the gap, then live
	load.stop()
	sent := load.wait(t)
	for i := range c.m.Nodes {
		c.waitAllCommitted(i, sent)
	}
	top := c.waitQuiet()
	t.Logf("%d transactions in blocks %d..%d; reconnected after height %d", len(sent), h0+1, top, last)
	for i, s := range live {
		c.checkContiguous("live subscriber on "+c.m.Nodes[i].Name, s.waitHeight(t, top, 30*time.Second), h0+1, top, 0)
	}
	c.checkContiguous("replay from 1", replay.waitHeight(t, top, 30*time.Second), 1, top, 2)
	resumed := append(seen, second.waitHeight(t, top, 30*time.Second)...)
	c.checkContiguous("reconnected subscriber", resumed, h0+1, top, 1)
	c.checkTxEvents(txs, sent, accLoadFirst)
}

// testRPCRawWebsocket speaks JSON-RPC over a plain gorilla websocket:
// calls, two subscriptions, chain_unsubscribe, and the per-connection
// subscription limit.
func testRPCRawWebsocket(c *cluster) {
	t := c.t
	h0 := c.waitQuiet()
	w := c.dialRawWS(2, 0)
	var h uint64
	w.call(&h, "chain_blockNumber")
	if h != h0 {
		t.Fatalf("chain_blockNumber over websocket: %d, want %d", h, h0)
	}
	var idA, idB string
	w.call(&idA, "chain_subscribe", "newBlocks")
	w.call(&idB, "chain_subscribe", "newBlocks")
	tx := c.signTx(accRawWS, 0, "raw=0")
	c.send(2, tx)
	h1 := *c.waitCommitted(2, tx.Hash()).Height
	got := w.readBlocks(map[string]uint64{idA: h1, idB: h1}, nil)
	for _, id := range []string{idA, idB} {
		c.checkContiguous("raw subscription "+id, got[id], h0+1, h1, 2)
		if b := got[id][len(got[id])-1]; !slices.Contains(b.Transactions.Hashes, tx.Hash()) {
			t.Fatalf("block %d notified without %s: %+v", h1, tx.Hash(), b)
		}
	}
	var ok bool
	notes := w.call(&ok, "chain_unsubscribe", idA)
	if !ok || len(notes) != 0 {
		t.Fatalf("chain_unsubscribe = %v with notifications %+v, want true", ok, notes)
	}
	if r := w.callError("chain_unsubscribe", idA); r == nil {
		t.Fatal("second chain_unsubscribe of the same id succeeded")
	}
	tx2 := c.signTx(accRawWS, 1, "raw=1")
	c.send(2, tx2)
	h2 := *c.waitCommitted(2, tx2.Hash()).Height
	got = w.readBlocks(map[string]uint64{idB: h2}, map[string]bool{idA: true})
	c.checkContiguous("raw subscription after the other ended", got[idB], h1+1, h2, 2)
	for k := 1; k < defaultMaxSubsOnConn; k++ {
		var id string
		w.call(&id, "chain_subscribe", "newBlocks")
	}
	r := w.callError("chain_subscribe", "newBlocks")
	if r == nil || r.Code != rpc.CodeTooManySubs || !strings.Contains(r.Message, strconv.Itoa(defaultMaxSubsOnConn)) {
		t.Fatalf("subscription %d on one connection: %+v, want %d", defaultMaxSubsOnConn+1, r, rpc.CodeTooManySubs)
	}
	c.requireServing(2)
}

// testRPCStalledSubscriber stalls a raw websocket subscriber on node 1 (it
// stops reading while its server-side writes are blocked) and checks that
// it is cut off with -32020 once a write to it has been blocked for the
// stall timeout, that it can resume from the height named, and that a healthy
// subscriber on the same node receives every block meanwhile.
func testRPCStalledSubscriber(c *cluster) {
	t := c.t
	h0 := c.waitQuiet()
	healthy := subscribeBlocks(t, c.dial(1, true), 0)
	stalled := c.dialRawWS(1, stallRcvBuf)
	var id string
	stalled.call(&id, "chain_subscribe", "newBlocks")
	accs := make([]int, accStallN)
	for k := range accs {
		accs[k] = accStallLoad + k
	}
	load := c.startLoad(accs, maxLoadPerAccount, []int{0, 2})
	flowing := healthy.waitHeight(t, h0+3, 30*time.Second)
	// Block the server's writes to the stalled connection at once: ask for
	// more large responses than the socket buffers of both ends can hold,
	// and read nothing.
	big := c.bigBlockHeight()
	for k := 0; k < stallFloodRequests; k++ {
		stalled.request("chain_getBlockByNumber", big, true)
	}
	flooded := time.Now()
	// The next commit finds the subscription's write blocked behind the
	// flood; the server cuts it off once that write has waited the stall
	// timeout (checked every quarter of it), which must happen before
	// geth's 10 s write timeout closes the connection.
	healthy.waitHeight(t, flowing[len(flowing)-1].Height+1, 30*time.Second)
	next := time.Now()
	t.Logf("next block committed %v after the stall began", next.Sub(flooded))
	if next.Sub(flooded) > stallWindow {
		t.Fatalf("no block committed within %v of the stall; the connection would hit geth's write timeout first", stallWindow)
	}
	time.Sleep(time.Until(next.Add(rpc.DefaultSubscriberStall + rpc.DefaultSubscriberStall/4 + 500*time.Millisecond)))
	blocks, end := stalled.drainUntilEnd(id)
	if end == nil || end.Code != rpc.CodeSubscriberTooSlow || !strings.Contains(end.Message, "subscriber too slow") {
		t.Fatalf("stalled subscriber got %d blocks and end %+v, want code %d", len(blocks), end, rpc.CodeSubscriberTooSlow)
	}
	if len(blocks) == 0 || end.FromHeight != blocks[len(blocks)-1].Height+1 {
		t.Fatalf("end names fromHeight %d after %d blocks", end.FromHeight, len(blocks))
	}
	c.checkContiguous("stalled subscriber", blocks, h0+1, end.FromHeight-1, 1)
	resumed := subscribeBlocks(t, c.dial(1, true), end.FromHeight)
	load.stop()
	sent := load.wait(t)
	c.waitAllCommitted(1, sent)
	top := c.waitQuiet()
	c.checkContiguous("healthy subscriber", healthy.waitHeight(t, top, 30*time.Second), h0+1, top, 0)
	c.checkContiguous("resumed subscriber", resumed.waitHeight(t, top, 30*time.Second), end.FromHeight, top, 0)
	c.requireServing(1)
}

// Stall test settings. geth's server gives a blocked write 10 s; the server
// cuts a subscription off once a write to it has waited the 5 s stall
// timeout, so the first block after the stall must commit within stallWindow.
const (
	stallFloodRequests = 64
	stallRcvBuf        = 64 << 10 // the stalled client's socket receive buffer
	stallLoadMax       = 2000     // per account; the load is stopped long before
	stallWindow        = 3 * time.Second
)

// bigBlockHeight returns the height of the block holding the largest
// transaction (committed by ApplicationErrors).
func (c *cluster) bigBlockHeight() uint64 {
	c.t.Helper()
	var res *rpc.TxResult
	c.mustCall(0, &res, "chain_getTransaction", c.sizedTx(accErrors, 0, defaultMaxTxBytes).Hash())
	if res == nil || res.Height == nil {
		c.t.Fatalf("the %d-byte transaction is not committed: %+v", defaultMaxTxBytes, res)
	}
	return *res.Height
}

// testRPCCLI drives the CLI client against the running network.
func testRPCCLI(c *cluster) {
	t := c.t
	url := c.m.Nodes[1].RPC
	key := c.m.Accounts[accCLI].KeyFile
	for n, payload := range []string{"cli=one", "cli=two"} {
		out := c.runCLI("tx", "send", "--rpc", url, "--key", key, "--payload", payload, "--wait")
		var res rpc.TxResult
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("tx send --wait printed %q: %v", out, err)
		}
		if res.Status != rpc.TxCommitted || res.Payload == nil || string(*res.Payload) != payload || res.Nonce == nil || *res.Nonce != uint64(n) ||
			res.Sender == nil || *res.Sender != c.addr(accCLI) || res.Receipt == nil || res.Receipt.Code != 0 {
			t.Fatalf("tx send --wait: %+v", res)
		}
	}
	var kv rpc.KVValue
	c.mustCall(1, &kv, "kv_get", "cli")
	if kv.Value == nil || *kv.Value != "two" {
		t.Fatalf("kv_get cli after two sends: %+v", kv)
	}
	top := c.waitQuiet()
	for _, arg := range []string{"1", strconv.FormatUint(top, 10), "latest"} {
		want := c.rawBlock(1, arg)
		if got := bytes.TrimSpace(c.runCLI("block", "get", "--rpc", url, arg)); !bytes.Equal(got, want) {
			t.Fatalf("block get %s printed\n%s\nwant\n%s", arg, got, want)
		}
	}
	cmd := exec.Command(binary, "block", "get", "--rpc", url, strconv.FormatUint(top+1000, 10))
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "not found") {
		t.Fatalf("block get of a missing height: %v %s", err, out)
	}
	var st rpc.Status
	if err := json.Unmarshal(c.runCLI("status", "--rpc", url), &st); err != nil || st.ChainID != c.m.ChainID ||
		st.Height != top || st.PeerID != c.m.Nodes[1].PeerID {
		t.Fatalf("status: %+v %v", st, err)
	}
	count := min(top, 12)
	lines := bytes.Split(bytes.TrimSpace(c.runCLI("subscribe", "--rpc", url, "--from", "1", "--count", strconv.FormatUint(count, 10))), []byte("\n"))
	if uint64(len(lines)) != count {
		t.Fatalf("subscribe --count %d printed %d lines", count, len(lines))
	}
	for k, line := range lines {
		if want := c.rawBlock(1, strconv.Itoa(k+1)); !bytes.Equal(line, want) {
			t.Fatalf("subscribe line %d:\n%s\nwant\n%s", k+1, line, want)
		}
	}
}

// runCLI runs the bafomet binary and returns its stdout.
func (c *cluster) runCLI(args ...string) []byte {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("bafomet %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// rawBlock returns chain_getBlockByNumber(arg, false) from node i as
// compact JSON.
func (c *cluster) rawBlock(i int, arg string) []byte {
	c.t.Helper()
	var number any = arg
	if n, err := strconv.ParseUint(arg, 10, 64); err == nil {
		number = n
	}
	var raw json.RawMessage
	c.mustCall(i, &raw, "chain_getBlockByNumber", number, false)
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		c.t.Fatal(err)
	}
	return buf.Bytes()
}
