package chain_test

import (
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/apps/kv"
)

var errCrash = errors.New("simulated crash")

// TestCrashBeforeCommitLeavesPreviousHeight aborts the commit of block 2 at
// every stage, reopens the database, and checks that nothing of block 2 is
// visible (not even in the block file, which is appended before the Badger
// commit and cut back when the commit fails) and that block 2 then applies
// exactly as on an uncrashed node.
func TestCrashBeforeCommitLeavesPreviousHeight(t *testing.T) {
	k := keyN(t, 1)
	block1 := []signed{sign(t, k, 0, "a=1")}
	block2 := []signed{sign(t, k, 1, "a=2"), sign(t, k, 2, "b=1")}

	ref := newTestNode(t, kv.New(), "")
	ref.apply(block1...)
	want := ref.apply(block2...)
	ref.close()

	for _, stage := range chain.CommitStages {
		t.Run(stage, func(t *testing.T) {
			n := newTestNode(t, kv.New(), "")
			defer func() { n.close() }()
			one := n.apply(block1...)
			blockFileBytes := n.store.BlockFileBytes()
			n.exec.SetBeforeCommit(func(s string) error {
				if s == stage {
					return errCrash
				}
				return nil
			})
			b, c := makeBlock(t, 2, n.parentHash(), block2)
			if _, err := n.exec.ApplyBlock(b, c); !errors.Is(err, errCrash) {
				t.Fatalf("apply err = %v", err)
			}
			if got := n.store.BlockFileBytes(); got != blockFileBytes {
				t.Fatalf("block file after the failed commit: %d bytes, want %d as after block 1", got, blockFileBytes)
			}
			n.reopen()
			if got := n.store.BlockFileBytes(); got != blockFileBytes {
				t.Fatalf("block file after crash and reopen: %d bytes, want %d as after block 1", got, blockFileBytes)
			}
			checkAtHeight1(t, n, one, want)
			got := n.apply(block2...)
			if got.AppHash != want.AppHash {
				t.Fatalf("after recovery appHash = %s, want %s", got.AppHash, want.AppHash)
			}
		})
	}
}

func checkAtHeight1(t *testing.T, n *testNode, one, two *chain.BlockResult) {
	t.Helper()
	if h := n.height(); h != 1 {
		t.Fatalf("height after crash = %d, want 1", h)
	}
	if _, err := n.store.Block(2); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("block 2: %v", err)
	}
	if _, err := n.store.Receipts(2); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("receipts 2: %v", err)
	}
	if _, err := n.store.Certificate(2); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("certificate 2: %v", err)
	}
	if _, err := n.store.BlockByHash(two.Hash); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("block 2 by hash: %v", err)
	}
	for _, h := range two.TxHashes {
		if _, err := n.store.Tx(h); !errors.Is(err, chain.ErrNotFound) {
			t.Fatalf("tx %s of block 2: %v", h, err)
		}
	}
	if _, err := n.store.AppHashAt(2); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("appHash 2: %v", err)
	}
	if ah, err := n.store.AppHashAt(1); err != nil || ah != one.AppHash {
		t.Fatalf("appHash 1 = %s, %v", ah, err)
	}
	if got := query(t, n, kv.QueryGet, "a"); got != `{"key":"a","value":"1","found":true,"height":1}` {
		t.Fatalf("a = %s", got)
	}
	if got := query(t, n, kv.QueryGet, "b"); got != `{"key":"b","value":"","found":false,"height":1}` {
		t.Fatalf("b = %s", got)
	}
	if nonce, err := n.store.Nonce(addr(keyN(t, 1))); err != nil || nonce != 1 {
		t.Fatalf("nonce = %d, %v", nonce, err)
	}
}

