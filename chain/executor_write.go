package chain

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/bafomet/bafomet/chain/blockfile"
	"github.com/dgraph-io/badger/v4"
	"github.com/ethereum/go-ethereum/rlp"
)

// executeTx runs the transaction at index i of b against bs. Executor-level
// rejections (undecodable, wrong chain, wrong nonce) change nothing, not
// even the nonce; every transaction the application executes advances its
// sender's nonce, and only a successful one keeps its writes.
//
// A Badger read error is not deterministic, so it is returned (and the
// block aborted) rather than turned into a receipt.
func (e *Executor) executeTx(bs *blockState, b *Block, i int, hash Hash) (Receipt, error) {
	tx, err := DecodeTxHashed(b.Txs[i], 0, hash)
	if err != nil {
		return Receipt{Code: CodeBadSignature, Message: err.Error()}, nil
	}
	if tx.ChainID != e.chainID {
		return Receipt{Code: CodeWrongChain, Message: fmt.Sprintf("%v: %q, want %q", ErrTxWrongChainID, tx.ChainID, e.chainID)}, nil
	}
	sender := b.Senders[i]
	next, err := bs.nonce(sender)
	if err != nil {
		return Receipt{}, fmt.Errorf("read nonce of %s: %w", sender, err)
	}
	if tx.Nonce != next {
		return Receipt{Code: CodeBadNonce, Message: fmt.Sprintf("nonce %d, expected %d", tx.Nonce, next)}, nil
	}
	bs.nonces[sender] = next + 1
	ctx := TxContext{Height: b.Header.Height, Index: i, Timestamp: b.Header.Timestamp, Hash: hash, Sender: sender, Nonce: tx.Nonce}
	txState := newOverlay(bs.app)
	rc := e.runApp(ctx, tx.Payload, txState)
	if err := bs.readErr(); err != nil {
		return Receipt{}, err
	}
	if rc.OK() {
		txState.mergeInto(bs.app)
	}
	return rc, nil
}

func sortedAddresses(m map[Address]uint64) []Address {
	out := make([]Address, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i][:], out[j][:]) < 0 })
	return out
}

// runApp calls ExecuteTx, turning a panic into a failed receipt.
func (e *Executor) runApp(ctx TxContext, payload []byte, st *overlay) (rc Receipt) {
	defer func() {
		if r := recover(); r != nil {
			e.log.Error("application panicked", "app", e.app.Name(), "height", ctx.Height, "tx", ctx.Hash, "panic", r)
			rc = Receipt{Code: CodeAppPanic, Message: fmt.Sprintf("application panicked: %v", r)}
		}
	}()
	return e.app.ExecuteTx(ctx, payload, st)
}

// writeState writes the block's state and nonce changes into txn, updates
// the LtHash accumulator with each changed pair, and records the appHash
// and the height. It returns the new appHash.
func (e *Executor) writeState(txn *badger.Txn, bs *blockState, height uint64) (Hash, error) {
	var lt LtHash
	if acc, err := getValue(txn, keyLtHash); err == nil {
		if err := lt.SetBytes(acc); err != nil {
			return Hash{}, err
		}
	} else if !errors.Is(err, ErrNotFound) {
		return Hash{}, err
	}
	changes := make([]stateChange, 0, len(bs.app.writes)+len(bs.nonces))
	for _, k := range bs.app.sortedKeys() {
		w := bs.app.writes[k]
		changes = append(changes, stateChange{key: prefixed(prefixState, []byte(k)), value: w.value, deleted: w.deleted})
	}
	for _, a := range sortedAddresses(bs.nonces) {
		v := binary.BigEndian.AppendUint64(nil, bs.nonces[a])
		changes = append(changes, stateChange{key: prefixed(prefixNonce, a[:]), value: v})
	}
	for i := range changes {
		if err := changes[i].write(txn); err != nil {
			return Hash{}, err
		}
	}
	lt.Combine(ltDelta(changes))
	if err := e.stage("state"); err != nil {
		return Hash{}, err
	}
	appHash := lt.AppHash()
	for _, kv := range []struct{ k, v []byte }{
		{keyLtHash, lt.Bytes()},
		{heightKey(prefixAppHash, height), appHash[:]},
		{keyHeight, binary.BigEndian.AppendUint64(nil, height)},
	} {
		if err := txn.Set(kv.k, kv.v); err != nil {
			return Hash{}, commitErr(height, err)
		}
	}
	return appHash, nil
}

// stateChange is one state or nonce key a block writes, with the value it
// replaces (hadOld) for the LtHash update.
type stateChange struct {
	key, value []byte
	deleted    bool
	old        []byte
	hadOld     bool
}

