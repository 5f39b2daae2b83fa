package chain

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain/blockfile"
)

// Badger key layout. Every key starts with a one-letter namespace and '/'.
//
//	m/height            latest committed height, 8 bytes big-endian (absent before genesis)
//	m/lthash            the LtHash accumulator of the state (LtHashBytes)
//	m/earliest          lowest height whose block the store holds, 8 bytes
//	                    big-endian; absent means 1 (never pruned). Prune
//	                    raises it in the transaction that deletes below it
//	u/<name>            metadata (genesis hash, chain id, …)
//	b/<height>          where the block (canonical RLP) is in the block file
//	c/<height>          commit certificate, RLP
//	r/<height>          where the block's receipts (RLP, in block order) are
//	                    in the block file
//	h/<block hash>      height of the block
//	t/<tx hash>         [height, index], RLP: where the transaction
//	                    executed; its receipt is in that block's receipts
//	                    (stores written before hold [height, index, receipt])
//	a/<height>          appHash after the height
//	s/<app key>         application state
//	n/<address>         sender's next nonce, 8 bytes big-endian
//	p/<seq>             consensus record of a version before the consensus log
//	                    moved to package wal: height (8 bytes) ‖ record; read
//	                    once to import them, then deleted
//	k/<height>          stable checkpoint proof
//
// Heights below m/earliest have no b/, r/, c/, a/ or k/ key (but the
// latest checkpoint's), and their blocks' h/ and t/ keys are gone (see
// Prune).
//
// <height> and <seq> are 8 bytes big-endian, so iteration is in order.
// The state is exactly the s/ and n/ keys; the LtHash covers both.
//
// A b/ or r/ value is locationTag ‖ blockfile.Location; stores written
// before blocks moved to the block file (blocksDir) hold the RLP itself,
// which always starts with a list prefix (≥ 0xc0), and are read as they
// are.
var (
	keyHeight = []byte("m/height")
	keyLtHash = []byte("m/lthash")
)

const (
	prefixMeta       = "u/"
	prefixBlock      = "b/"
	prefixCert       = "c/"
	prefixReceipts   = "r/"
	prefixBlockHash  = "h/"
	prefixTx         = "t/"
	prefixAppHash    = "a/"
	prefixState      = "s/"
	prefixNonce      = "n/"
	prefixRecord     = "p/"
	prefixCheckpoint = "k/"

	// locationTag starts a b/ or r/ value that is a location in the block
	// file.
	locationTag = 0x01
	// blocksDir is the block file's directory inside the store's.
	blocksDir = "blocks"
)

// Store errors.
var (
	ErrNotFound       = errors.New("not found")
	ErrNotInitialized = errors.New("store has no genesis state")
	ErrInitialized    = errors.New("store already has a genesis state")
	ErrOtherChain     = errors.New("data directory belongs to another chain")
	ErrBlockTooBig    = errors.New("block too big to commit in one Badger transaction")
	// ErrDiskFull means the store's filesystem has less free space than
	// StoreOptions.MinFreeBytes: the executor commits nothing until there
	// is more.
	ErrDiskFull = errors.New("not enough free disk space to commit")
)

