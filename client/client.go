package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/common/hexutil"
	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/gorilla/websocket"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/rpc"
)

// Results of the node's methods, as docs/rpc.md describes them.
type (
	Block       = rpc.Block
	Certificate = rpc.Certificate
	Tx          = rpc.TxResult
	Receipt     = rpc.Receipt
	Status      = rpc.Status
	Validator   = rpc.Validator
	Mempool     = rpc.Mempool
)

// Options configure Dial. The zero value dials without TLS settings or
// credentials.
type Options struct {
	// TLSConfig is used for https:// and wss:// URLs, for example one
	// that trusts a private CA (see CAConfig). Nil uses the system roots.
	TLSConfig *tls.Config
	// Token is a static API token, sent as "Authorization: Bearer".
	Token string
	// JWTSecret is a node's HS256 secret: every request carries a fresh
	// JWT signed with it. Give Token or JWTSecret, not both.
	JWTSecret []byte
	// MaxConns is how many HTTP connections to the node are kept open
	// between requests, for callers that send from many goroutines; 0
	// keeps Go's default (2).
	MaxConns int
}

// Client talks to one node. It is safe for concurrent use. Requests go
// over the URL given to Dial (HTTP or websocket); subscriptions need a
// websocket, which a client dialed over HTTP opens to the same host when
// first needed.
type Client struct {
	url  string
	opts []gethrpc.ClientOption
	c    *gethrpc.Client

	mu     sync.Mutex
	ws     *gethrpc.Client // for subscriptions; c itself when dialed over a websocket
	closed bool
	feed   *txFeed // WaitTx's shared block subscription, once started

	feedCtx    context.Context // ends the feed's subscription at Close
	feedCancel context.CancelFunc
	feedWG     sync.WaitGroup
}

// Dial connects to the node at rawURL: http://, https://, ws:// or wss://.
func Dial(ctx context.Context, rawURL string, o Options) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("client: node URL %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "http", "https", "ws", "wss":
	default:
		return nil, fmt.Errorf("client: node URL %q: want http, https, ws or wss", rawURL)
	}
	opts, err := o.clientOptions()
	if err != nil {
		return nil, err
	}
	c, err := gethrpc.DialOptions(ctx, rawURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", rawURL, err)
	}
	cl := &Client{url: rawURL, opts: opts, c: c}
	cl.feedCtx, cl.feedCancel = context.WithCancel(context.Background())
	if u.Scheme == "ws" || u.Scheme == "wss" {
		cl.ws = c
	}
	return cl, nil
}

func (o Options) clientOptions() ([]gethrpc.ClientOption, error) {
	var opts []gethrpc.ClientOption
	if o.MaxConns < 0 {
		return nil, fmt.Errorf("client: Options.MaxConns %d is negative", o.MaxConns)
	}
	if o.TLSConfig != nil || o.MaxConns > 0 {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = o.TLSConfig
		if o.MaxConns > 0 {
			tr.MaxIdleConns, tr.MaxIdleConnsPerHost = o.MaxConns, o.MaxConns
		}
		opts = append(opts, gethrpc.WithHTTPClient(&http.Client{Transport: tr}))
	}
	if o.TLSConfig != nil {
		opts = append(opts, gethrpc.WithWebsocketDialer(websocket.Dialer{TLSClientConfig: o.TLSConfig, Proxy: http.ProxyFromEnvironment}))
	}
	switch {
	case o.Token != "" && o.JWTSecret != nil:
		return nil, errors.New("client: give Options.Token or Options.JWTSecret, not both")
	case o.Token != "":
		opts = append(opts, gethrpc.WithHeader("Authorization", "Bearer "+o.Token))
	case o.JWTSecret != nil:
		opts = append(opts, gethrpc.WithHTTPAuth(rpc.JWTAuth(o.JWTSecret)))
	}
	return opts, nil
}

// Close closes the client's connections; subscriptions end.
func (c *Client) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.feedCancel()
	c.feedWG.Wait()
	c.mu.Lock()
	ws := c.ws
	c.ws = nil
	c.mu.Unlock()
	if ws != nil && ws != c.c {
		ws.Close()
	}
	c.c.Close()
}

// Call calls any method of the node, an application's query (kv_get,
// counter_value, …) for example, and decodes the result into result.
// Errors are as for the typed methods.
func (c *Client) Call(ctx context.Context, result any, method string, args ...any) error {
	return wrapErr(method, c.c.CallContext(ctx, result, method, args...))
}

// Status returns chain_status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	if err := c.Call(ctx, &s, "chain_status"); err != nil {
		return nil, err
	}
	return &s, nil
}

// BlockNumber returns the node's latest committed height.
func (c *Client) BlockNumber(ctx context.Context) (uint64, error) {
	var h uint64
	err := c.Call(ctx, &h, "chain_blockNumber")
	return h, err
}

// BlockByNumber returns the committed block at height, with transaction
// hashes only (ErrNotFound above the node's height).
func (c *Client) BlockByNumber(ctx context.Context, height uint64) (*Block, error) {
	return c.block(ctx, "chain_getBlockByNumber", height)
}