// write reads the key's committed value and replaces it in txn.
func (c *stateChange) write(txn *badger.Txn) error {
	old, err := getValue(txn, c.key)
	switch {
	case err == nil:
		c.old, c.hadOld = old, true
	case !errors.Is(err, ErrNotFound):
		return err
	}
	if c.deleted {
		if err := txn.Delete(c.key); err != nil {
			return commitErr(0, err)
		}
		return nil
	}
	if err := txn.Set(c.key, c.value); err != nil {
		return commitErr(0, err)
	}
	return nil
}

// ltParallelMin is the number of changes below which the LtHash delta is
// computed on the calling goroutine: a BLAKE3 expansion costs a few µs, a
// goroutine a few hundred ns.
const ltParallelMin = 32

// ltDelta returns the lattice sum of every change (new pair added, old
// pair removed). The expansions run across GOMAXPROCS workers, each
// summing its own share; lane-wise addition mod 2^16 is commutative and
// associative, so the result is the same for any split.
func ltDelta(changes []stateChange) *LtHash {
	workers := min(runtime.GOMAXPROCS(0), len(changes)/ltParallelMin+1)
	parts := make([]LtHash, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(changes) {
					return
				}
				c := &changes[i]
				if c.hadOld {
					parts[w].Remove(c.key, c.old)
				}
				if !c.deleted {
					parts[w].Add(c.key, c.value)
				}
			}
		})
	}
	wg.Wait()
	for w := 1; w < workers; w++ {
		parts[0].Combine(&parts[w])
	}
	return &parts[0]
}

// writeBlock stores the certificate, the hash index and the tx index, and
// returns the block's and the receipts' encodings for the block file (the
// caller appends them and stores their locations; see writeLocations).
func (e *Executor) writeBlock(txn *badger.Txn, b *Block, c *Certificate, res *BlockResult) (block, receipts []byte, err error) {
	cert, err := rlp.EncodeToBytes(c)
	if err != nil {
		return nil, nil, fmt.Errorf("encode certificate %d: %w", res.Height, err)
	}
	receipts, err = rlp.EncodeToBytes(res.Receipts)
	if err != nil {
		return nil, nil, fmt.Errorf("encode receipts %d: %w", res.Height, err)
	}
	sets := []struct{ k, v []byte }{
		{heightKey(prefixCert, res.Height), cert},
		{prefixed(prefixBlockHash, res.Hash[:]), binary.BigEndian.AppendUint64(nil, res.Height)},
	}
	for _, s := range sets {
		if err := txn.Set(s.k, s.v); err != nil {
			return nil, nil, commitErr(res.Height, err)
		}
	}
	if err := e.stage("block"); err != nil {
		return nil, nil, err
	}
	for i, h := range res.TxHashes {
		if err := writeTxRecord(txn, h, res.Height, uint64(i), res.Receipts[i].Code); err != nil {
			return nil, nil, commitErr(res.Height, err)
		}
	}
	return b.Encode(), receipts, e.stage("index")
}

// writeLocations appends the blocks' and receipts' encodings (block,
// receipts, block, receipts, … for heights first, first+1, …) to the block
// file, synced, and stores where each landed under b/ and r/ in txn. The
// Badger commit that follows makes them part of the chain. It returns the
// appended entries' locations, also with an error after the append, for
// dropAppended.
func (e *Executor) writeLocations(txn *badger.Txn, first uint64, entries [][]byte) ([]blockfile.Location, error) {
	locs, err := e.store.blocks.Append(entries)
	if err != nil {
		return nil, fmt.Errorf("commit height %d: %w", first, err)
	}
	for i, loc := range locs {
		prefix := prefixBlock
		if i%2 == 1 {
			prefix = prefixReceipts
		}
		if err := txn.Set(heightKey(prefix, first+uint64(i/2)), storedLocation(loc)); err != nil {
			return locs, commitErr(first+uint64(i/2), err)
		}
	}
	return locs, e.stage("blockfile")
}

// dropAppended cuts entries appended for a commit that failed before
// reaching Badger off the block file, and returns err. If the cut fails
// too, the block file takes no more entries until the store is reopened
// (whose open cuts them).
func (e *Executor) dropAppended(appended []blockfile.Location, err error) error {
	if len(appended) == 0 {
		return err
	}
	if cerr := e.store.blocks.Cut(appended[0].Start()); cerr != nil {
		e.store.blocks.Fail(cerr)
		return errors.Join(err, cerr)
	}
	return err
}

// writeTxRecord indexes a transaction: where it executed (its receipt is
// read from the block's receipts). A replay rejected for its nonce never
// overwrites an existing record, so the index keeps the real execution; a
// transaction executes at most once, so nothing else can.
func writeTxRecord(txn *badger.Txn, h Hash, height, index uint64, code uint32) error {
	key := prefixed(prefixTx, h[:])
	if code == CodeBadNonce {
		if _, err := getValue(txn, key); err == nil {
			return nil
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	enc, err := rlp.EncodeToBytes(&storedTx{Height: height, Index: index})
	if err != nil {
		return fmt.Errorf("encode tx record: %w", err)
	}
	return txn.Set(key, enc)
}