// Store defaults.
const (
	// DefaultMemTableBytes is the smallest memtable that commits a block
	// at the default genesis limits (1,000 transactions, 2 MiB; see
	// MemTableBytesFor). Smaller is better while it fits: when a memtable
	// fills, Badger allocates and zeroes the next one's arena (about 1.4×
	// its size) while it holds the database lock, and every read and
	// write of the node waits. At 32 MiB that pause lasted over a second
	// on a loaded 2-core machine, on all validators at once (they write
	// the same data) — mostly page faults, because the 160 MiB memory
	// limit then in force had the runtime hand freed pages back (see
	// node.DefaultMemoryLimit); without it the pause is ~90 ms at 16 MiB.
	// A smaller arena still means a shorter pause and 2 × 16 MiB less
	// memory.
	DefaultMemTableBytes   = 16 << 20
	DefaultBlockCacheBytes = 32 << 20
	DefaultIndexCacheBytes = 16 << 20
	DefaultValueLogBytes   = 256 << 20

	// defaultValueThreshold: values at least this large live in Badger's
	// value log, written once, and count only ~26 bytes in the LSM tree;
	// smaller ones (state, nonces, index entries, certificates, block
	// locations) stay in the LSM tree. Blocks and receipts are not in
	// Badger at all (see blockfile). One Badger block (4 KiB): a larger
	// inline value makes the table builder regrow its block buffer, and
	// every flush and compaction rewrite it. At 64 KiB blocks, then still
	// in Badger, stayed inline, and Badger's table-builder pool held 1 GB of
	// a node's heap after nine minutes at 2,000 tx/s (docs/performance.md).
	defaultValueThreshold = 4 << 10
	// memTables is how many memtables Badger keeps (the one being written
	// and those waiting to be flushed); Badger's default of 5 lets a
	// flush that falls behind hold five memtables' arenas in memory.
	memTables = 2
	// compactors is how many compactions Badger runs at once (its
	// minimum; Badger's default is 4). Each compaction builds its output
	// tables in memory, several in parallel, before writing them.
	compactors = 2
	// tableSizeMultiplier 1 keeps every level's tables at Badger's base
	// table size (2 MiB), as RocksDB does by default. Badger's default of 2
	// doubles the size per level, and a compaction into a deep level holds
	// up to 8 + splits builders of twice that size each: with both
	// defaults a node's heap jumped by 200+ MB during compactions
	// (docs/performance.md).
	tableSizeMultiplier = 1
)

// MemTableBytesFor returns a memtable size with which Badger commits any
// block within the given limits (genesis max_block_txs and
// max_block_bytes) in one transaction: DefaultMemTableBytes, or more when
// the genesis allows larger blocks. Badger caps a transaction at 15% of the
// memtable, in bytes and in entries (one per ~96-byte skiplist node). The
// estimate takes what bafomet's applications write: about a transaction's
// own size in state, an index entry and a nonce per transaction (~256
// bytes, 3 entries). The block and its receipts go to the block file, not
// to Badger.
func MemTableBytesFor(maxBlockTxs, maxBlockBytes uint64) int64 {
	const perTxBytes, perTxEntries, nodeBytes, fixedEntries = 256, 3, 96, 16
	size := maxBlockBytes + perTxBytes*maxBlockTxs
	entries := (perTxEntries*maxBlockTxs + fixedEntries) * nodeBytes
	need := max(size, entries) * 100 / 15
	need = (need + 1<<20 - 1) &^ (1<<20 - 1) // whole MiB
	return max(DefaultMemTableBytes, int64(need))
}

// StoreOptions configures the Badger database. Zero fields take defaults.
type StoreOptions struct {
	// MemTableBytes is Badger's memtable size. Badger caps one
	// transaction at 15% of it, which bounds the largest block the
	// executor can commit atomically (see MaxCommitBytes).
	MemTableBytes   int64
	BlockCacheBytes int64
	IndexCacheBytes int64
	ValueLogBytes   int64
	// NonceCacheEntries bounds the in-memory cache of committed sender
	// nonces that mempool admission reads (DefaultNonceCacheEntries).
	NonceCacheEntries int
	// MinFreeBytes is the free space the executor leaves on the store's
	// filesystem: below it, it commits nothing (ErrDiskFull). Zero means
	// MinFreeBytesFor(MemTableBytes); negative turns the check off.
	MinFreeBytes int64
	// BlockSegmentBytes is the block file's segment size
	// (blockfile.DefaultSegmentBytes); tests make it small.
	BlockSegmentBytes int64
	Logger            *slog.Logger
}

// MinFreeBytesFor returns the free space a store with memtables of
// memTableBytes keeps in reserve for Badger's own writes. Badger writes
// memtable flushes, compaction output and the value log through memory
// maps of files it creates at their full size without allocating them,
// so running out of space inside one is a SIGBUS that kills the process,
// and a restart replays into the same full disk. The reserve covers
// the memtables waiting to be flushed (memTables of them), the tables
// that compactions (compactors at once) write before deleting their
// inputs, and the value log's growth: 8 memtables plus 64 MiB.
func MinFreeBytesFor(memTableBytes int64) int64 {
	return 8*memTableBytes + 64<<20
}