func TestReopenRestoresLatestHeight(t *testing.T) {
	n := newTestNode(t, kv.New(), "")
	k := keyN(t, 3)
	var last *chain.BlockResult
	for i := uint64(0); i < 5; i++ {
		last = n.apply(sign(t, k, i, fmt.Sprintf("k%d=v%d", i, i)))
	}
	n.reopen()
	defer n.close()
	if h := n.height(); h != 5 {
		t.Fatalf("height after reopen = %d", h)
	}
	if ah, err := n.store.AppHashAt(5); err != nil || ah != last.AppHash {
		t.Fatalf("appHash = %s, %v", ah, err)
	}
	if _, err := n.exec.InitGenesis(nil); !errors.Is(err, chain.ErrInitialized) {
		t.Fatalf("genesis on an existing directory: %v", err)
	}
	next := n.apply(sign(t, k, 5, "k5=v5"))
	if next.Height != 6 {
		t.Fatalf("next height = %d", next.Height)
	}
}

// randomBlocks returns nblocks blocks of kv transactions from a few
// senders, seeded, with some failing and some bad-nonce transactions.
func randomBlocks(t *testing.T, seed int64, nblocks int) [][]signed {
	rng := rand.New(rand.NewSource(seed))
	keys := []byte{1, 2, 3}
	nonces := map[byte]uint64{}
	var out [][]signed
	for b := 0; b < nblocks; b++ {
		var txs []signed
		for i := 0; i < 1+rng.Intn(20); i++ {
			k := keys[rng.Intn(len(keys))]
			payload := fmt.Sprintf("key%d=value%d", rng.Intn(10), rng.Intn(1000))
			switch rng.Intn(10) {
			case 0:
				payload = "broken"
			case 1:
				txs = append(txs, sign(t, keyN(t, k), nonces[k]+7, payload))
				continue
			}
			txs = append(txs, sign(t, keyN(t, k), nonces[k], payload))
			nonces[k]++
		}
		out = append(out, txs)
	}
	return out
}

func TestDeterministicAppHash(t *testing.T) {
	blocks := randomBlocks(t, 42, 8)
	a := newTestNode(t, kv.New(), `{"entries":[{"key":"g","value":"1"}]}`)
	b := newTestNode(t, kv.New(), `{"entries":[{"key":"g","value":"1"}]}`)
	defer a.close()
	defer b.close()
	seen := map[chain.Hash]int{}
	for i, txs := range blocks {
		ra, rb := a.apply(txs...), b.apply(txs...)
		if ra.AppHash != rb.AppHash || !reflect.DeepEqual(ra.Receipts, rb.Receipts) {
			t.Fatalf("height %d: appHash %s vs %s", i+1, ra.AppHash, rb.AppHash)
		}
		seen[ra.AppHash]++
	}
	if len(seen) != len(blocks) {
		t.Fatalf("%d distinct appHashes over %d blocks that all change state", len(seen), len(blocks))
	}
	// A node whose state differs in one value gets another appHash.
	c := newTestNode(t, kv.New(), `{"entries":[{"key":"g","value":"2"}]}`)
	defer c.close()
	for i, txs := range blocks {
		if rc := c.apply(txs...); rc.AppHash == mustAppHash(t, a, uint64(i+1)) {
			t.Fatalf("height %d: different states, same appHash", i+1)
		}
	}
}

func mustAppHash(t *testing.T, n *testNode, h uint64) chain.Hash {
	t.Helper()
	ah, err := n.store.AppHashAt(h)
	if err != nil {
		t.Fatal(err)
	}
	return ah
}

// TestAppHashCommitsToStateNotHistory reaches one state by two histories.
func TestAppHashCommitsToStateNotHistory(t *testing.T) {
	k := keyN(t, 1)
	a := newTestNode(t, kv.New(), "")
	b := newTestNode(t, kv.New(), "")
	defer a.close()
	defer b.close()
	a1 := a.apply(sign(t, k, 0, "x=1"))
	b1 := b.apply(sign(t, k, 0, "x=2"))
	if a1.AppHash == b1.AppHash {
		t.Fatal("different states at height 1 share an appHash")
	}
	a2 := a.apply(sign(t, k, 1, "x=2"))
	b2 := b.apply(sign(t, k, 1, "x=2"))
	if a2.AppHash != b2.AppHash {
		t.Fatalf("same state, different appHash: %s vs %s", a2.AppHash, b2.AppHash)
	}
	// The same pairs inserted into an LtHash directly give the same hash:
	// the appHash is a function of the state alone.
	var lt chain.LtHash
	lt.Add([]byte("s/x"), []byte("2"))
	nonceKey := append([]byte("n/"), addr(k).Bytes()...)
	lt.Add(nonceKey, []byte{0, 0, 0, 0, 0, 0, 0, 2})
	if lt.AppHash() != a2.AppHash {
		t.Fatalf("appHash %s is not the LtHash of the state %s", a2.AppHash, lt.AppHash())
	}
}

