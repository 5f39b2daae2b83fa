package chain_test

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"github.com/bafomet/bafomet/chain"
	"github.com/ethereum/go-ethereum/crypto"
)

const testChainID = "bafomet-test"

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// keyN returns a deterministic account key.
func keyN(t testing.TB, n byte) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.ToECDSA(bytes.Repeat([]byte{n}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func addr(k *ecdsa.PrivateKey) chain.Address { return crypto.PubkeyToAddress(k.PublicKey) }

// openStore opens a store in dir with small caches.
func openStore(t testing.TB, dir string) *chain.Store {
	t.Helper()
	s, err := chain.OpenStore(dir, chain.StoreOptions{
		MemTableBytes: 16 << 20, BlockCacheBytes: 1 << 20, IndexCacheBytes: 1 << 20, ValueLogBytes: 16 << 20, Logger: quietLog,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testNode is a store plus an executor over one application.
type testNode struct {
	t     testing.TB
	dir   string
	store *chain.Store
	exec  *chain.Executor
	app   chain.Application
}

func newTestNode(t testing.TB, app chain.Application, appState string) *testNode {
	t.Helper()
	n := &testNode{t: t, dir: t.TempDir(), app: app}
	n.open()
	if _, err := n.exec.InitGenesis(json.RawMessage(appState)); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *testNode) open() {
	n.store = openStore(n.t, n.dir)
	n.exec = chain.NewExecutor(n.store, n.app, testChainID, quietLog)
}

// reopen closes and reopens the database, as a restart would.
func (n *testNode) reopen() {
	n.t.Helper()
	if err := n.store.Close(); err != nil {
		n.t.Fatal(err)
	}
	n.open()
}

func (n *testNode) close() {
	if err := n.store.Close(); err != nil {
		n.t.Fatal(err)
	}
}

func (n *testNode) height() uint64 {
	n.t.Helper()
	h, err := n.store.Height()
	if err != nil {
		n.t.Fatal(err)
	}
	return h
}

// parentHash returns the hash of the latest block (zero after genesis).
func (n *testNode) parentHash() chain.Hash {
	n.t.Helper()
	if n.height() == 0 {
		return chain.Hash{}
	}
	_, h, err := n.store.LatestBlock()
	if err != nil {
		n.t.Fatal(err)
	}
	return h
}

// signed is a transaction and the sender the certifying quorum checked.
type signed struct {
	raw    []byte
	sender chain.Address
}

func sign(t testing.TB, k *ecdsa.PrivateKey, nonce uint64, payload string) signed {
	t.Helper()
	tx, err := chain.SignTx(k, testChainID, nonce, []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return signed{tx.Bytes(), addr(k)}
}

var validatorKey = func() *ecdsa.PrivateKey {
	k, _ := crypto.ToECDSA(bytes.Repeat([]byte{0xee}, 32))
	return k
}()

// makeBlock builds block height with txs on parent and a one-validator
// certificate for it.
func makeBlock(t testing.TB, height uint64, parent chain.Hash, txs []signed) (*chain.Block, *chain.Certificate) {
	t.Helper()
	b := &chain.Block{Header: chain.Header{Height: height, ParentHash: parent, Timestamp: 1_700_000_000_000 + height, Proposer: addr(validatorKey)}}
	for _, tx := range txs {
		b.Txs = append(b.Txs, tx.raw)
		b.Senders = append(b.Senders, tx.sender)
	}
	b.Header.TxRoot = chain.TxRoot(b.Txs, b.Senders)
	hash := b.Hash()
	sig, err := chain.Sign(validatorKey, chain.CommitDigest(testChainID, height, 0, hash))
	if err != nil {
		t.Fatal(err)
	}
	return b, &chain.Certificate{Height: height, BlockHash: hash, Signatures: []chain.CommitSig{{Validator: 0, Signature: sig}}}
}

// apply builds the next block from txs and applies it.
func (n *testNode) apply(txs ...signed) *chain.BlockResult {
	n.t.Helper()
	b, c := makeBlock(n.t, n.height()+1, n.parentHash(), txs)
	res, err := n.exec.ApplyBlock(b, c)
	if err != nil {
		n.t.Fatalf("apply block %d: %v", b.Header.Height, err)
	}
	return res
}

func codes(rs []chain.Receipt) []uint32 {
	out := make([]uint32, len(rs))
	for i, r := range rs {
		out[i] = r.Code
	}
	return out
}
