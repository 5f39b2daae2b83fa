package mempool

import (
	"container/list"
	"sync"

	"github.com/bafomet/bafomet/chain"
)

// sigCache is a bounded LRU map from transaction hash to recovered sender.
// The hash covers the whole wire form, signature included, so a hit proves
// the sender without another secp256k1 recovery. It has its own lock so
// that lookups never wait on the mempool's lock.
type sigCache struct {
	mu    sync.Mutex
	size  int
	order *list.List // front = most recently used; values are chain.Hash
	items map[chain.Hash]sigItem
}

type sigItem struct {
	sender chain.Address
	elem   *list.Element
}

func newSigCache(size int) *sigCache {
	return &sigCache{size: size, order: list.New(), items: make(map[chain.Hash]sigItem, size)}
}

// get returns the cached sender of hash and marks it recently used.
func (c *sigCache) get(h chain.Hash) (chain.Address, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, ok := c.items[h]
	if !ok {
		return chain.Address{}, false
	}
	c.order.MoveToFront(it.elem)
	return it.sender, true
}

// put records the sender of hash, evicting the least recently used entry
// when the cache is full.
func (c *sigCache) put(h chain.Hash, sender chain.Address) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if it, ok := c.items[h]; ok {
		c.order.MoveToFront(it.elem)
		return
	}
	if len(c.items) >= c.size {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(chain.Hash))
	}
	c.items[h] = sigItem{sender: sender, elem: c.order.PushFront(h)}
}

// len returns the number of cached entries.
func (c *sigCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}
