package bench

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/rpc"
)

// fakeChain is a one-node chain behind geth's RPC server with the methods
// the harness uses. It refuses the first submission of every transaction
// whose nonce is 2 mod 5 with "mempool full", demands nonces in order per
// sender, and commits everything admitted in a block every blockEvery.
type fakeChain struct {
	mu       sync.Mutex
	blocks   [][]chain.Hash // blocks[h-1] is height h
	pool     []chain.Hash
	next     map[chain.Address]uint64
	refused  map[chain.Hash]bool
	gaps     int
	accepted int
	changed  chan struct{} // closed and replaced on every block
	lookups  map[chain.Hash]*rpc.TxResult
}

func newFakeChain() *fakeChain {
	return &fakeChain{next: map[chain.Address]uint64{}, refused: map[chain.Hash]bool{}, changed: make(chan struct{})}
}

// fakeAPI is the "chain" namespace.
type fakeAPI struct{ c *fakeChain }

func (a *fakeAPI) Status() rpc.Status { return rpc.Status{ChainID: "fake-chain"} }

func (a *fakeAPI) BlockNumber() uint64 {
	a.c.mu.Lock()
	defer a.c.mu.Unlock()
	return uint64(len(a.c.blocks))
}

func (a *fakeAPI) GetTransaction(h chain.Hash) (*rpc.TxResult, error) {
	a.c.mu.Lock()
	defer a.c.mu.Unlock()
	if h == (chain.Hash{0xee}) {
		return nil, &rpc.Error{Code: rpc.CodeInternal, Message: "storage failed"}
	}
	return a.c.lookups[h], nil
}

func (a *fakeAPI) SendTransaction(raw hexutil.Bytes) (chain.Hash, error) {
	tx, err := chain.DecodeTx(raw, 0)
	if err != nil {
		return chain.Hash{}, &rpc.Error{Code: rpc.CodeInvalidParams, Message: err.Error()}
	}
	from, err := tx.Sender()
	if err != nil {
		return chain.Hash{}, &rpc.Error{Code: rpc.CodeBadSignature, Message: err.Error()}
	}
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if tx.Nonce%5 == 2 && !c.refused[tx.Hash()] {
		c.refused[tx.Hash()] = true
		return chain.Hash{}, &rpc.Error{Code: rpc.CodeMempoolFull, Message: "mempool full"}
	}
	if tx.Nonce < c.next[from] {
		return chain.Hash{}, &rpc.Error{Code: rpc.CodeNonceTooLow, Message: "nonce too low"}
	}
	if tx.Nonce > c.next[from] {
		c.gaps++
		return chain.Hash{}, &rpc.Error{Code: rpc.CodeNonceTooFarAhead, Message: "nonce too far ahead"}
	}
	c.next[from]++
	c.accepted++
	c.pool = append(c.pool, tx.Hash())
	return tx.Hash(), nil
}

// NewBlocks is chain_subscribe("newBlocks", {"fromHeight": N}).
func (a *fakeAPI) NewBlocks(ctx context.Context, options *json.RawMessage) (*gethrpc.Subscription, error) {
	notifier, ok := gethrpc.NotifierFromContext(ctx)
	if !ok {
		return nil, gethrpc.ErrNotificationsUnsupported
	}
	var opts struct{ FromHeight uint64 }
	if options != nil {
		if err := json.Unmarshal(*options, &opts); err != nil {
			return nil, err
		}
	}
	sub := notifier.CreateSubscription()
	go a.c.feed(notifier, sub, max(opts.FromHeight, 1))
	return sub, nil
}

func (c *fakeChain) feed(n *gethrpc.Notifier, sub *gethrpc.Subscription, next uint64) {
	for {
		c.mu.Lock()
		var out []rpc.Block
		for ; next <= uint64(len(c.blocks)); next++ {
			out = append(out, rpc.Block{Height: next, Transactions: rpc.BlockTxs{Hashes: c.blocks[next-1]}})
		}
		changed := c.changed
		c.mu.Unlock()
		for _, b := range out {
			if n.Notify(sub.ID, b) != nil {
				return
			}
		}
		select {
		case <-sub.Err():
			return
		case <-changed:
		}
	}
}

// produce commits the pool as a block every blockEvery until ctx ends.
func (c *fakeChain) produce(ctx context.Context, blockEvery time.Duration) {
	tick := time.NewTicker(blockEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			c.mu.Lock()
			c.blocks = append(c.blocks, c.pool)
			c.pool = nil
			close(c.changed)
			c.changed = make(chan struct{})
			c.mu.Unlock()
		}
	}
}

// serveFake runs c over HTTP and websocket on one URL.
func serveFake(t *testing.T, c *fakeChain) string {
	t.Helper()
	srv := gethrpc.NewServer()
	if err := srv.RegisterName("chain", &fakeAPI{c}); err != nil {
		t.Fatal(err)
	}
	ws := srv.WebsocketHandler([]string{"*"})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			ws.ServeHTTP(w, r)
			return
		}
		srv.ServeHTTP(w, r)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	go c.produce(ctx, 10*time.Millisecond)
	t.Cleanup(func() { cancel(); hs.Close(); srv.Stop() })
	return hs.URL
}
