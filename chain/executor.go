package chain

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"

	"github.com/dgraph-io/badger/v4"
)

// CodeAppPanic is the receipt code of a transaction whose ExecuteTx
// panicked; its writes are discarded like any failure's.
const CodeAppPanic uint32 = 4

// Errors returned by ApplyBlock for a block that cannot follow the store.
var (
	ErrWrongHeight      = errors.New("block height does not follow the latest height")
	ErrWrongParent      = errors.New("block parent hash is not the latest block's hash")
	ErrCertMismatch     = errors.New("certificate does not certify this block")
	ErrNilBlockOrCert   = errors.New("block and certificate are required")
	errAbortedByTesting = errors.New("aborted before commit")
)

// Executor applies committed blocks to a Store through an Application.
// ApplyBlock and InitGenesis must be called from one goroutine at a time
// (the Store serialises them anyway); Query and CheckTx may be called from
// any goroutine, concurrently with ApplyBlock.
type Executor struct {
	store   *Store
	app     Application
	chainID string
	log     *slog.Logger

	// beforeCommit, when set by tests, runs at each named stage of a
	// commit; an error aborts the Badger transaction as a crash would.
	beforeCommit func(stage string) error
}

// NewExecutor returns an executor for the chain chainID running app over
// store. A nil logger uses slog.Default().
func NewExecutor(store *Store, app Application, chainID string, log *slog.Logger) *Executor {
	if log == nil {
		log = slog.Default()
	}
	return &Executor{store: store, app: app, chainID: chainID, log: log}
}

// Store returns the executor's store.
func (e *Executor) Store() *Store { return e.store }

// App returns the executor's application.
func (e *Executor) App() Application { return e.app }

// BlockResult is the outcome of applying one block.
type BlockResult struct {
	Height   uint64
	Hash     Hash
	AppHash  Hash   // appHash after this block
	TxHashes []Hash // in block order
	Receipts []Receipt
}

// blockState is the buffered state of one block (or of genesis).
type blockState struct {
	txn    *badger.Txn
	reader *txnReader
	app    *overlay
	nonces map[Address]uint64
}

func newBlockState(txn *badger.Txn) *blockState {
	r := &txnReader{txn: txn}
	return &blockState{txn: txn, reader: r, app: newOverlay(r), nonces: make(map[Address]uint64)}
}

// readErr returns the first error Badger returned to an application read.
func (bs *blockState) readErr() error {
	if bs.reader.err != nil {
		return fmt.Errorf("read state: %w", bs.reader.err)
	}
	return nil
}

func (bs *blockState) nonce(a Address) (uint64, error) {
	if n, ok := bs.nonces[a]; ok {
		return n, nil
	}
	return txnNonce(bs.txn, a)
}

func (e *Executor) stage(name string) error {
	if e.beforeCommit == nil {
		return nil
	}
	if err := e.beforeCommit(name); err != nil {
		return fmt.Errorf("%w at %s: %w", errAbortedByTesting, name, err)
	}
	return nil
}

// InitGenesis validates appState through the application and commits the
// genesis state at height 0. It returns the genesis appHash, or
// ErrInitialized when the store already has one.
func (e *Executor) InitGenesis(appState json.RawMessage) (Hash, error) {
	e.store.writeMu.Lock()
	defer e.store.writeMu.Unlock()
	if err := e.store.badger.checkFree(e.store.opt.MinFreeBytes); err != nil {
		return Hash{}, fmt.Errorf("commit the genesis state: %w", err)
	}
	txn := e.store.db.NewTransaction(true)
	defer txn.Discard()
	if _, err := readHeight(txn); err == nil {
		return Hash{}, ErrInitialized
	} else if !errors.Is(err, ErrNotInitialized) {
		return Hash{}, err
	}
	bs := newBlockState(txn)
	if err := e.app.InitState(appState, bs.app); err != nil {
		return Hash{}, fmt.Errorf("init %s state: %w", e.app.Name(), err)
	}
	if err := bs.readErr(); err != nil {
		return Hash{}, err
	}
	appHash, err := e.writeState(txn, bs, 0)
	if err != nil {
		return Hash{}, err
	}
	if err := e.stage("commit"); err != nil {
		return Hash{}, err
	}
	if err := txn.Commit(); err != nil {
		return Hash{}, commitErr(0, err)
	}
	if err := e.store.badger.sync(); err != nil {
		return Hash{}, err
	}
	e.store.committed.commit(0, bs.nonces)
	e.log.Info("genesis state committed", "app", e.app.Name(), "app_hash", appHash)
	return appHash, nil
}

