package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/bafomet/bafomet/chain"
)

// Checker limits.
const (
	dkBatch      = 100 // requests per JSON-RPC batch (the node's default max_batch_length)
	dkBatchWait  = 20 * time.Second
	dkWatchEvery = 250 * time.Millisecond // height polling while waiting for recovery
)

// errDKSafety marks a broken safety invariant: the run cannot go on.
var errDKSafety = errors.New("safety violated")

// dkBlockID is what every node must agree on at a height.
type dkBlockID struct {
	Hash    string `json:"hash"`
	AppHash string `json:"appHash"`
	Height  uint64 `json:"height"`
}

// dkChecker checks the invariants incrementally: each node's blocks and
// the client's committed transactions are verified once, except on a node
// whose data was wiped, which is verified again from height 1.
type dkChecker struct {
	clients  []*gethrpc.Client
	load     *dkLoad
	canon    map[uint64]dkBlockID // the first answer seen for each height
	verified []uint64             // node i agrees with canon up to this height
	txDone   []int                // node i holds load.committed[:txDone[i]] (except deferred)
	deferred [][]dkCommitted      // committed above node i's height when last checked
}

func newDKChecker(l *dkLoad) *dkChecker {
	n := len(l.clients)
	return &dkChecker{clients: l.clients, load: l, canon: map[uint64]dkBlockID{},
		verified: make([]uint64, n), txDone: make([]int, n), deferred: make([][]dkCommitted, n)}
}

// reset forgets what was verified on node i (its data was wiped).
func (c *dkChecker) reset(i int) {
	c.verified[i], c.txDone[i], c.deferred[i] = 0, 0, nil
}

// height returns node i's committed height.
func (c *dkChecker) height(i int) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dkCallTimeout)
	defer cancel()
	var h hexOrNumber
	if err := c.clients[i].CallContext(ctx, &h, "chain_blockNumber"); err != nil {
		return 0, fmt.Errorf("node%d chain_blockNumber: %w", i, err)
	}
	return uint64(h), nil
}

// hexOrNumber decodes a height given as a JSON number or a hex string.
type hexOrNumber uint64