// failingApp writes a key and then fails or panics, to prove the executor
// discards a failed transaction's writes.
type failingApp struct{ chain.Application }

func (failingApp) ExecuteTx(ctx chain.TxContext, payload []byte, st chain.StateWriter) chain.Receipt {
	if err := st.Set([]byte("touched"), payload); err != nil {
		return chain.Receipt{Code: chain.CodeAppMin + 9, Message: err.Error()}
	}
	switch string(payload) {
	case "fail":
		return chain.Receipt{Code: chain.CodeAppMin + 1, Message: "failed on purpose"}
	case "panic":
		panic("boom")
	}
	return chain.Receipt{}
}

func TestFailedTxChangesNothingButNonce(t *testing.T) {
	n := newTestNode(t, failingApp{kv.New()}, "")
	defer n.close()
	k := keyN(t, 1)
	genesis := mustAppHash(t, n, 0)
	res := n.apply(sign(t, k, 0, "fail"), sign(t, k, 1, "panic"))
	if got := codes(res.Receipts); !reflect.DeepEqual(got, []uint32{chain.CodeAppMin + 1, chain.CodeAppPanic}) {
		t.Fatalf("codes = %v", got)
	}
	if res.Receipts[1].Message != "application panicked: boom" {
		t.Fatalf("panic message = %q", res.Receipts[1].Message)
	}
	if got := query(t, n, kv.QueryGet, "touched"); !strings.Contains(got, `"found":false`) {
		t.Fatalf("failed tx wrote state: %s", got)
	}
	if nonce, _ := n.store.Nonce(addr(k)); nonce != 2 {
		t.Fatalf("nonce = %d, want 2", nonce)
	}
	if res.AppHash == genesis {
		t.Fatal("nonce change did not change the appHash")
	}
	ok := n.apply(sign(t, k, 2, "keep"))
	if ok.Receipts[0].Code != chain.CodeOK || !strings.Contains(query(t, n, kv.QueryGet, "touched"), `"value":"keep"`) {
		t.Fatalf("successful tx did not write")
	}
}

func TestStateKeyLimit(t *testing.T) {
	n := newTestNode(t, kv.NewWithConfig(kv.Config{MaxKeyBytes: chain.MaxStateKeyBytes + 1}), "")
	defer n.close()
	k := keyN(t, 1)
	atLimit := strings.Repeat("k", chain.MaxStateKeyBytes)
	res := n.apply(sign(t, k, 0, atLimit+"=v"), sign(t, k, 1, atLimit+"x=v"))
	if got := codes(res.Receipts); !reflect.DeepEqual(got, []uint32{chain.CodeOK, kv.CodeBadPayload}) {
		t.Fatalf("codes = %v", got)
	}
	if !strings.Contains(res.Receipts[1].Message, "state key empty or too long: 4097 bytes, limit 4096") {
		t.Fatalf("message = %q", res.Receipts[1].Message)
	}
}

func TestEmptyValueSurvivesStore(t *testing.T) {
	n := newTestNode(t, kv.New(), `{"entries":[{"key":"e","value":""}]}`)
	defer n.close()
	if got := query(t, n, kv.QueryGet, "e"); got != `{"key":"e","value":"","found":true,"height":0}` {
		t.Fatalf("empty value = %s", got)
	}
}
