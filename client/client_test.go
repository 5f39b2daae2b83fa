package client_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/client"
	"github.com/bafomet/bafomet/node"
	"github.com/bafomet/bafomet/rpc"
)

func start(t *testing.T, edit func(*node.Config)) *localNode {
	t.Helper()
	l, err := startLocalNode(edit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

func dial(t *testing.T, url string, o client.Options) *client.Client {
	t.Helper()
	c, err := client.Dial(context.Background(), url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestSenderConcurrentAndWait: one Sender used from many goroutines gives
// consecutive nonces without a gap, and WaitTx returns each committed
// transaction with its receipt; the typed reads agree with it.
func TestSenderConcurrentAndWait(t *testing.T) {
	l := start(t, nil)
	ctx := ctxT(t)
	c := dial(t, l.URL, client.Options{})
	s, err := c.NewSender(ctx, l.User)
	if err != nil {
		t.Fatal(err)
	}
	const n = 24
	txs := make([]*chain.Tx, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tx, err := s.Send(ctx, fmt.Appendf(nil, "k%d=v%d", i, i))
			txs[i] = tx
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	nonces := make([]uint64, n)
	for i, tx := range txs {
		nonces[i] = tx.Nonce
	}
	slices.Sort(nonces)
	for i, nonce := range nonces {
		if nonce != uint64(i) {
			t.Fatalf("nonces %v: want 0..%d without a gap", nonces, n-1)
		}
	}
	for _, tx := range txs {
		got, err := c.WaitTx(ctx, tx.Hash())
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != rpc.TxCommitted || got.Receipt == nil || got.Receipt.Code != chain.CodeOK || got.Height == nil {
			t.Fatalf("WaitTx(%s) = %+v", tx.Hash(), got)
		}
		b, err := c.BlockByNumber(ctx, *got.Height)
		if err != nil || !slices.Contains(b.Transactions.Hashes, tx.Hash()) {
			t.Fatalf("block %d: %v, transactions %v", *got.Height, err, b)
		}
		cert, err := c.Certificate(ctx, *got.Height)
		if err != nil || cert.BlockHash != b.Hash || len(cert.Signatures) != 1 {
			t.Fatalf("certificate %d: %+v %v", *got.Height, cert, err)
		}
	}
	if next, err := c.Nonce(ctx, s.Address(), false); err != nil || next != n {
		t.Fatalf("committed nonce %d %v, want %d", next, err, n)
	}
	var kv rpc.KVValue
	if err := c.Call(ctx, &kv, "kv_get", "k3"); err != nil || kv.Value == nil || *kv.Value != "v3" {
		t.Fatalf("kv_get k3: %+v %v", kv, err)
	}
}

// TestTypedErrors: the node's refusals match the package's sentinels.
func TestTypedErrors(t *testing.T) {
	l := start(t, nil)
	ctx := ctxT(t)
	c := dial(t, l.URL, client.Options{})
	if _, err := c.BlockByNumber(ctx, 1_000_000); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("block above the tip: %v", err)
	}
	if _, err := c.Transaction(ctx, chain.Hash{7}); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("unknown transaction: %v", err)
	}
	if err := c.Call(ctx, nil, "chain_nope"); !errors.Is(err, client.ErrMethodNotFound) {
		t.Errorf("unknown method: %v", err)
	}
	wrong, _ := chain.SignTx(l.User, "another-chain", 0, []byte("a=1"))
	if _, err := c.SendRawTx(ctx, wrong); !errors.Is(err, client.ErrWrongChainID) {
		t.Errorf("wrong chain id: %v", err)
	}
	var refused *client.Error
	first, _ := chain.SignTx(l.User, "client-test", 0, []byte("a=1"))
	if _, err := c.SendRawTx(ctx, first); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitTx(ctx, first.Hash()); err != nil {
		t.Fatal(err)
	}
	again, _ := chain.SignTx(l.User, "client-test", 0, []byte("a=2"))
	_, err := c.SendRawTx(ctx, again)
	if !errors.Is(err, client.ErrNonceTooLow) || !errors.As(err, &refused) || refused.Code != rpc.CodeNonceTooLow || refused.Method != "chain_sendTransaction" {
		t.Errorf("nonce too low: %v", err)
	}
	if errors.Is(err, client.ErrMempoolFull) {
		t.Error("nonce too low matches ErrMempoolFull")
	}
}

// TestSenderTakesOverAForeignNonce: a transaction sent with the Sender's
// key behind its back takes the nonce the Sender expected; the Sender asks
// the node again and its transaction still goes in, without a gap.
func TestSenderTakesOverAForeignNonce(t *testing.T) {
	l := start(t, nil)
	ctx := ctxT(t)
	c := dial(t, l.URL, client.Options{})
	s, err := c.NewSender(ctx, l.User)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, []byte("a=1")); err != nil {
		t.Fatal(err)
	}
	foreign, _ := chain.SignTx(l.User, "client-test", 1, []byte("b=1"))
	if _, err := c.SendRawTx(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	tx, err := s.Send(ctx, []byte("c=1"))
	if err != nil {
		t.Fatal(err)
	}
	if tx.Nonce != 2 {
		t.Fatalf("nonce %d after a foreign transaction took 1, want 2", tx.Nonce)
	}
	if _, err := c.WaitTx(ctx, tx.Hash()); err != nil {
		t.Fatal(err)
	}
}

// TestSubscribeResumes follows blocks from height 1 on a real node across
// a restart of the node (the connection drops): every height arrives once,
// in order, and the subscription renewed itself. (A cut by the node as too
// slow is TestSubscribeResumesAfterACut: geth's client reads a socket
// eagerly, so a real node seldom sees this client as slow.)
func TestSubscribeResumes(t *testing.T) {
	port := freePort()
	l := start(t, func(c *node.Config) { c.RPC.Listen = fmt.Sprintf("127.0.0.1:%d", port) })
	ctx := ctxT(t)
	c := dial(t, l.URL, client.Options{})
	s, err := c.NewSender(ctx, l.User)
	if err != nil {
		t.Fatal(err)
	}
	commit := func(payload string) uint64 {
		t.Helper()
		tx, err := s.Send(ctx, []byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.WaitTx(ctx, tx.Hash())
		if err != nil {
			t.Fatal(err)
		}
		return *got.Height
	}
	for i := range 3 {
		commit(fmt.Sprintf("k%d=v", i))
	}
	sub, err := c.SubscribeBlocks(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	want := uint64(1)
	read := func(upTo uint64) {
		t.Helper()
		for want <= upTo {
			select {
			case b, ok := <-sub.C:
				if !ok {
					t.Fatalf("subscription ended: %v", sub.Err())
				}
				if b.Height != want {
					t.Fatalf("block %d, want %d", b.Height, want)
				}
				want++
			case <-time.After(30 * time.Second):
				t.Fatalf("no block %d within 30 s", want)
			}
		}
	}
	tip, err := c.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	read(tip)
	restart(t, l)
	read(commit("after=restart"))
	sub.Unsubscribe()
	if n := sub.Resubscriptions(); n < 1 {
		t.Fatalf("%d resubscriptions: want one after the restart", n)
	}
	if err := sub.Err(); err != nil {
		t.Fatalf("Err after Unsubscribe: %v", err)
	}
}

// restart stops the node and starts it again on the same home.
func restart(t *testing.T, l *localNode) {
	t.Helper()
	if err := l.n.Close(); err != nil {
		t.Fatal(err)
	}
	cfg, err := node.LoadConfig(l.dir)
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(cfg, node.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.n = n
}

// TestAuthOptions: a node that wants a token refuses a client without one
// with ErrUnauthenticated, and serves one with Options.Token.
func TestAuthOptions(t *testing.T) {
	tok, err := rpc.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	entry, err := rpc.TokenEntry("app", tok, rpc.PermRead|rpc.PermSubmit)
	if err != nil {
		t.Fatal(err)
	}
	tokens := filepath.Join(t.TempDir(), "tokens.toml")
	if err := os.WriteFile(tokens, []byte(entry), 0o600); err != nil {
		t.Fatal(err)
	}
	l := start(t, func(c *node.Config) { c.RPC.Auth, c.RPC.TokenFile = "token", tokens })
	ctx := ctxT(t)
	if _, err := dial(t, l.URL, client.Options{}).Status(ctx); !errors.Is(err, client.ErrUnauthenticated) {
		t.Fatalf("without a token: %v", err)
	}
	c := dial(t, l.URL, client.Options{Token: tok})
	if _, err := c.Status(ctx); err != nil {
		t.Fatalf("with a token: %v", err)
	}
	if _, err := c.MempoolStatus(ctx); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("admin method with a read+submit token: %v", err)
	}
	sub, err := c.SubscribeBlocks(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.NewSender(ctx, l.User)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, []byte("x=1")); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-sub.C:
		if b == nil || b.Height != 1 {
			t.Fatalf("first block over an authenticated websocket: %+v (%v)", b, sub.Err())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no block over the authenticated websocket")
	}
	sub.Unsubscribe()
	if _, err := client.Dial(ctx, l.URL, client.Options{Token: tok, JWTSecret: []byte("x")}); err == nil {
		t.Fatal("Dial took both a token and a JWT secret")
	}
	if _, err := client.Dial(ctx, "ftp://x", client.Options{}); err == nil {
		t.Fatal("Dial took an ftp URL")
	}
}

// TestManyConcurrentWaits: more transactions are awaited at once than the
// node allows subscriptions on one connection (32), all queued behind
// nonce gaps: they share one block subscription, and once the gaps are
// filled every WaitTx returns.
func TestManyConcurrentWaits(t *testing.T) {
	l := start(t, nil)
	ctx := ctxT(t)
	c := dial(t, l.URL, client.Options{})
	const accounts, perAccount = 3, 15
	var wg sync.WaitGroup
	errs := make(chan error, accounts*perAccount)
	keys := make([]*ecdsa.PrivateKey, accounts)
	for a := range keys {
		keys[a], _ = crypto.GenerateKey()
		for nonce := uint64(1); nonce <= perAccount; nonce++ {
			tx, err := chain.SignTx(keys[a], "client-test", nonce, fmt.Appendf(nil, "w%d.%d=v", a, nonce))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.SendRawTx(ctx, tx); err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := c.WaitTx(ctx, tx.Hash())
				errs <- err
			}()
		}
	}
	time.Sleep(time.Second) // every wait is in place, its transaction queued
	if subs := l.metric(t, "bafomet_rpc_ws_subscribers"); subs != "1" {
		t.Fatalf("%d waits hold %s subscriptions, want the one they share", accounts*perAccount, subs)
	}
	for _, k := range keys {
		gap, _ := chain.SignTx(k, "client-test", 0, []byte("gap=filled"))
		if _, err := c.SendRawTx(ctx, gap); err != nil {
			t.Fatal(err)
		}
	}
	filled := time.Now()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(filled); d > 20*time.Second {
		t.Fatalf("%d concurrent waits returned %v after their transactions could commit", accounts*perAccount, d)
	}
}

// TestCloseEndsSubscriptions: closing the client ends its subscriptions
// (C closes, Err is ErrClosed) and its waits, so nothing outlives it.
func TestCloseEndsSubscriptions(t *testing.T) {
	l := start(t, nil)
	ctx := ctxT(t)
	c, err := client.Dial(ctx, l.URL, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := c.SubscribeBlocks(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() {
		_, err := c.WaitTx(ctx, chain.Hash{9}) // never submitted
		waited <- err
	}()
	time.Sleep(300 * time.Millisecond)
	c.Close()
	select {
	case _, ok := <-sub.C:
		for ok {
			_, ok = <-sub.C
		}
	case <-time.After(15 * time.Second):
		t.Fatal("subscription still open 15 s after Close")
	}
	if err := sub.Err(); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("subscription ended with %v, want ErrClosed", err)
	}
	select {
	case err := <-waited:
		if err == nil {
			t.Fatal("WaitTx of an unknown hash returned no error after Close")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("WaitTx still waiting 15 s after Close")
	}
}
