package chain

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
)

// DefaultNonceCacheEntries bounds the in-memory cache of committed sender
// nonces (about 60 bytes per entry).
const DefaultNonceCacheEntries = 100_000

// committedCache keeps what mempool admission asks of committed state in
// memory, so that admission never opens a Badger read transaction (which
// waits for the block commit in flight): the committed height, and the
// next nonce of recently seen senders.
//
// Invariant: every cached nonce is the sender's next nonce at the latest
// commit. A commit overwrites the entries of every sender it touched, and a
// value read from Badger is cached only when no commit finished between the
// read and the insertion (gen unchanged), so a stale read never lands after
// the commit that superseded it.
type committedCache struct {
	height      atomic.Uint64
	initialized atomic.Bool
	// earliest is m/earliest (0 until read: the store holds from 1). Only
	// a prune commit, holding the store's write lock, changes it.
	earliest atomic.Uint64

	mu     sync.RWMutex
	gen    uint64 // commits noted so far
	max    int
	nonces map[Address]uint64
}

func newCommittedCache(maxEntries int) *committedCache {
	return &committedCache{max: maxEntries, nonces: make(map[Address]uint64)}
}

// nonce returns the cached next nonce of a, and the generation to pass to
// fill after a Badger read on a miss.
func (c *committedCache) nonce(a Address) (uint64, uint64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n, ok := c.nonces[a]
	return n, c.gen, ok
}

// fill caches a nonce read from Badger, unless a commit happened since gen.
func (c *committedCache) fill(a Address, n, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	c.putLocked(a, n)
}

// putLocked stores one entry, evicting an arbitrary other one when the
// cache is full (a miss only costs a Badger read).
func (c *committedCache) putLocked(a Address, n uint64) {
	if _, ok := c.nonces[a]; !ok && len(c.nonces) >= c.max {
		for victim := range c.nonces {
			delete(c.nonces, victim)
			break
		}
	}
	c.nonces[a] = n
}

// commit records a committed height and the next nonces it wrote. The
// caller holds the store's write lock and has committed the Badger
// transaction.
func (c *committedCache) commit(height uint64, nonces map[Address]uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for a, n := range nonces {
		c.putLocked(a, n)
	}
	c.height.Store(height)
	c.initialized.Store(true)
}

// len returns the number of cached nonces.
func (c *committedCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.nonces)
}

// loadHeight reads the committed and the earliest height from Badger once,
// at open.
func (c *committedCache) loadHeight(db *badger.DB) error {
	return db.View(func(txn *badger.Txn) error {
		e, err := readEarliest(txn)
		if err != nil {
			return fmt.Errorf("read earliest height: %w", err)
		}
		c.earliest.Store(e)
		h, err := readHeight(txn)
		if errors.Is(err, ErrNotInitialized) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read committed height: %w", err)
		}
		c.height.Store(h)
		c.initialized.Store(true)
		return nil
	})
}
