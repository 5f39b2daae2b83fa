package chain

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain/blockfile"
)

// ErrPruned is matched (errors.Is) by the error of a read of a height this
// store no longer holds: it was pruned, or the store started from a
// snapshot above it. It is distinct from ErrNotFound. The error itself is
// a *PrunedError, which names the earliest height held.
var ErrPruned = errors.New("pruned")

// PrunedError reports a read below the earliest height the store holds.
type PrunedError struct {
	Earliest uint64 // the lowest height whose block the store holds
}

func (e *PrunedError) Error() string {
	return fmt.Sprintf("pruned: the earliest block this node holds is %d", e.Earliest)
}

// Is makes errors.Is(err, ErrPruned) hold.
func (e *PrunedError) Is(target error) bool { return target == ErrPruned }

// Prune limits: one prune transaction deletes at most this many heights
// and this many keys (a block's keys are never split across
// transactions). Each is committed holding the store's write lock, which
// block commits take too, so a small transaction keeps commits from
// waiting: 8,192 reads and deletes take a few milliseconds, far below
// Badger's transaction limit at the default memtable (~26,000 entries).
const (
	PruneBatchHeights = 256
	PruneBatchKeys    = 8192
)

// EarliestHeight returns the lowest height whose block the store holds: 1
// for a store that grew from genesis and was never pruned (also before
// block 1 exists), higher once Prune has run or for a store restored from
// a snapshot. It reads memory, never Badger.
func (s *Store) EarliestHeight() (uint64, error) {
	return max(s.committed.earliest.Load(), 1), nil
}

// readEarliest reads m/earliest in txn (1 when absent).
func readEarliest(txn *badger.Txn) (uint64, error) {
	v, err := getValue(txn, keyEarliest)
	if errors.Is(err, ErrNotFound) {
		return 1, nil
	}
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("earliest-height record is %d bytes, want 8", len(v))
	}
	return max(binary.BigEndian.Uint64(v), 1), nil
}

// prunedBelow returns a *PrunedError when height is below the earliest
// height held (height 0, the genesis state, counts as below once block 1
// is pruned), and nil otherwise. Reads consult it only when a key is
// missing: a store imported from a snapshot at S holds the appHash and
// checkpoint at S although its earliest block is S+1.
func (s *Store) prunedBelow(height uint64) error {
	if e := max(s.committed.earliest.Load(), 1); height < e && e > 1 {
		return &PrunedError{Earliest: e}
	}
	return nil
}

// readErr turns the error of a read of height into a *PrunedError when
// the height is below the earliest held (pruned, possibly while the read
// ran), and returns it unchanged otherwise.
func (s *Store) readErr(height uint64, err error) error {
	if err == nil {
		return nil
	}
	if perr := s.prunedBelow(height); perr != nil {
		return perr
	}
	return err
}

// Prune deletes every height below to, oldest first, in transactions of
// at most PruneBatchHeights heights and PruneBatchKeys keys: the blocks'
// and receipts' locations (b/, r/), certificates (c/), appHashes (a/),
// stable checkpoint proofs (k/) but the latest one, the block-hash index
// (h/) and the transaction index entries (t/) that name a pruned height.
// Each transaction also raises m/earliest to the first height it keeps,
// so a crash between transactions leaves a store that holds exactly the
// heights from m/earliest up. After each, it deletes the block-file
// segments that hold only pruned entries. to is capped at the latest
// height: the latest block is never pruned. It stops between
// transactions when ctx ends, and returns the earliest height held.
//
// The caller decides what may go: a node keeps what its ordering core
// reads at a restart and what its peers may ask of it (see
// node.pruneTarget).
func (s *Store) Prune(ctx context.Context, to uint64) (uint64, error) {
	for {
		if err := ctx.Err(); err != nil {
			return s.EarliestHeight()
		}
		earliest, more, err := s.pruneBatch(to)
		if err != nil || !more {
			return earliest, err
		}
	}
}

// pruneBatch prunes one transaction's worth of heights below to and
// reports whether heights below to remain.
func (s *Store) pruneBatch(to uint64) (uint64, bool, error) {
	from, _ := s.EarliestHeight()
	height, err := s.Height()
	if err != nil {
		return from, false, err
	}
	to = min(to, height)
	if to <= from {
		// Nothing to delete in Badger; segments a crash left behind
		// after the last commit go now.
		if from > 1 && from <= height {
			err = s.dropBlockSegments(from)
		}
		return from, false, err
	}
	plan, err := s.planPrune(from, min(to, from+uint64(s.pruneHeights)))
	if err != nil {
		return from, false, err
	}
	if err := s.pruneStage("planned"); err != nil {
		return from, false, err
	}
	if err := s.commitPrune(plan); err != nil {
		return from, false, err
	}
	if err := s.pruneStage("committed"); err != nil {
		return plan.end, false, err
	}
	if err := s.dropBlockSegments(plan.end); err != nil {
		return plan.end, false, err
	}
	return plan.end, plan.end < to, nil
}

func (s *Store) pruneStage(name string) error {
	if s.pruneHook == nil {
		return nil
	}
	if err := s.pruneHook(name); err != nil {
		return fmt.Errorf("%w at prune stage %s: %w", errAbortedByTesting, name, err)
	}
	return nil
}

// prunePlan is what one prune transaction deletes: heights from..end-1.
type prunePlan struct {
	from, end uint64
	keys      [][]byte // deleted unconditionally
	txs       []txKey  // deleted if they still name their height
	stable    uint64   // the latest checkpoint's height, whose k/ stays
}

