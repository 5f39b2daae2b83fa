package rpc

import (
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/apps/bank"
	"github.com/bafomet/bafomet/chain/apps/kv"
	"github.com/bafomet/bafomet/ordering"
)

const testChainID = "bafomet-test"

// fakeBackend is an in-memory Backend: a chain of blocks with real commit
// certificates signed by four validators, a mempool of TxInfo, kv and bank
// state.
type fakeBackend struct {
	mu        sync.Mutex
	keys      []*ecdsa.PrivateKey
	vals      []ValidatorInfo
	blocks    []*StoredBlock // blocks[h-1]
	receipts  [][]chain.Receipt
	txs       map[chain.Hash]*TxInfo
	nonces    map[chain.Address]uint64
	pending   map[chain.Address]uint64
	kv        map[string]string
	balances  map[chain.Address]uint64
	app       string
	sendErr   error
	sent      []*chain.Tx
	evidence  []ordering.Evidence
	notify    chan struct{}
	earliest  uint64        // heights below it read as pruned when non-zero
	failBlock uint64        // BlockByHeight fails at this height when non-zero
	failErr   error         // the error it fails with; nil: "disk on fire"
	queryGate chan struct{} // when set, Query waits for a value on it first (outside mu)
	senders   map[chain.Hash]chain.Address
	extraApps []chain.Application // served beside kv and bank
	state     *chain.MemState     // the state of an application other than kv and bank
}

func newFakeBackend(t testing.TB) *fakeBackend {
	t.Helper()
	f := &fakeBackend{
		txs: make(map[chain.Hash]*TxInfo), nonces: make(map[chain.Address]uint64),
		pending: make(map[chain.Address]uint64), kv: make(map[string]string),
		balances: make(map[chain.Address]uint64), app: kv.Name, senders: make(map[chain.Hash]chain.Address), notify: make(chan struct{}, 1),
	}
	for i := 0; i < 4; i++ {
		key := testKey(t, i)
		f.keys = append(f.keys, key)
		f.vals = append(f.vals, ValidatorInfo{
			Validator: chain.Validator{
				Name: fmt.Sprintf("val%d", i), PubKey: crypto.CompressPubkey(&key.PublicKey),
				Address: crypto.PubkeyToAddress(key.PublicKey),
			},
			PeerID: fmt.Sprintf("peer%d", i), Online: i != 3,
		})
	}
	return f
}