func commitErr(height uint64, err error) error {
	if errors.Is(err, badger.ErrTxnTooBig) {
		return fmt.Errorf("commit height %d: %w: %w", height, ErrBlockTooBig, err)
	}
	return fmt.Errorf("commit height %d: %w", height, err)
}

// ApplyBlock executes every transaction of b and commits, in one synced
// Badger transaction, the block's and receipts' locations (appended to the
// block file and synced just before), its certificate, the tx index, the
// state and nonce writes, the new appHash and the new height.
// It trusts b.Senders (the certificate's quorum checked them) and recovers
// no signature. On an error before the Badger commit nothing is written:
// entries already appended to the block file are cut off again. When the
// commit itself fails its outcome is unknown, and the block file takes no
// more entries until the store is reopened.
func (e *Executor) ApplyBlock(b *Block, c *Certificate) (*BlockResult, error) {
	res, err := e.ApplyBlocks([]*Block{b}, []*Certificate{c})
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// ApplyBlocks applies consecutive blocks, each certified by the
// certificate at the same index, as ApplyBlock would one after another,
// but commits them all in one synced Badger transaction: a node that has
// several committed blocks waiting (block sync, or execution behind
// consensus) pays for one disk sync instead of one per block. Either every
// block is committed or, on any error, none is. A batch too large for one
// Badger transaction fails with ErrBlockTooBig; ApplyBatchLimit gives a
// size that always fits.
func (e *Executor) ApplyBlocks(blocks []*Block, certs []*Certificate) ([]*BlockResult, error) {
	if len(blocks) == 0 || len(blocks) != len(certs) {
		return nil, fmt.Errorf("%w: %d blocks, %d certificates", ErrNilBlockOrCert, len(blocks), len(certs))
	}
	e.store.writeMu.Lock()
	defer e.store.writeMu.Unlock()
	if err := e.store.badger.checkFree(e.store.opt.MinFreeBytes); err != nil {
		return nil, fmt.Errorf("commit height %d: %w", blocks[0].Header.Height, err)
	}
	txn := e.store.db.NewTransaction(true)
	defer txn.Discard()
	results := make([]*BlockResult, len(blocks))
	nonces := make(map[Address]uint64)
	entries := make([][]byte, 0, 2*len(blocks))
	for i, b := range blocks {
		a, err := e.applyInTxn(txn, b, certs[i])
		if err != nil {
			return nil, err
		}
		results[i] = a.res
		maps.Copy(nonces, a.nonces)
		entries = append(entries, a.block, a.receipts)
	}
	appended, err := e.writeLocations(txn, blocks[0].Header.Height, entries)
	if err != nil {
		return nil, e.dropAppended(appended, err)
	}
	last := blocks[len(blocks)-1].Header.Height
	if err := e.stage("commit"); err != nil {
		return nil, e.dropAppended(appended, err)
	}
	if err := txn.Commit(); err != nil {
		err = commitErr(last, err)
		// Whether Badger holds the commit is unknown: append nothing
		// after these entries until the node restarts and the store's
		// open keeps them or cuts them as Badger says.
		e.store.blocks.Fail(err)
		return nil, err
	}
	if err := e.store.badger.sync(); err != nil {
		// The commit is in Badger's files, but a new file's entry may not
		// be durable: report it as not stored, like a failed commit.
		e.store.blocks.Fail(err)
		return nil, err
	}
	e.store.committed.commit(last, nonces)
	for i, res := range results {
		e.log.Debug("block applied", "height", res.Height, "txs", len(blocks[i].Txs), "hash", res.Hash, "app_hash", res.AppHash)
	}
	return results, nil
}

// ApplyBatchLimit is the total encoded size of the blocks one ApplyBlocks
// call may take: a quarter of what one Badger transaction can hold, which
// leaves room for each block's certificate, tx index and state writes
// (the blocks and receipts themselves go to the block file).
func (e *Executor) ApplyBatchLimit() int {
	return int(e.store.db.MaxBatchSize() / 4)
}

// appliedBlock is what applyInTxn made of one block.
type appliedBlock struct {
	res             *BlockResult
	nonces          map[Address]uint64 // next nonce of every sender it changed
	block, receipts []byte             // encodings for the block file
}

// applyInTxn executes b in txn (which may hold earlier blocks of the same
// batch: Badger reads see the transaction's own pending writes) and writes
// everything ApplyBlock commits for it but the block and the receipts,
// whose encodings it returns for the block file.
func (e *Executor) applyInTxn(txn *badger.Txn, b *Block, c *Certificate) (*appliedBlock, error) {
	if b == nil || c == nil {
		return nil, ErrNilBlockOrCert
	}
	hash, err := e.checkBlock(txn, b, c)
	if err != nil {
		return nil, err
	}
	bs := newBlockState(txn)
	res := &BlockResult{Height: b.Header.Height, Hash: hash, TxHashes: make([]Hash, len(b.Txs)), Receipts: make([]Receipt, len(b.Txs))}
	copy(res.TxHashes, b.TxHashes())
	for i := range b.Txs {
		if res.Receipts[i], err = e.executeTx(bs, b, i, res.TxHashes[i]); err != nil {
			return nil, fmt.Errorf("execute block %d tx %d: %w", b.Header.Height, i, err)
		}
	}
	if err := e.stage("executed"); err != nil {
		return nil, err
	}
	if res.AppHash, err = e.writeState(txn, bs, b.Header.Height); err != nil {
		return nil, err
	}
	a := &appliedBlock{res: res, nonces: bs.nonces}
	if a.block, a.receipts, err = e.writeBlock(txn, b, c, res); err != nil {
		return nil, err
	}
	return a, nil
}

// checkBlock checks that b follows the latest block and that c certifies
// it, and returns b's hash.
func (e *Executor) checkBlock(txn *badger.Txn, b *Block, c *Certificate) (Hash, error) {
	prev, err := readHeight(txn)
	if err != nil {
		return Hash{}, err
	}
	if b.Header.Height != prev+1 {
		return Hash{}, fmt.Errorf("%w: block %d, latest %d", ErrWrongHeight, b.Header.Height, prev)
	}
	hash := b.Hash()
	if c.Height != b.Header.Height || c.BlockHash != hash {
		return Hash{}, fmt.Errorf("%w: certificate (%d, %s), block (%d, %s)", ErrCertMismatch, c.Height, c.BlockHash, b.Header.Height, hash)
	}
	if err := b.CheckTxRoot(); err != nil {
		return Hash{}, fmt.Errorf("block %d: %w", b.Header.Height, err)
	}
	if prev >= 1 {
		// h/<hash> maps every stored block's hash to its height.
		v, err := getValue(txn, prefixed(prefixBlockHash, b.Header.ParentHash[:]))
		if err != nil && !errors.Is(err, ErrNotFound) {
			return Hash{}, fmt.Errorf("read parent of block %d: %w", b.Header.Height, err)
		}
		if len(v) != 8 || binary.BigEndian.Uint64(v) != prev {
			return Hash{}, fmt.Errorf("%w: block %d names parent %s", ErrWrongParent, b.Header.Height, b.Header.ParentHash)
		}
	}
	return hash, nil
}
