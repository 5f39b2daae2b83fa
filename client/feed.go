package client

import (
	"context"
	"sync"

	"github.com/bafomet/bafomet/chain"
)

// txFeed is the one block subscription the WaitTx calls of a Client share
// (a node allows a connection a few dozen subscriptions, and an
// application may wait for many more transactions at once). It follows
// blocks from when it started and tells each waiter the height of the
// block that carries its transaction.
type txFeed struct {
	sub  *BlockSubscription
	done chan struct{} // closed when the feed ended; err says why

	mu      sync.Mutex
	waiters map[chain.Hash][]chan uint64
	err     error
}

// transactionFeed returns the client's running feed, starting one when
// there is none or the last one ended.
func (c *Client) transactionFeed(ctx context.Context) (*txFeed, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if f := c.feed; f != nil {
		select {
		case <-f.done:
		default:
			return f, nil
		}
	}
	from, err := c.BlockNumber(ctx)
	if err != nil {
		return nil, err
	}
	sub, err := c.SubscribeBlocks(c.feedCtx, from+1)
	if err != nil {
		return nil, err
	}
	f := &txFeed{sub: sub, done: make(chan struct{}), waiters: make(map[chain.Hash][]chan uint64)}
	c.feed = f
	c.feedWG.Add(1)
	go func() {
		defer c.feedWG.Done()
		f.run()
	}()
	return f, nil
}

// run hands each block's transactions to their waiters until the
// subscription ends.
func (f *txFeed) run() {
	for b := range f.sub.C {
		f.mu.Lock()
		for _, h := range b.Transactions.Hashes {
			for _, ch := range f.waiters[h] {
				ch <- b.Height // buffered: one block carries a transaction once
			}
			delete(f.waiters, h)
		}
		f.mu.Unlock()
	}
	f.mu.Lock()
	f.err = f.sub.Err()
	if f.err == nil {
		f.err = ErrClosed
	}
	f.mu.Unlock()
	close(f.done)
}

// watch registers a waiter for hash: the channel receives the height of
// the block that carries it. stop unregisters it.
func (f *txFeed) watch(hash chain.Hash) (ch <-chan uint64, stop func()) {
	c := make(chan uint64, 1)
	f.mu.Lock()
	f.waiters[hash] = append(f.waiters[hash], c)
	f.mu.Unlock()
	return c, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		ws := f.waiters[hash]
		for i, w := range ws {
			if w == c {
				ws = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		if len(ws) == 0 {
			delete(f.waiters, hash)
		} else {
			f.waiters[hash] = ws
		}
	}
}

// failure returns why the feed ended.
func (f *txFeed) failure() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