func (h *hexOrNumber) UnmarshalJSON(b []byte) error {
	var n uint64
	if err := json.Unmarshal(b, &n); err == nil {
		*h = hexOrNumber(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	_, err := fmt.Sscanf(s, "0x%x", &n)
	*h = hexOrNumber(n)
	return err
}

// heights returns every node's height; a node that does not answer has ok false.
func (c *dkChecker) heights() (hs []uint64, ok []bool) {
	hs, ok = make([]uint64, len(c.clients)), make([]bool, len(c.clients))
	for i := range c.clients {
		h, err := c.height(i)
		hs[i], ok[i] = h, err == nil
	}
	return hs, ok
}

// check verifies every node: block hash and appHash agree with every
// other node at each height it has, every transaction the client saw
// committed is on it at the same height, and it reports no evidence.
func (c *dkChecker) check() error {
	var errs []error
	for i := range c.clients {
		if err := c.checkNode(i); err != nil {
			if errors.Is(err, errDKSafety) {
				return err
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *dkChecker) checkNode(i int) error {
	h, err := c.height(i)
	if err != nil {
		return err
	}
	// A node restored from a snapshot (a wiped one joins by state sync)
	// holds no block below its earliest height: there is nothing to check.
	earliest := c.earliest(i)
	c.verified[i] = max(c.verified[i], earliest-1)
	if err := c.checkBlocks(i, h); err != nil {
		return err
	}
	if err := c.checkTxs(i, h, earliest); err != nil {
		return err
	}
	return c.checkEvidence(i)
}

// earliest returns the lowest height whose block node i holds (1 when it
// does not say).
func (c *dkChecker) earliest(i int) uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), dkCallTimeout)
	defer cancel()
	var st struct {
		EarliestHeight uint64 `json:"earliestHeight"`
	}
	if err := c.clients[i].CallContext(ctx, &st, "chain_status"); err != nil || st.EarliestHeight == 0 {
		return 1
	}
	return st.EarliestHeight
}

func (c *dkChecker) checkBlocks(i int, h uint64) error {
	for from := c.verified[i] + 1; from <= h; from += dkBatch {
		to := min(from+dkBatch-1, h)
		batch := make([]gethrpc.BatchElem, 0, to-from+1)
		blocks := make([]*dkBlockID, to-from+1)
		for k := range blocks {
			batch = append(batch, gethrpc.BatchElem{Method: "chain_getBlockByNumber",
				Args: []any{from + uint64(k), false}, Result: &blocks[k]})
		}
		if err := c.batch(i, batch); err != nil {
			return err
		}
		for k, b := range blocks {
			height := from + uint64(k)
			if b == nil || b.Height != height {
				return fmt.Errorf("node%d: block %d missing below its height %d", i, height, h)
			}
			want, seen := c.canon[height]
			if !seen {
				c.canon[height] = *b
			} else if want.Hash != b.Hash || want.AppHash != b.AppHash {
				return fmt.Errorf("%w: node%d block %d is %s appHash %s, another node has %s appHash %s",
					errDKSafety, i, height, b.Hash, b.AppHash, want.Hash, want.AppHash)
			}
			c.verified[i] = height
		}
	}
	return nil
}

func (c *dkChecker) checkTxs(i int, h, earliest uint64) error {
	all := c.load.snapshot()
	todo := append(c.deferred[i], all[c.txDone[i]:]...)
	c.txDone[i], c.deferred[i] = len(all), nil
	var now []dkCommitted
	for _, tx := range todo {
		if tx.Height < earliest {
			continue // below the snapshot this node was restored from
		}
		if tx.Height > h {
			c.deferred[i] = append(c.deferred[i], tx)
		} else {
			now = append(now, tx)
		}
	}
	for from := 0; from < len(now); from += dkBatch {
		part := now[from:min(from+dkBatch, len(now))]
		res := make([]*dkTxStatus, len(part))
		batch := make([]gethrpc.BatchElem, len(part))
		for k, tx := range part {
			batch[k] = gethrpc.BatchElem{Method: "chain_getTransaction", Args: []any{tx.Hash}, Result: &res[k]}
		}
		if err := c.batch(i, batch); err != nil {
			c.deferred[i] = append(c.deferred[i], now[from:]...)
			return err
		}
		for k, r := range res {
			if r == nil || r.Status != "committed" || r.Height == nil || *r.Height != part[k].Height {
				return fmt.Errorf("%w: node%d: transaction %s, committed at %d, is %s", errDKSafety, i,
					part[k].Hash, part[k].Height, describeTx(r))
			}
		}
	}
	return nil
}

func describeTx(r *dkTxStatus) string {
	switch {
	case r == nil:
		return "unknown"
	case r.Height == nil:
		return r.Status
	default:
		return fmt.Sprintf("%s at %d", r.Status, *r.Height)
	}
}

func (c *dkChecker) checkEvidence(i int) error {
	ctx, cancel := context.WithTimeout(context.Background(), dkCallTimeout)
	defer cancel()
	var ev []json.RawMessage
	if err := c.clients[i].CallContext(ctx, &ev, "chain_evidence"); err != nil {
		return fmt.Errorf("node%d chain_evidence: %w", i, err)
	}
	if len(ev) > 0 {
		return fmt.Errorf("%w: node%d reports evidence against an honest validator: %s", errDKSafety, i,
			strings.Join(rawStrings(ev), ", "))
	}
	return nil
}

func rawStrings(raws []json.RawMessage) []string {
	out := make([]string, len(raws))
	for i, r := range raws {
		out[i] = string(r)
	}
	return out
}

// batch sends one JSON-RPC batch to node i and fails on the first element error.
func (c *dkChecker) batch(i int, elems []gethrpc.BatchElem) error {
	ctx, cancel := context.WithTimeout(context.Background(), dkBatchWait)
	defer cancel()
	if err := c.clients[i].BatchCallContext(ctx, elems); err != nil {
		return fmt.Errorf("node%d batch: %w", i, err)
	}
	for _, e := range elems {
		if e.Error != nil {
			return fmt.Errorf("node%d %s%v: %w", i, e.Method, e.Args, e.Error)
		}
	}
	return nil
}

// waitRecovery polls every node's height from healed on until some node
// passes baseline (the network commits again; dkCommitAfterHealMax) and
// every node in nodes reaches target (caught up; dkCatchUpMax). Both
// durations count from healed.
func (c *dkChecker) waitRecovery(healed time.Time, baseline uint64, nodes []int, target uint64) (commitAfter, catchUp time.Duration, err error) {
	for {
		hs, ok := c.heights()
		now := time.Since(healed)
		behind := []string{}
		for i, h := range hs {
			if commitAfter == 0 && ok[i] && h > baseline {
				commitAfter = now
			}
			if slices.Contains(nodes, i) && (!ok[i] || h < target) {
				behind = append(behind, fmt.Sprintf("node%d at %d (answering: %v)", i, h, ok[i]))
			}
		}
		if catchUp == 0 && len(behind) == 0 {
			catchUp = now
		}
		switch {
		case commitAfter != 0 && catchUp != 0:
			return commitAfter, catchUp, nil
		case commitAfter == 0 && now > dkCommitAfterHealMax:
			return 0, catchUp, fmt.Errorf("no commit above height %d within %s of the heal", baseline, dkCommitAfterHealMax)
		case catchUp == 0 && now > dkCatchUpMax:
			return commitAfter, 0, fmt.Errorf("not caught up to height %d within %s of the heal: %s",
				target, dkCatchUpMax, strings.Join(behind, "; "))
		}
		time.Sleep(dkWatchEvery)
	}
}

// waitCatchUp waits until every node in nodes reaches target.
func (c *dkChecker) waitCatchUp(nodes []int, target uint64, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	var last []string
	for time.Since(start) < limit {
		last = last[:0]
		for _, i := range nodes {
			h, err := c.height(i)
			if err != nil {
				last = append(last, err.Error())
			} else if h < target {
				last = append(last, fmt.Sprintf("node%d at %d", i, h))
			}
		}
		if len(last) == 0 {
			return time.Since(start), nil
		}
		time.Sleep(dkWatchEvery)
	}
	return limit, fmt.Errorf("not caught up to height %d within %s: %s", target, limit, strings.Join(last, "; "))
}

// primary returns the index of the validator the responding nodes name as
// primary most often.
func (c *dkChecker) primary(addrs []string) (int, error) {
	votes := map[string]int{}
	for i := range c.clients {
		ctx, cancel := context.WithTimeout(context.Background(), dkCallTimeout)
		var st struct {
			Primary chain.Address `json:"primary"`
		}
		err := c.clients[i].CallContext(ctx, &st, "chain_status")
		cancel()
		if err == nil {
			votes[strings.ToLower(st.Primary.Hex())]++
		}
	}
	best, bestVotes := "", 0
	for a, v := range votes {
		if v > bestVotes || (v == bestVotes && a < best) {
			best, bestVotes = a, v
		}
	}
	for i, a := range addrs {
		if strings.EqualFold(a, best) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("primary %q is not a validator of the manifest", best)
}