func (o StoreOptions) withDefaults() StoreOptions {
	if o.MemTableBytes <= 0 {
		o.MemTableBytes = DefaultMemTableBytes
	}
	if o.BlockCacheBytes <= 0 {
		o.BlockCacheBytes = DefaultBlockCacheBytes
	}
	if o.IndexCacheBytes <= 0 {
		o.IndexCacheBytes = DefaultIndexCacheBytes
	}
	if o.ValueLogBytes <= 0 {
		o.ValueLogBytes = DefaultValueLogBytes
	}
	if o.NonceCacheEntries <= 0 {
		o.NonceCacheEntries = DefaultNonceCacheEntries
	}
	if o.MinFreeBytes == 0 {
		o.MinFreeBytes = MinFreeBytesFor(o.MemTableBytes)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Store is a node's Badger database — certificates, the tx index,
// application state, nonces, appHashes, checkpoints, metadata, and where
// each block and its receipts are — and the block file that holds the
// blocks and receipts (package blockfile, in the blocks/ subdirectory).
// Reads are safe from any goroutine; writes of chain state are serialised
// by the Store.
type Store struct {
	db     *badger.DB
	blocks *blockfile.File
	dir    string
	opt    StoreOptions
	log    *slog.Logger

	writeMu sync.Mutex // serialises genesis and block commits
	badger  storeDir   // syncs the entries of files Badger creates

	committed *committedCache // height, earliest height and nonces as of the latest commit

	// pruneHook, when set by tests, runs at each named stage of a prune
	// batch; an error stops the prune there as a crash would.
	pruneHook func(stage string) error
	// pruneHeights and pruneKeys bound one prune transaction
	// (PruneBatchHeights, PruneBatchKeys; tests make them small).
	pruneHeights, pruneKeys int
}

// OpenStore opens (creating if needed) the Badger database in dir with
// sync writes, and the block file in dir/blocks, cut back to the last
// entry the database names (see blockfile).
func OpenStore(dir string, opt StoreOptions) (*Store, error) {
	opt = opt.withDefaults()
	bo := badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithDetectConflicts(false). // the Store serialises its writers
		WithMemTableSize(opt.MemTableBytes).
		WithBlockCacheSize(opt.BlockCacheBytes).
		WithIndexCacheSize(opt.IndexCacheBytes).
		WithValueLogFileSize(opt.ValueLogBytes).
		WithNumMemtables(memTables).
		WithNumCompactors(compactors).
		WithValueThreshold(min(defaultValueThreshold, 15*opt.MemTableBytes/100/2)).
		WithNumVersionsToKeep(1).
		// Uncompressed tables: a compressing table builder holds each
		// block twice in its allocator and reads decompress into heap
		// buffers; without compression a node's anonymous memory peak
		// over ten minutes at 2,000 tx/s fell from 380–470 to 230–250
		// MB, for tables about twice as large on disk
		// (docs/performance.md). Tables written compressed before read
		// as they are: Badger records each table's compression.
		WithCompression(options.None).
		WithLogger(badgerLogger{opt.Logger})
	bo.TableSizeMultiplier = tableSizeMultiplier
	if err := removeEmptyLogs(dir); err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s := &Store{
		db: db, dir: dir, opt: opt, log: opt.Logger, committed: newCommittedCache(opt.NonceCacheEntries),
		pruneHeights: PruneBatchHeights, pruneKeys: PruneBatchKeys,
	}
	s.badger.path = dir
	if err := s.badger.sync(); err != nil { // the files badger.Open created
		db.Close()
		return nil, err
	}
	if err := s.committed.loadHeight(db); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.openBlocks(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	if err := s.checkEarliestBlock(); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	return s, nil
}

// openBlocks opens the block file and cuts it back to the end of the
// latest height's receipts, the last entry a commit writes: what lies past
// it was appended by a commit that never reached Badger.
func (s *Store) openBlocks() error {
	blocks, err := blockfile.Open(filepath.Join(s.dir, blocksDir), blockfile.Options{SegmentBytes: s.opt.BlockSegmentBytes})
	if err != nil {
		return err
	}
	end, err := s.latestBlockFileEnd(blocks)
	if err == nil {
		err = blocks.Cut(end)
	}
	if err != nil {
		blocks.Close()
		return err
	}
	s.blocks = blocks
	return nil
}

// latestBlockFileEnd returns the end of the latest height's receipts in
// blocks (the zero Position before any block, or when they are inline).
// It reads the entry first: a location that does not name a whole,
// checksummed entry must not decide what Cut removes.
func (s *Store) latestBlockFileEnd(blocks *blockfile.File) (blockfile.Position, error) {
	h, err := s.Height()
	if err != nil || h == 0 {
		return blockfile.Position{}, nil
	}
	// A store whose state was imported (FinishStateImport) holds no block
	// at its height, and none at all until it commits the next one.
	if v, err := s.get(keyEarliest); err == nil && len(v) == 8 && binary.BigEndian.Uint64(v) > h {
		return blockfile.Position{}, nil
	}
	v, err := s.get(heightKey(prefixReceipts, h))
	if err != nil {
		return blockfile.Position{}, fmt.Errorf("receipts of latest height %d: %w", h, err)
	}
	loc, ok, err := parseStoredLocation(v)
	if err == nil && ok {
		_, err = blocks.Read(loc)
	}
	if err != nil {
		return blockfile.Position{}, fmt.Errorf("receipts of latest height %d: %w", h, err)
	}
	if !ok {
		return blockfile.Position{}, nil
	}
	return loc.End(), nil
}

// Close closes the block file and the database.
func (s *Store) Close() error {
	berr := s.blocks.Close()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return berr
}

// storedLocation is the b/ or r/ value naming loc.
func storedLocation(loc blockfile.Location) []byte {
	return append([]byte{locationTag}, loc.Bytes()...)
}

// parseStoredLocation decodes a b/ or r/ value: ok is false for a value
// that holds the RLP itself (written before the block file).
func parseStoredLocation(v []byte) (loc blockfile.Location, ok bool, err error) {
	if len(v) == 0 || v[0] != locationTag {
		return blockfile.Location{}, false, nil
	}
	loc, err = blockfile.ParseLocation(v[1:])
	return loc, err == nil, err
}

// getBlockFileRLP reads a b/ or r/ key and decodes into out the entry of
// the block file it names (or the RLP it holds).
func (s *Store) getBlockFileRLP(key []byte, out any) error {
	v, err := s.get(key)
	if err != nil {
		return err
	}
	loc, ok, err := parseStoredLocation(v)
	if err != nil {
		return fmt.Errorf("read %q: %w", key, err)
	}
	if ok {
		if v, err = s.blocks.Read(loc); err != nil {
			return fmt.Errorf("read %q: %w", key, err)
		}
	}
	if err := rlp.DecodeBytes(v, out); err != nil {
		return fmt.Errorf("decode %q: %w", key, err)
	}
	return nil
}

// MaxCommitBytes is the largest transaction Badger accepts with these
// options: 15% of the memtable size. Everything one block writes (block,
// certificate, tx index, receipts, state and nonce writes) must fit in it.
func (s *Store) MaxCommitBytes() int64 { return 15 * s.opt.MemTableBytes / 100 }

func heightKey(prefix string, h uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(prefix), h)
}

func prefixed(prefix string, b []byte) []byte {
	return append([]byte(prefix), b...)
}

// getValue returns a copy of key's value, or ErrNotFound.
func getValue(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read %q: %w", key, err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, fmt.Errorf("read %q: %w", key, err)
	}
	return v, nil
}

// get reads one key in a read-only transaction.
func (s *Store) get(key []byte) ([]byte, error) {
	var v []byte
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		v, err = getValue(txn, key)
		return err
	})
	return v, err
}

