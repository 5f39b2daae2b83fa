package chain_test

import (
	"errors"
	"testing"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/apps/kv"
)

// TestNonceAndHeightFollowCommits checks that Nonce and Height, answered
// from memory, follow every commit and survive a reopen.
func TestNonceAndHeightFollowCommits(t *testing.T) {
	n := newTestNode(t, kv.New(), "")
	defer n.close()
	k1, k2 := keyN(t, 1), keyN(t, 2)
	nonceOf := func(k byte) uint64 {
		t.Helper()
		v, err := n.store.Nonce(addr(keyN(t, k)))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := nonceOf(1); got != 0 {
		t.Fatalf("nonce before any block = %d, want 0", got)
	}
	n.apply(sign(t, k1, 0, "a=1"), sign(t, k1, 1, "b=1"))
	if got, h := nonceOf(1), n.height(); got != 2 || h != 1 {
		t.Fatalf("after block 1: nonce %d height %d, want 2 and 1", got, h)
	}
	n.apply(sign(t, k1, 2, "a=2"), sign(t, k2, 0, "c=1"), sign(t, k2, 5, "bad=nonce"))
	if a, b, h := nonceOf(1), nonceOf(2), n.height(); a != 3 || b != 1 || h != 2 {
		t.Fatalf("after block 2: nonces %d, %d height %d, want 3, 1, 2", a, b, h)
	}
	n.reopen()
	if a, b, h := nonceOf(1), nonceOf(2), n.height(); a != 3 || b != 1 || h != 2 {
		t.Fatalf("after reopen: nonces %d, %d height %d, want 3, 1, 2", a, b, h)
	}
}

func TestHeightBeforeGenesis(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	if _, err := s.Height(); !errors.Is(err, chain.ErrNotInitialized) {
		t.Fatalf("Height before genesis: err %v, want ErrNotInitialized", err)
	}
	if _, err := s.StateView(); !errors.Is(err, chain.ErrNotInitialized) {
		t.Fatalf("StateView before genesis: err %v, want ErrNotInitialized", err)
	}
}

// TestStateViewReadsAtItsFirstRead checks the lazy view: it reads the
// state committed when it is first read, and its Height matches what it
// read from then on.
func TestStateViewReadsAtItsFirstRead(t *testing.T) {
	n := newTestNode(t, kv.New(), `{"entries":[{"key":"h","value":"0"}]}`)
	defer n.close()
	v, err := n.store.StateView()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	n.apply(sign(t, keyN(t, 1), 0, "h=1"))
	got, err := v.Get([]byte("h"))
	if err != nil || string(got) != "1" || v.Height() != 1 {
		t.Fatalf("view opened before block 1, read after: %q at %d (%v), want \"1\" at 1", got, v.Height(), err)
	}
	n.apply(sign(t, keyN(t, 1), 1, "h=2"))
	got, err = v.Get([]byte("h"))
	if err != nil || string(got) != "1" || v.Height() != 1 {
		t.Fatalf("second read after block 2: %q at %d (%v), want the snapshot \"1\" at 1", got, v.Height(), err)
	}
	if nonce, err := v.Nonce(addr(keyN(t, 1))); err != nil || nonce != 1 {
		t.Fatalf("nonce in the snapshot = %d (%v), want 1", nonce, err)
	}
}