// BlockByHash returns the committed block with hash.
func (c *Client) BlockByHash(ctx context.Context, hash chain.Hash) (*Block, error) {
	return c.block(ctx, "chain_getBlockByHash", hash)
}

func (c *Client) block(ctx context.Context, method string, id any) (*Block, error) {
	var b *Block
	if err := c.Call(ctx, &b, method, id, false); err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fmt.Errorf("%s(%v): %w", method, id, ErrNotFound)
	}
	return b, nil
}

// Certificate returns the commit certificate of height.
func (c *Client) Certificate(ctx context.Context, height uint64) (*Certificate, error) {
	var cert *Certificate
	if err := c.Call(ctx, &cert, "chain_getCertificate", height); err != nil {
		return nil, err
	}
	if cert == nil {
		return nil, fmt.Errorf("chain_getCertificate(%d): %w", height, ErrNotFound)
	}
	return cert, nil
}

// Transaction returns where a transaction is: pending, queued, committed
// (with its receipt) or dropped (with the reason).
func (c *Client) Transaction(ctx context.Context, hash chain.Hash) (*Tx, error) {
	var tx *Tx
	if err := c.Call(ctx, &tx, "chain_getTransaction", hash); err != nil {
		return nil, err
	}
	if tx == nil {
		return nil, fmt.Errorf("chain_getTransaction(%s): %w", hash, ErrNotFound)
	}
	return tx, nil
}

// Nonce returns addr's next nonce: in committed state, or with pending
// counting the transactions the node's mempool holds for it.
func (c *Client) Nonce(ctx context.Context, addr chain.Address, pending bool) (uint64, error) {
	var n uint64
	args := []any{addr}
	if pending {
		args = append(args, "pending")
	}
	err := c.Call(ctx, &n, "chain_getNonce", args...)
	return n, err
}

// SendRawTx submits a signed transaction and returns its hash.
func (c *Client) SendRawTx(ctx context.Context, tx *chain.Tx) (chain.Hash, error) {
	var h chain.Hash
	err := c.Call(ctx, &h, "chain_sendTransaction", hexutil.Encode(tx.Bytes()))
	return h, err
}

// SendTxs submits transactions in wire form (chain.Tx.Bytes()) in one
// request, a batch when there is more than one, and returns each one's
// error: nil when the node took it, an *Error when it refused it, and the
// request's error for all when the request failed.
func (c *Client) SendTxs(ctx context.Context, txs [][]byte) []error {
	errs := make([]error, len(txs))
	if len(txs) == 1 {
		var h chain.Hash
		errs[0] = c.Call(ctx, &h, "chain_sendTransaction", hexutil.Bytes(txs[0]))
		return errs
	}
	batch := make([]gethrpc.BatchElem, len(txs))
	hashes := make([]chain.Hash, len(txs))
	for i, raw := range txs {
		batch[i] = gethrpc.BatchElem{Method: "chain_sendTransaction", Args: []any{hexutil.Bytes(raw)}, Result: &hashes[i]}
	}
	if err := c.c.BatchCallContext(ctx, batch); err != nil {
		err = wrapErr("chain_sendTransaction", err)
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	for i := range batch {
		errs[i] = wrapErr("chain_sendTransaction", batch[i].Error)
	}
	return errs
}

// Validators returns the validator set with each validator's liveness as
// the node sees it.
func (c *Client) Validators(ctx context.Context) ([]Validator, error) {
	var vs []Validator
	err := c.Call(ctx, &vs, "chain_validators")
	return vs, err
}

// MempoolStatus returns mempool_status (the admin permission).
func (c *Client) MempoolStatus(ctx context.Context) (*Mempool, error) {
	var m Mempool
	if err := c.Call(ctx, &m, "mempool_status"); err != nil {
		return nil, err
	}
	return &m, nil
}

// websocket returns the connection subscriptions use, dialing it when the
// client was dialed over HTTP.
func (c *Client) websocket(ctx context.Context) (*gethrpc.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.ws != nil {
		return c.ws, nil
	}
	wsURL := websocketURL(c.url)
	ws, err := gethrpc.DialOptions(ctx, wsURL, c.opts...)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", wsURL, err)
	}
	c.ws = ws
	return ws, nil
}

// dropWebsocket forgets ws after it failed, so the next subscription
// dials again.
func (c *Client) dropWebsocket(ws *gethrpc.Client) {
	c.mu.Lock()
	if c.ws != ws || ws == c.c {
		c.mu.Unlock()
		return
	}
	c.ws = nil
	c.mu.Unlock()
	ws.Close()
}

// websocketURL is the ws:// or wss:// URL of the same host as rawURL.
func websocketURL(rawURL string) string {
	switch {
	case strings.HasPrefix(rawURL, "https://"):
		return "wss://" + strings.TrimPrefix(rawURL, "https://")
	case strings.HasPrefix(rawURL, "http://"):
		return "ws://" + strings.TrimPrefix(rawURL, "http://")
	}
	return rawURL
}
