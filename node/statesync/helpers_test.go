package statesync_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/snapshot"
	"github.com/bafomet/bafomet/node/statesync"
	"github.com/bafomet/bafomet/ordering"
)

const (
	testChainID   = "bafomet-statesync-test"
	testVals      = 4
	testCkptEvery = 10
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// testValidators returns a 4-validator set (f = 1, quorum 3) and its keys.
func testValidators(t testing.TB) (*chain.ValidatorSet, []*ecdsa.PrivateKey) {
	t.Helper()
	keys := make([]*ecdsa.PrivateKey, testVals)
	vals := make([]chain.Validator, testVals)
	for i := range keys {
		k, err := crypto.ToECDSA(crypto.Keccak256(fmt.Appendf(nil, "statesync validator %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
		vals[i] = chain.Validator{Name: fmt.Sprintf("v%d", i), PubKey: crypto.CompressPubkey(&k.PublicKey)}
	}
	vs, err := chain.NewValidatorSet(vals)
	if err != nil {
		t.Fatal(err)
	}
	return vs, keys
}

// checkpointProof returns a stable checkpoint proof for (h, blockHash,
// appHash) signed by signers, as the ordering core builds one.
func checkpointProof(t testing.TB, keys []*ecdsa.PrivateKey, h uint64, blockHash, appHash chain.Hash, signers ...int) *ordering.CheckpointProof {
	t.Helper()
	p := &ordering.CheckpointProof{Height: h, BlockHash: blockHash, AppHash: appHash}
	for _, i := range signers {
		m := &ordering.Message{Type: ordering.MsgCheckpoint, From: uint32(i), Height: h, Digest: blockHash, AppHash: appHash}
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

// testState returns three nonce entries then n application entries with
// values of valueBytes, in key order, and their accumulator.
func testState(n, valueBytes int) ([]chain.StateEntry, *chain.LtHash) {
	var out []chain.StateEntry
	for i := range 3 {
		var a chain.Address
		a[0] = byte(i + 1)
		out = append(out, chain.StateEntry{Key: append([]byte("n/"), a[:]...), Value: []byte{0, 0, 0, 0, 0, 0, 0, byte(i + 7)}})
	}
	for i := range n {
		out = append(out, chain.StateEntry{Key: fmt.Appendf(nil, "s/key-%06d", i), Value: bytes.Repeat([]byte{byte(i)}, valueBytes)})
	}
	var lt chain.LtHash
	for _, e := range out {
		lt.Add(e.Key, e.Value)
	}
	return out, &lt
}

// openStore opens an empty store with small caches in a temporary dir.
func openStore(t testing.TB) *chain.Store {
	t.Helper()
	s, err := chain.OpenStore(t.TempDir(), chain.StoreOptions{
		MemTableBytes: 16 << 20, BlockCacheBytes: 1 << 20, IndexCacheBytes: 1 << 20, ValueLogBytes: 16 << 20,
		MinFreeBytes: -1, Logger: quietLog,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func readAll(t testing.TB, s *chain.Store) []chain.StateEntry {
	t.Helper()
	r, err := s.OpenStateRead()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []chain.StateEntry
	if err := r.Each(func(e chain.StateEntry) error {
		out = append(out, chain.StateEntry{Key: bytes.Clone(e.Key), Value: bytes.Clone(e.Value)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func equalEntries(a, b []chain.StateEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].Key, b[i].Key) || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

// source is a node's state at one height, its snapshot in a Dir with a
// stable checkpoint proof signed by a quorum of the test validators, and
// a server over that Dir.
type source struct {
	vs        *chain.ValidatorSet
	keys      []*ecdsa.PrivateKey
	entries   []chain.StateEntry
	height    uint64
	blockHash chain.Hash
	appHash   chain.Hash
	dir       *snapshot.Dir
	manifest  *snapshot.Manifest
	proof     *ordering.CheckpointProof
	server    *statesync.Server
}

// newSource builds a source of n entries of valueBytes at height h of
// chain chainID.
func newSource(t testing.TB, n, valueBytes int, h uint64, chainID string) *source {
	t.Helper()
	vs, keys := testValidators(t)
	entries, lt := testState(n, valueBytes)
	s := openStore(t)
	if err := s.ImportStateEntries(entries); err != nil {
		t.Fatal(err)
	}
	bh := crypto.Keccak256Hash(fmt.Appendf(nil, "block %d", h))
	head := chain.StateImportHead{Height: h, BlockHash: bh, AppHash: lt.AppHash(), LtHash: lt, Checkpoint: []byte("src")}
	if err := s.FinishStateImport(head); err != nil {
		t.Fatal(err)
	}
	dir, err := snapshot.OpenDir(filepath.Join(t.TempDir(), "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.OpenStateRead()
	if err != nil {
		t.Fatal(err)
	}
	m, err := dir.Write(r, chainID, bh)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	proof := checkpointProof(t, keys, h, bh, lt.AppHash(), 0, 1, 2)
	if err := dir.SetProof(h, encodeProof(t, proof)); err != nil {
		t.Fatal(err)
	}
	return &source{
		vs: vs, keys: keys, entries: entries, height: h, blockHash: bh, appHash: lt.AppHash(),
		dir: dir, manifest: m, proof: proof, server: statesync.NewServer(dir),
	}
}

// handler answers one encoded request for one peer.
type handler func(ctx context.Context, req []byte) ([]byte, error)

// call is one request a fake requester routed.
type call struct {
	peer int
	req  statesync.Request
}

// fakeNet is an in-memory blocksync.Requester: it routes each request to
// the handler of the peer it is for and records it.
type fakeNet struct {
	mu       sync.Mutex
	handlers map[int]handler
	calls    []call
}

func newFakeNet() *fakeNet { return &fakeNet{handlers: map[int]handler{}} }

func (n *fakeNet) set(peer int, h handler) {
	n.mu.Lock()
	n.handlers[peer] = h
	n.mu.Unlock()
}

func (n *fakeNet) Request(ctx context.Context, to int, req []byte) ([]byte, error) {
	r, err := statesync.DecodeRequest(req)
	if err != nil {
		return nil, fmt.Errorf("fake net: the restorer sent a bad request: %w", err)
	}
	n.mu.Lock()
	h := n.handlers[to]
	n.calls = append(n.calls, call{peer: to, req: *r})
	n.mu.Unlock()
	if h == nil {
		return nil, errors.New("fake net: no such peer")
	}
	return h(ctx, req)
}

// count returns how many requests of kind went to peer (index counts only
// for KindChunk; -1 means any).
func (n *fakeNet) count(peer int, kind uint64, index int) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, x := range n.calls {
		if x.peer == peer && x.req.Kind == kind && (index < 0 || x.req.Index == uint64(index)) {
			c++
		}
	}
	return c
}

// serve returns the honest handler of srv.
func serve(srv *statesync.Server, peer int) handler {
	return func(ctx context.Context, req []byte) ([]byte, error) { return srv.Handle(ctx, peer, req) }
}

// alterChunk returns a handler that answers like h but passes chunk index's
// response body (the encoded chunk) through alter; alter returning an error
// makes the peer answer that error.
func alterChunk(h handler, index uint64, alter func(ctx context.Context, chunk []byte) ([]byte, error)) handler {
	return func(ctx context.Context, req []byte) ([]byte, error) {
		r, err := statesync.DecodeRequest(req)
		if err != nil || r.Kind != statesync.KindChunk || r.Index != index {
			return h(ctx, req)
		}
		raw, err := h(ctx, req)
		if err != nil {
			return nil, err
		}
		resp, err := statesync.DecodeChunkResponse(raw)
		if err != nil {
			return nil, err
		}
		c, err := alter(ctx, resp.Chunk)
		if err != nil {
			return nil, err
		}
		return mustEncode(&statesync.ChunkResponse{Version: statesync.ProtocolVersion, Chunk: c}), nil
	}
}

// mustEncode returns the RLP of v: what the package's encoders produce for
// the response types.
func mustEncode(v any) []byte {
	b, err := rlp.EncodeToBytes(v)
	if err != nil {
		panic(err)
	}
	return b
}
