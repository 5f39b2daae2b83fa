package e2e

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/bafomet/bafomet/chain"
)

// Load limits. Each sender keeps one transaction in flight: it sends it to
// two nodes, polls until it is committed, then sends the next nonce.
const (
	dkSenders      = 16
	dkSendFanout   = 2                     // nodes each transaction is sent to
	dkCallTimeout  = time.Second           // one JSON-RPC call; a paused node must not hold a sender
	dkPollInterval = 50 * time.Millisecond // between status polls of an in-flight transaction
	dkResendAfter  = 2 * time.Second       // resend to the next nodes when not committed by then
)

// dkSendOK are the chain_sendTransaction error codes that mean a resent
// transaction is already on its way: nonce too low (committed), already
// known, and nonce taken (the same transaction pending).
var dkSendOK = []int{-32013, -32016, -32018}

// dkCommitted is a transaction the client saw committed.
type dkCommitted struct {
	Hash   chain.Hash
	Height uint64
}

// dkLoad is the steady load: dkSenders accounts sending kv transactions
// round-robin over the nodes.
type dkLoad struct {
	chainID string
	clients []*gethrpc.Client
	keys    []*ecdsa.PrivateKey

	mu        sync.Mutex
	committed []dkCommitted

	sent      atomic.Int64 // successful chain_sendTransaction calls
	sendFails atomic.Int64 // failed calls (node down, refused)
	resends   atomic.Int64

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newDKLoad(d *dkNet) (*dkLoad, error) {
	l := &dkLoad{chainID: d.m.ChainID}
	for _, n := range d.m.Nodes {
		c, err := gethrpc.DialHTTP(n.RPC)
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", n.RPC, err)
		}
		l.clients = append(l.clients, c)
	}
	for _, a := range d.m.Accounts {
		k, err := crypto.LoadECDSA(a.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("account key: %w", err)
		}
		l.keys = append(l.keys, k)
	}
	if len(l.keys) == 0 {
		return nil, errors.New("testnet has no accounts")
	}
	return l, nil
}

// start runs the senders until stop.
func (l *dkLoad) start() {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	for s := range l.keys {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.runSender(ctx, s)
		}()
	}
}

// stop ends the load and waits for the senders.
func (l *dkLoad) stop() {
	if l.cancel != nil {
		l.cancel()
	}
	l.wg.Wait()
}

// snapshot returns the transactions seen committed so far.
func (l *dkLoad) snapshot() []dkCommitted {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]dkCommitted(nil), l.committed...)
}

func (l *dkLoad) runSender(ctx context.Context, s int) {
	node := s % len(l.clients)
	for nonce := uint64(0); ctx.Err() == nil; nonce++ {
		payload := fmt.Sprintf("e2e-%d-%d=%d", s, nonce, time.Now().UnixNano())
		tx, err := chain.SignTx(l.keys[s], l.chainID, nonce, []byte(payload))
		if err != nil {
			return // a key that cannot sign is a bug the committed count shows
		}
		var height uint64
		height, node = l.deliver(ctx, tx, node)
		if height == 0 {
			return // stopped
		}
		l.mu.Lock()
		l.committed = append(l.committed, dkCommitted{Hash: tx.Hash(), Height: height})
		l.mu.Unlock()
		node = (node + 1) % len(l.clients)
	}
}

// deliver sends tx to dkSendFanout consecutive nodes and polls the nodes
// in turn until one reports it committed, resending to the next nodes
// when it is not committed within dkResendAfter, so one faulty node can
// hold a sender up only briefly. It returns the commit height (0 when
// ctx ended first) and the node it sent to last.
func (l *dkLoad) deliver(ctx context.Context, tx *chain.Tx, node int) (uint64, int) {
	raw := hexutil.Encode(tx.Bytes())
	n := len(l.clients)
	var lastSend time.Time
	for poll := 0; ctx.Err() == nil; poll++ {
		if time.Since(lastSend) >= dkResendAfter {
			if !lastSend.IsZero() {
				l.resends.Add(1)
				node = (node + 1) % n
			}
			lastSend = time.Now()
			for k := 0; k < min(dkSendFanout, n); k++ {
				if err := l.send(ctx, (node+k)%n, raw); err != nil {
					l.sendFails.Add(1)
				}
			}
		}
		if h, ok := l.committedAt(ctx, (node+poll)%n, tx.Hash()); ok {
			return h, node
		}
		select {
		case <-ctx.Done():
		case <-time.After(dkPollInterval):
		}
	}
	return 0, node
}

// send submits raw to node; "already known" and "nonce too low" (a
// resend of a transaction that made it) count as success.
func (l *dkLoad) send(ctx context.Context, node int, raw string) error {
	cctx, cancel := context.WithTimeout(ctx, dkCallTimeout)
	defer cancel()
	var h chain.Hash
	err := l.clients[node].CallContext(cctx, &h, "chain_sendTransaction", raw)
	var rerr gethrpc.Error
	if err == nil || (errors.As(err, &rerr) && slices.Contains(dkSendOK, rerr.ErrorCode())) {
		l.sent.Add(1)
		return nil
	}
	return err
}

// committedAt asks node for the transaction's status.
func (l *dkLoad) committedAt(ctx context.Context, node int, hash chain.Hash) (uint64, bool) {
	cctx, cancel := context.WithTimeout(ctx, dkCallTimeout)
	defer cancel()
	var res *dkTxStatus
	if err := l.clients[node].CallContext(cctx, &res, "chain_getTransaction", hash); err != nil || res == nil {
		return 0, false
	}
	if res.Status != "committed" || res.Height == nil {
		return 0, false
	}
	return *res.Height, true
}

// dkTxStatus is the part of chain_getTransaction's result the driver reads.
type dkTxStatus struct {
	Status string  `json:"status"`
	Height *uint64 `json:"height"`
}