// testKey returns a deterministic private key for index i.
func testKey(t testing.TB, i int) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.ToECDSA(crypto.Keccak256([]byte(fmt.Sprintf("bafomet rpc test key %d", i))))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func signTx(t testing.TB, key *ecdsa.PrivateKey, nonce uint64, payload string) *chain.Tx {
	t.Helper()
	tx, err := chain.SignTx(key, testChainID, nonce, []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// commit appends a block holding txs (all succeeding) with a certificate
// signed by validators 0..2 in view 1, and wakes subscribers.
func (f *fakeBackend) commit(t testing.TB, txs ...*chain.Tx) *StoredBlock {
	t.Helper()
	f.mu.Lock()
	h := uint64(len(f.blocks)) + 1
	parent := chain.Hash{}
	if h > 1 {
		parent = f.blocks[h-2].Block.Hash()
	}
	b := &chain.Block{Header: chain.Header{Height: h, ParentHash: parent, Timestamp: 1_700_000_000_000 + h, Proposer: f.vals[0].Validator.Address}}
	var receipts []chain.Receipt
	for i, tx := range txs {
		sender, ok := f.senders[tx.Hash()]
		if !ok {
			var err error
			if sender, err = tx.Sender(); err != nil {
				t.Fatal(err)
			}
			f.senders[tx.Hash()] = sender
		}
		b.Txs = append(b.Txs, tx.Bytes())
		b.Senders = append(b.Senders, sender)
		r := chain.Receipt{Events: []chain.Event{{Type: "kv.set", Attributes: []chain.Attribute{{Key: "key", Value: "k"}}}}}
		receipts = append(receipts, r)
		f.txs[tx.Hash()] = &TxInfo{Status: TxCommitted, Tx: tx, Sender: sender, Height: h, Index: i, Receipt: &receipts[i]}
		f.nonces[sender] = tx.Nonce + 1
	}
	b.Header.TxRoot = chain.TxRoot(b.Txs, b.Senders)
	cert := &chain.Certificate{Height: h, View: 1, BlockHash: b.Hash()}
	for i := 0; i < 3; i++ {
		sig, err := chain.Sign(f.keys[i], chain.CommitDigest(testChainID, h, 1, cert.BlockHash))
		if err != nil {
			t.Fatal(err)
		}
		cert.Signatures = append(cert.Signatures, chain.CommitSig{Validator: uint32(i), Signature: sig})
	}
	sb := &StoredBlock{Block: b, Certificate: cert}
	f.blocks = append(f.blocks, sb)
	f.receipts = append(f.receipts, receipts)
	f.mu.Unlock()
	select {
	case f.notify <- struct{}{}:
	default:
	}
	return sb
}

func (f *fakeBackend) ChainID() string         { return testChainID }
func (f *fakeBackend) GenesisHash() chain.Hash { return chain.Hash{0x9e} }

func (f *fakeBackend) Height() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return uint64(len(f.blocks))
}

func (f *fakeBackend) BlockByHeight(h uint64) (*StoredBlock, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failBlock != 0 && h == f.failBlock {
		if f.failErr != nil {
			return nil, f.failErr
		}
		return nil, errors.New("disk on fire")
	}
	if err := f.prunedLocked(h); err != nil {
		return nil, err
	}
	if h == 0 || h > uint64(len(f.blocks)) {
		return nil, nil
	}
	return f.blocks[h-1], nil
}

// prunedLocked returns the store's error for a read of a pruned height.
func (f *fakeBackend) prunedLocked(h uint64) error {
	if h < f.earliest {
		return fmt.Errorf("block %d: %w", h, &chain.PrunedError{Earliest: f.earliest})
	}
	return nil
}

func (f *fakeBackend) BlockByHash(hash chain.Hash) (*StoredBlock, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.blocks {
		if b.Block.Hash() == hash {
			if err := f.prunedLocked(b.Block.Header.Height); err != nil {
				return nil, err
			}
			return b, nil
		}
	}
	return nil, nil
}

func (f *fakeBackend) Receipts(h uint64) ([]chain.Receipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.prunedLocked(h); err != nil {
		return nil, err
	}
	if h == 0 || h > uint64(len(f.blocks)) {
		return nil, nil
	}
	return f.receipts[h-1], nil
}

func (f *fakeBackend) BlockNotify() <-chan struct{} { return f.notify }

func (f *fakeBackend) Transaction(hash chain.Hash) (*TxInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	info := f.txs[hash]
	if info != nil && info.Status == TxCommitted {
		if err := f.prunedLocked(info.Height); err != nil {
			return nil, err
		}
	}
	return info, nil
}

func (f *fakeBackend) SendTx(tx *chain.Tx) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sendErr != nil {
		return f.sendErr
	}
	sender, err := tx.Sender()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	f.sent = append(f.sent, tx)
	f.txs[tx.Hash()] = &TxInfo{Status: TxPending, Tx: tx, Sender: sender}
	f.pending[sender] = tx.Nonce + 1
	return nil
}

func (f *fakeBackend) Nonce(addr chain.Address, pending bool) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if pending && f.pending[addr] > f.nonces[addr] {
		return f.pending[addr], nil
	}
	return f.nonces[addr], nil
}

func (f *fakeBackend) NodeStatus() NodeStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return NodeStatus{NodeAddress: f.vals[0].Validator.Address, PeerID: "peer0", View: 1, Primary: f.vals[1].Validator.Address, Peers: 2,
		EarliestHeight: f.earliest}
}

func (f *fakeBackend) Validators() []ValidatorInfo { return f.vals }

func (f *fakeBackend) Evidence() []ordering.Evidence {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.evidence
}

func (f *fakeBackend) Applications() []chain.Application {
	return append([]chain.Application{kv.New(), bank.New()}, f.extraApps...)
}

// ReadAppState serves kv from f.kv at height 0, bank from f.balances and
// any other application from f.state, both at the current height.
func (f *fakeBackend) ReadAppState(app string, fn func(chain.StateReader) error) error {
	f.mu.Lock()
	gate := f.queryGate
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if app != f.app {
		return fmt.Errorf("%w: chain runs %q", ErrAppNotServed, f.app)
	}
	state := chain.NewMemState()
	switch app {
	case kv.Name:
		for k, v := range f.kv {
			if err := state.Set([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
	case bank.Name:
		var accounts []string
		for a, bal := range f.balances {
			accounts = append(accounts, fmt.Sprintf(`{"address":%q,"balance":"%d"}`, a.Hex(), bal))
		}
		if err := bank.New().InitState(json.RawMessage(`{"accounts":[`+strings.Join(accounts, ",")+`]}`), state); err != nil {
			return err
		}
		state.SetHeight(uint64(len(f.blocks)))
	default:
		if f.state != nil {
			state = f.state
		}
		state.SetHeight(uint64(len(f.blocks)))
	}
	return fn(state)
}

func (f *fakeBackend) MempoolStatus() MempoolStatus {
	return MempoolStatus{Size: 3, Bytes: 420, Limit: 5000, BytesLimit: 1 << 20, Queued: 1, QueuedLimit: 1250}
}