// txKey is a t/ key and the height whose block holds that transaction.
type txKey struct {
	key    []byte
	height uint64
}

// planPrune reads the blocks of heights from.. (up to end, fewer when the
// key budget is reached, never fewer than one) and lists their keys. It
// reads without the write lock: nothing at these heights changes.
func (s *Store) planPrune(from, end uint64) (*prunePlan, error) {
	p := &prunePlan{from: from, end: from}
	if h, _, err := s.LatestCheckpoint(); err == nil {
		p.stable = h
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	for h := from; h < end; h++ {
		var b Block
		if err := s.getBlockFileRLP(heightKey(prefixBlock, h), &b); err != nil {
			return nil, fmt.Errorf("prune: read block %d: %w", h, err)
		}
		hashes := b.TxHashes()
		if h > from && len(p.keys)+len(p.txs)+len(hashes)+6 > s.pruneKeys {
			break
		}
		for _, prefix := range []string{prefixBlock, prefixReceipts, prefixCert, prefixAppHash} {
			p.keys = append(p.keys, heightKey(prefix, h))
		}
		if h != p.stable {
			p.keys = append(p.keys, heightKey(prefixCheckpoint, h))
		}
		hash := b.Hash()
		p.keys = append(p.keys, prefixed(prefixBlockHash, hash[:]))
		for _, th := range hashes {
			p.txs = append(p.txs, txKey{key: prefixed(prefixTx, th[:]), height: h})
		}
		p.end = h + 1
	}
	if from == 1 {
		// The genesis appHash goes with block 1: nothing reads it once
		// the core restores from later heights.
		p.keys = append(p.keys, heightKey(prefixAppHash, 0))
	}
	return p, nil
}

// commitPrune deletes p's keys and raises m/earliest to p.end in one
// synced Badger transaction, holding the write lock so that no block
// commit interleaves (a block may index a transaction hash again, and the
// t/ check must see the latest record).
func (s *Store) commitPrune(p *prunePlan) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	if cur, err := readEarliest(txn); err != nil {
		return fmt.Errorf("prune: %w", err)
	} else if cur != p.from {
		return fmt.Errorf("prune: earliest height moved from %d to %d while planning", p.from, cur)
	}
	for _, k := range p.keys {
		if err := txn.Delete(k); err != nil {
			return fmt.Errorf("prune heights %d..%d: %w", p.from, p.end-1, err)
		}
	}
	for _, t := range p.txs {
		if err := deleteTxRecordAt(txn, t); err != nil {
			return fmt.Errorf("prune heights %d..%d: %w", p.from, p.end-1, err)
		}
	}
	if err := txn.Set(keyEarliest, binary.BigEndian.AppendUint64(nil, p.end)); err != nil {
		return fmt.Errorf("prune heights %d..%d: %w", p.from, p.end-1, err)
	}
	// Readers see the heights as pruned from now on: a read that misses
	// a key this commit deletes then says pruned, not not-found.
	old := s.committed.earliest.Swap(p.end)
	if err := txn.Commit(); err != nil {
		s.committed.earliest.Store(old)
		return fmt.Errorf("prune heights %d..%d: commit: %w", p.from, p.end-1, err)
	}
	return s.badger.sync()
}

// deleteTxRecordAt deletes a t/ record if it still names t.height; a
// transaction included again later (a replay, or one rejected before
// execution) may have its record at another height, which stays.
func deleteTxRecordAt(txn *badger.Txn, t txKey) error {
	v, err := getValue(txn, t.key)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var st storedTx
	if err := rlp.DecodeBytes(v, &st); err != nil {
		return fmt.Errorf("decode %q: %w", t.key, err)
	}
	if st.Height != t.height {
		return nil
	}
	return txn.Delete(t.key)
}

// dropBlockSegments deletes the block-file segments that hold only
// entries below height earliest: those older than the segment of its
// block. A store whose earliest block is held in Badger (written before
// the block file) has no older entry in the block file.
func (s *Store) dropBlockSegments(earliest uint64) error {
	v, err := s.get(heightKey(prefixBlock, earliest))
	if err != nil {
		return fmt.Errorf("prune: block %d: %w", earliest, err)
	}
	loc, ok, err := parseStoredLocation(v)
	if err != nil || !ok {
		return err
	}
	n, err := s.blocks.DropBefore(loc.Start())
	if n > 0 {
		s.log.Info("block-file segments of pruned blocks deleted", "segments", n, "earliest", earliest)
	}
	return err
}

// checkEarliestBlock fails unless the block file holds the earliest
// block's segment: the segments below it may be gone (pruned), that one
// must not be.
func (s *Store) checkEarliestBlock() error {
	e, _ := s.EarliestHeight()
	if h, err := s.Height(); err != nil || e > h || e <= 1 {
		return nil
	}
	v, err := s.get(heightKey(prefixBlock, e))
	if err != nil {
		return fmt.Errorf("earliest block %d: %w", e, err)
	}
	loc, ok, err := parseStoredLocation(v)
	if err != nil || !ok {
		return err
	}
	if first, _ := s.blocks.Segments(); loc.Segment < first {
		return fmt.Errorf("%w: earliest block %d is in segment %d, the oldest left is %d", blockfile.ErrMissing, e, loc.Segment, first)
	}
	return nil
}