// getRLP reads key and decodes it into out.
func (s *Store) getRLP(key []byte, out any) error {
	v, err := s.get(key)
	if err != nil {
		return err
	}
	if err := rlp.DecodeBytes(v, out); err != nil {
		return fmt.Errorf("decode %q: %w", key, err)
	}
	return nil
}

func readHeight(txn *badger.Txn) (uint64, error) {
	v, err := getValue(txn, keyHeight)
	if errors.Is(err, ErrNotFound) {
		return 0, ErrNotInitialized
	}
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("height record is %d bytes, want 8", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Height returns the latest committed height: 0 after genesis, h after
// block h. It returns ErrNotInitialized before InitGenesis. It reads memory,
// never Badger, so it does not wait for a commit in flight.
func (s *Store) Height() (uint64, error) {
	if !s.committed.initialized.Load() {
		return 0, ErrNotInitialized
	}
	return s.committed.height.Load(), nil
}

// Initialized reports whether the store holds a genesis state.
func (s *Store) Initialized() (bool, error) {
	_, err := s.Height()
	if errors.Is(err, ErrNotInitialized) {
		return false, nil
	}
	return err == nil, err
}

// Block returns the block at height, ErrNotFound, or ErrPruned below the
// earliest height held.
func (s *Store) Block(height uint64) (*Block, error) {
	var b Block
	if err := s.getBlockFileRLP(heightKey(prefixBlock, height), &b); err != nil {
		return nil, fmt.Errorf("block %d: %w", height, s.readErr(height, err))
	}
	return &b, nil
}

// BlockByHash returns the block with hash h, or ErrNotFound. A pruned
// block's hash is no longer indexed, so it is ErrNotFound too; ErrPruned
// only when the block went between the index lookup and the read.
func (s *Store) BlockByHash(h Hash) (*Block, error) {
	v, err := s.get(prefixed(prefixBlockHash, h[:]))
	if err != nil {
		return nil, fmt.Errorf("block %s: %w", h, err)
	}
	return s.Block(binary.BigEndian.Uint64(v))
}

// Certificate returns the commit certificate of the block at height
// (ErrPruned below the earliest height held).
func (s *Store) Certificate(height uint64) (*Certificate, error) {
	var c Certificate
	if err := s.getRLP(heightKey(prefixCert, height), &c); err != nil {
		return nil, fmt.Errorf("certificate %d: %w", height, s.readErr(height, err))
	}
	return &c, nil
}

// Receipts returns the receipts of the block at height, in block order
// (ErrPruned below the earliest height held).
func (s *Store) Receipts(height uint64) ([]Receipt, error) {
	var rs []Receipt
	if err := s.getBlockFileRLP(heightKey(prefixReceipts, height), &rs); err != nil {
		return nil, fmt.Errorf("receipts %d: %w", height, s.readErr(height, err))
	}
	return rs, nil
}

// LatestBlock returns the latest committed block and its hash, or
// ErrNotFound when no block has been committed since genesis.
func (s *Store) LatestBlock() (*Block, Hash, error) {
	h, err := s.Height()
	if err != nil {
		return nil, Hash{}, err
	}
	if h == 0 {
		return nil, Hash{}, fmt.Errorf("latest block: %w", ErrNotFound)
	}
	b, err := s.Block(h)
	if err != nil {
		return nil, Hash{}, err
	}
	return b, b.Hash(), nil
}

// TxRecord locates an executed transaction and holds its receipt.
type TxRecord struct {
	Height  uint64
	Index   uint64
	Receipt Receipt
}

// storedTx is a t/ value. The receipt is read from the block's receipts in
// the block file; records written before that hold it here too.
type storedTx struct {
	Height  uint64
	Index   uint64
	Receipt *Receipt `rlp:"optional"`
}

// Tx returns the record of the transaction with hash h, or ErrNotFound.
// When a transaction was included more than once (a replay rejected with
// CodeBadNonce), the record is the one of its real execution. Pruning
// deletes the records of the heights it prunes, so a pruned transaction is
// ErrNotFound (the store cannot tell it from one never seen); ErrPruned
// only when its height went between the index lookup and the read.
func (s *Store) Tx(h Hash) (*TxRecord, error) {
	var st storedTx
	if err := s.getRLP(prefixed(prefixTx, h[:]), &st); err != nil {
		return nil, fmt.Errorf("tx %s: %w", h, err)
	}
	if err := s.prunedBelow(st.Height); err != nil {
		return nil, fmt.Errorf("tx %s: %w", h, err)
	}
	r := &TxRecord{Height: st.Height, Index: st.Index}
	if st.Receipt != nil {
		r.Receipt = *st.Receipt
		return r, nil
	}
	// The index names the block, so a missing block is damage, never
	// ErrNotFound (which callers read as "not committed").
	receipts, err := s.Receipts(st.Height)
	if errors.Is(err, ErrPruned) {
		return nil, fmt.Errorf("tx %s: %w", h, err)
	}
	if err != nil {
		return nil, fmt.Errorf("tx %s is indexed at height %d but its receipts do not read: %s", h, st.Height, err)
	}
	if st.Index >= uint64(len(receipts)) {
		return nil, fmt.Errorf("tx %s: index %d is past the %d receipts of height %d", h, st.Index, len(receipts), st.Height)
	}
	r.Receipt = receipts[st.Index]
	return r, nil
}

// AppHashAt returns the appHash after height (0 is the genesis state). The
// store keeps it for every height from the earliest it holds (ErrPruned
// below).
func (s *Store) AppHashAt(height uint64) (Hash, error) {
	v, err := s.get(heightKey(prefixAppHash, height))
	if err != nil {
		return Hash{}, fmt.Errorf("apphash %d: %w", height, s.readErr(height, err))
	}
	return common.BytesToHash(v), nil
}

// Nonce returns addr's next nonce in committed state (0 for a new sender).
// Recently seen senders are answered from memory (see
// StoreOptions.NonceCacheEntries); others cost one Badger read.
func (s *Store) Nonce(addr Address) (uint64, error) {
	n, gen, ok := s.committed.nonce(addr)
	if ok {
		return n, nil
	}
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		n, err = txnNonce(txn, addr)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("nonce of %s: %w", addr, err)
	}
	s.committed.fill(addr, n, gen)
	return n, nil
}

// DiskSize returns the sizes in bytes of Badger's LSM tree and value log,
// as Badger last measured them (it refreshes them periodically).
func (s *Store) DiskSize() (lsm, vlog int64) { return s.db.Size() }

// MinFreeBytes returns the free space the executor keeps on the store's
// filesystem (StoreOptions.MinFreeBytes after defaults; negative: none).
func (s *Store) MinFreeBytes() int64 { return s.opt.MinFreeBytes }

// BlockFileBytes returns the bytes the block file's segments hold.
func (s *Store) BlockFileBytes() int64 { return s.blocks.Size() }

// DiskUsage returns the bytes the store's files (Badger's and the block
// file's) occupy on disk: allocated blocks where the system reports them (a
// preallocated, sparse value-log file counts only what is written),
// apparent sizes elsewhere. Unlike DiskSize it is measured now, by reading
// the directories.
func (s *Store) DiskUsage() (int64, error) {
	var total int64
	for _, dir := range []string{s.dir, filepath.Join(s.dir, blocksDir)} {
		n, err := filesUsage(dir)
		if err != nil {
			return 0, fmt.Errorf("disk usage of %s: %w", dir, err)
		}
		total += n
	}
	return total, nil
}

// filesUsage sums allocatedBytes over dir's regular files.
func filesUsage(dir string) (int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, e := range entries {
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed by a compaction since ReadDir
		}
		if err != nil {
			return 0, err
		}
		if fi.Mode().IsRegular() {
			total += allocatedBytes(fi)
		}
	}
	return total, nil
}

// CollectGarbage runs Badger's value-log garbage collection until it finds
// nothing more to rewrite (at most maxRuns rewrites), and returns how many
// value-log files it rewrote. discardRatio is the share of stale data a
// file must hold to be rewritten (Badger recommends 0.5).
func (s *Store) CollectGarbage(discardRatio float64, maxRuns int) (int, error) {
	n := 0
	for n < maxRuns {
		err := s.db.RunValueLogGC(discardRatio)
		if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("value-log gc: %w", err)
		}
		n++
	}
	return n, nil
}
