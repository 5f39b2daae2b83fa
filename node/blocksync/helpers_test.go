package blocksync

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/apps/kv"
	"github.com/bafomet/bafomet/ordering"
)

const (
	testChainID   = "bafomet-sync-test"
	testVals      = 4
	testCkptEvery = 50
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// genesisHash stands for the genesis hash that block 1 names as parent.
var genesisHash = crypto.Keccak256Hash([]byte("bafomet-sync-test genesis"))

func testKey(t testing.TB, seed string) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.ToECDSA(crypto.Keccak256([]byte(seed)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testValidators returns the 4-validator set and its keys.
func testValidators(t testing.TB) (*chain.ValidatorSet, []*ecdsa.PrivateKey) {
	t.Helper()
	keys := make([]*ecdsa.PrivateKey, testVals)
	vals := make([]chain.Validator, testVals)
	for i := range keys {
		keys[i] = testKey(t, fmt.Sprintf("validator %d", i))
		vals[i] = chain.Validator{Name: fmt.Sprintf("v%d", i), PubKey: crypto.CompressPubkey(&keys[i].PublicKey)}
	}
	vs, err := chain.NewValidatorSet(vals)
	if err != nil {
		t.Fatal(err)
	}
	return vs, keys
}

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

// newNode opens a store in dir with an initialised kv genesis.
func newNode(t testing.TB, dir string) (*chain.Store, *chain.Executor) {
	t.Helper()
	s := openStore(t, dir)
	e := chain.NewExecutor(s, kv.New(), testChainID, quietLog)
	if _, err := e.InitGenesis(json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	return s, e
}

// certify returns a certificate for b signed by the validators in signers.
func certify(t testing.TB, keys []*ecdsa.PrivateKey, b *chain.Block, view uint64, signers ...int) *chain.Certificate {
	t.Helper()
	c := &chain.Certificate{Height: b.Header.Height, View: view, BlockHash: b.Hash()}
	for _, i := range signers {
		sig, err := chain.Sign(keys[i], chain.CommitDigest(testChainID, b.Header.Height, view, c.BlockHash))
		if err != nil {
			t.Fatal(err)
		}
		c.Signatures = append(c.Signatures, chain.CommitSig{Validator: uint32(i), Signature: sig})
	}
	return c
}

// checkpointProof returns a stable checkpoint proof signed by signers.
func checkpointProof(t testing.TB, keys []*ecdsa.PrivateKey, h uint64, blockHash, appHash chain.Hash, signers ...int) *ordering.CheckpointProof {
	t.Helper()
	p := &ordering.CheckpointProof{Height: h, BlockHash: blockHash, AppHash: appHash}
	for _, i := range signers {
		m := &ordering.Message{Type: ordering.MsgCheckpoint, From: uint32(i), View: 0, Height: h, Digest: blockHash, AppHash: appHash}
		if err := ordering.SignMessage(ordering.NewKeySigner(keys[i]), testChainID, m); err != nil {
			t.Fatal(err)
		}
		p.Checkpoints = append(p.Checkpoints, m)
	}
	return p
}

func encodeProof(t testing.TB, p *ordering.CheckpointProof) []byte {
	t.Helper()
	enc, err := rlp.EncodeToBytes(p)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// testChain is a chain of real blocks with real certificates, executed by
// the kv application into a real store, with checkpoint proofs stored
// every testCkptEvery heights.
type testChain struct {
	vs        *chain.ValidatorSet
	keys      []*ecdsa.PrivateKey
	store     *chain.Store
	blocks    []*chain.Block       // blocks[h-1] is height h
	certs     []*chain.Certificate // certs[h-1]
	hashes    []chain.Hash         // hashes[h-1]
	appHashes []chain.Hash         // appHashes[h] after height h; [0] is genesis
}

func (c *testChain) height() uint64 { return uint64(len(c.blocks)) }

// makeTxs signs n kv transactions from one sender per block slot.
func makeTxs(t testing.TB, sender *ecdsa.PrivateKey, nonce uint64, h uint64, n int) ([][]byte, []chain.Address) {
	t.Helper()
	txs := make([][]byte, n)
	senders := make([]chain.Address, n)
	for i := range n {
		tx, err := chain.SignTx(sender, testChainID, nonce+uint64(i), fmt.Appendf(nil, "k%d.%d=v%d", h, i, h))
		if err != nil {
			t.Fatal(err)
		}
		txs[i], senders[i] = tx.Bytes(), crypto.PubkeyToAddress(sender.PublicKey)
	}
	return txs, senders
}

// buildChain executes n blocks of txsPerBlock transactions into a new
// store in dir.
func buildChain(t testing.TB, dir string, n, txsPerBlock int) *testChain {
	t.Helper()
	vs, keys := testValidators(t)
	store, exec := newNode(t, dir)
	g, err := store.AppHashAt(0)
	if err != nil {
		t.Fatal(err)
	}
	c := &testChain{vs: vs, keys: keys, store: store, appHashes: []chain.Hash{g}}
	sender := testKey(t, "sender")
	parent := genesisHash
	for h := uint64(1); h <= uint64(n); h++ {
		txs, senders := makeTxs(t, sender, (h-1)*uint64(txsPerBlock), h, txsPerBlock)
		b := &chain.Block{Header: chain.Header{
			Height: h, ParentHash: parent, Timestamp: 1_700_000_000_000 + h,
			Proposer: vs.Validator(int(h % testVals)).Address, TxRoot: chain.TxRoot(txs, senders),
			AppHash: c.appHashes[h-1], ValidatorsHash: vs.Hash(),
		}, Txs: txs, Senders: senders}
		cert := certify(t, keys, b, h%3, int(h%testVals), int((h+1)%testVals), int((h+2)%testVals))
		res, err := exec.ApplyBlock(b, cert)
		if err != nil {
			t.Fatalf("apply %d: %v", h, err)
		}
		c.blocks, c.certs, c.hashes = append(c.blocks, b), append(c.certs, cert), append(c.hashes, res.Hash)
		c.appHashes = append(c.appHashes, res.AppHash)
		if h%testCkptEvery == 0 {
			p := checkpointProof(t, keys, h, res.Hash, res.AppHash, 0, 1, 2)
			if err := store.PutCheckpoint(h, encodeProof(t, p)); err != nil {
				t.Fatal(err)
			}
		}
		parent = res.Hash
	}
	return c
}

// sharedChain is built once per test binary: 600 blocks of 3 transactions.
var (
	sharedOnce sync.Once
	shared     *testChain
	sharedDir  string
)

const sharedHeight = 600

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.store.Close()
		os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}

func getShared(t testing.TB) *testChain {
	t.Helper()
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "blocksync-chain-")
		if err != nil {
			t.Fatal(err)
		}
		sharedDir = dir
		shared = buildChain(t, dir, sharedHeight, 3)
	})
	if shared == nil {
		t.Fatal("shared chain failed to build")
	}
	return shared
}

// fakeNet is an in-process Requester: each peer index maps to a handler.
type fakeNet struct {
	mu       sync.Mutex
	handlers map[int]func(ctx context.Context, req []byte) ([]byte, error)
	calls    map[int]int
}

func newFakeNet() *fakeNet {
	return &fakeNet{handlers: map[int]func(context.Context, []byte) ([]byte, error){}, calls: map[int]int{}}
}

func (n *fakeNet) set(peer int, h func(ctx context.Context, req []byte) ([]byte, error)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.handlers[peer] = h
}

func (n *fakeNet) serve(peer int, s *Server) {
	n.set(peer, func(ctx context.Context, req []byte) ([]byte, error) { return s.Handle(ctx, peer, req) })
}

func (n *fakeNet) Request(ctx context.Context, to int, req []byte) ([]byte, error) {
	n.mu.Lock()
	h := n.handlers[to]
	n.calls[to]++
	n.mu.Unlock()
	if h == nil {
		return nil, fmt.Errorf("fake net: no peer %d", to)
	}
	return h(ctx, req)
}

func (n *fakeNet) callsTo(peer int) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.calls[peer]
}
