package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
	"github.com/bafomet/bafomet/rpc"
)

// clientBackend is a minimal rpc.Backend: SendTx commits each transaction
// in its own block at once.
type clientBackend struct {
	mu     sync.Mutex
	blocks []*rpc.StoredBlock
	txs    map[chain.Hash]*rpc.TxInfo
	nonces map[chain.Address]uint64
	notify chan struct{}
}

func newClientBackend() *clientBackend {
	return &clientBackend{txs: map[chain.Hash]*rpc.TxInfo{}, nonces: map[chain.Address]uint64{}, notify: make(chan struct{}, 1)}
}

func (b *clientBackend) commit(txs ...*chain.Tx) {
	b.mu.Lock()
	h := uint64(len(b.blocks)) + 1
	blk := &chain.Block{Header: chain.Header{Height: h, Timestamp: 1000 + h}}
	for i, tx := range txs {
		sender, _ := tx.Sender()
		blk.Txs, blk.Senders = append(blk.Txs, tx.Bytes()), append(blk.Senders, sender)
		b.txs[tx.Hash()] = &rpc.TxInfo{Status: rpc.TxCommitted, Tx: tx, Sender: sender, Height: h, Index: i, Receipt: &chain.Receipt{}}
		b.nonces[sender] = tx.Nonce + 1
	}
	blk.Header.TxRoot = chain.TxRoot(blk.Txs, blk.Senders)
	b.blocks = append(b.blocks, &rpc.StoredBlock{Block: blk, Certificate: &chain.Certificate{Height: h, BlockHash: blk.Hash()}})
	b.mu.Unlock()
	select {
	case b.notify <- struct{}{}:
	default:
	}
}

func (b *clientBackend) ChainID() string         { return "cli-test" }
func (b *clientBackend) GenesisHash() chain.Hash { return chain.Hash{1} }
func (b *clientBackend) Height() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return uint64(len(b.blocks))
}
func (b *clientBackend) BlockByHeight(h uint64) (*rpc.StoredBlock, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if h == 0 || h > uint64(len(b.blocks)) {
		return nil, nil
	}
	return b.blocks[h-1], nil
}
func (b *clientBackend) BlockByHash(chain.Hash) (*rpc.StoredBlock, error) { return nil, nil }
func (b *clientBackend) Receipts(uint64) ([]chain.Receipt, error)         { return nil, nil }
func (b *clientBackend) BlockNotify() <-chan struct{}                     { return b.notify }
func (b *clientBackend) Transaction(h chain.Hash) (*rpc.TxInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.txs[h], nil
}
func (b *clientBackend) SendTx(tx *chain.Tx) error {
	if tx.ChainID != b.ChainID() {
		return rpc.ErrWrongChainID
	}
	b.commit(tx)
	return nil
}
func (b *clientBackend) Nonce(a chain.Address, _ bool) (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nonces[a], nil
}
func (b *clientBackend) NodeStatus() rpc.NodeStatus      { return rpc.NodeStatus{PeerID: "p"} }
func (b *clientBackend) Validators() []rpc.ValidatorInfo { return nil }
func (b *clientBackend) Evidence() []ordering.Evidence   { return nil }
func (b *clientBackend) Query(string, string, []byte) ([]byte, error) {
	return nil, rpc.ErrAppNotServed
}
func (b *clientBackend) MempoolStatus() rpc.MempoolStatus { return rpc.MempoolStatus{} }

func startClientServer(t *testing.T) (*clientBackend, string) {
	t.Helper()
	b := newClientBackend()
	s, err := rpc.New(rpc.Config{ListenAddr: "127.0.0.1:0"}, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return b, "http://" + s.Addr().String()
}

func TestTxSendWaitBlockGetStatusSubscribe(t *testing.T) {
	b, url := startClientServer(t)
	key, err := crypto.ToECDSA(crypto.Keccak256([]byte("cli key")))
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := crypto.SaveECDSA(keyFile, key); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	for i, want := range []string{`"status":"committed","height":1`, `"status":"committed","height":2`} {
		out.Reset()
		args := []string{"tx", "send", "--rpc", url, "--key", keyFile, "--payload", "a=1", "--wait"}
		if code := run(args, &out, &errb); code != exitOK {
			t.Fatalf("tx send %d: exit %d: %s", i, code, errb.String())
		}
		if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), `"nonce":`+string(rune('0'+i))) {
			t.Fatalf("tx send %d printed %s, want %s and nonce %d", i, out.String(), want, i)
		}
	}
	out.Reset()
	if code := run([]string{"tx", "send", "--rpc", url, "--key", keyFile, "--payload", "a=1", "--chain-id", "other", "--nonce", "9"}, &out, &errb); code != exitFail ||
		!strings.Contains(errb.String(), "wrong chain id") {
		t.Fatalf("wrong chain: exit %d, stderr %s", code, errb.String())
	}
	out.Reset()
	if code := run([]string{"block", "get", "--rpc", url, "2"}, &out, &errb); code != exitOK {
		t.Fatalf("block get: %d %s", code, errb.String())
	}
	var blk rpc.Block
	if err := json.Unmarshal(out.Bytes(), &blk); err != nil || blk.Height != 2 || len(blk.Transactions.Hashes) != 1 {
		t.Fatalf("block get printed %s (%v)", out.String(), err)
	}
	if code := run([]string{"block", "get", "--rpc", url, "7"}, &out, &errb); code != exitFail {
		t.Fatalf("absent block: exit %d", code)
	}
	out.Reset()
	if code := run([]string{"status", "--rpc", url}, &out, &errb); code != exitOK || !strings.Contains(out.String(), `"chainId":"cli-test"`) ||
		!strings.Contains(out.String(), `"height":2`) {
		t.Fatalf("status: %d %s", code, out.String())
	}
	out.Reset()
	b.commit()
	if code := run([]string{"subscribe", "--rpc", url, "--from", "1", "--count", "3"}, &out, &errb); code != exitOK {
		t.Fatalf("subscribe: %d %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("subscribe printed %d lines: %s", len(lines), out.String())
	}
	for i, l := range lines {
		var b rpc.Block
		if err := json.Unmarshal([]byte(l), &b); err != nil || b.Height != uint64(i+1) {
			t.Fatalf("line %d = %s (%v)", i, l, err)
		}
	}
}
