package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/snapshot"
	"github.com/bafomet/bafomet/node"
)

// metaRecordsLost is the store metadata with which the node marks that a
// validator lost its consensus records (node/sync.go, metaRecordsLost): a
// validator whose key ran before then signs nothing until its peers show
// how far the network got. Every imported store carries it.
const metaRecordsLost = "consensus_records_lost"

// importTmpSuffix names the directory an import builds the store in,
// beside the data directory, before renaming it into place.
const importTmpSuffix = ".import.tmp"

// importChunkHook, when set (by tests), runs after each imported chunk.
var importChunkHook func(i int) error

func runSnapshotImport(args []string, stdout, stderr io.Writer) int {
	f := newFlags("snapshot import", "--home DIR FILE",
		"Initialise the data directory of a fresh node home (bafomet init) from a snapshot file.\n"+
			"FILE is first checked in full against the home's genesis file, as snapshot verify does;\n"+
			"then its state is written into a new store beside the data directory, which is renamed\n"+
			"into place only when complete, so an error or a crash leaves the home as it was. The\n"+
			"home's data directory must be empty. The store holds the state at the snapshot's height\n"+
			"and no block; the node, once started, fetches the blocks after it from its peers. A\n"+
			"validator restored this way signs nothing until its peers show how far the network got.")
	home := f.String("home", "", "node home directory")
	f.require("home")
	pos, code, ok := f.parse(args, 1, stdout, stderr)
	if !ok {
		return code
	}
	cfg, err := node.LoadConfig(*home)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	t, err := loadSnapshotTrust(cfg.GenesisPath())
	if err != nil {
		return fail(stderr, f.name, err)
	}
	if err := checkDataDirEmpty(cfg); err != nil {
		return fail(stderr, f.name, err)
	}
	c, err := t.readSnapshotFile(pos[0], nil)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	printChecked(stdout, pos[0], t, c)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := importSnapshot(cfg, t, pos[0], c, log); err != nil {
		return fail(stderr, f.name, err)
	}
	fmt.Fprintf(stdout, "restored the state at height %d into %s\n", c.m.Height, cfg.DataPath())
	fmt.Fprintf(stdout, "start the node (bafomet start --home %s): it fetches the blocks after %d from its peers\n", *home, c.m.Height)
	return exitOK
}

// checkDataDirEmpty refuses a data directory that holds anything: a
// chain, or what is left of one.
func checkDataDirEmpty(cfg *node.Config) error {
	dir := cfg.DataPath()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	if len(ents) == 0 {
		return nil
	}
	return fmt.Errorf("data directory %s is not empty: it holds a chain, or what is left of one, and an import only fills an empty one. "+
		"Import into a fresh home (bafomet init, then copy in genesis.json), or stop the node and move %s aside "+
		"(docs/operations.md, \"Backup and restore\")", dir, dir)
}

// importSnapshot writes the state of the checked snapshot file at path
// into a new store beside the data directory and renames it into place.
// It reads the file again and checks every chunk again as it imports it,
// and the manifest against the one checked before. On any error it removes
// what it wrote.
func importSnapshot(cfg *node.Config, t *snapshotTrust, path string, checked *checkedExport, log *slog.Logger) (err error) {
	data := cfg.DataPath()
	tmp := data + importTmpSuffix
	if err := os.RemoveAll(tmp); err != nil { // left by a crashed import
		return err
	}
	if err := os.MkdirAll(tmp, homeDirMode); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := fillStore(tmp, t, path, checked, log); err != nil {
		return err
	}
	if err := os.Remove(data); err != nil && !errors.Is(err, fs.ErrNotExist) { // empty, checked before
		return err
	}
	if err := os.Rename(tmp, data); err != nil {
		return err
	}
	return syncDirOf(data)
}

// fillStore creates the store in dir and imports the snapshot into it.
func fillStore(dir string, t *snapshotTrust, path string, checked *checkedExport, log *slog.Logger) (err error) {
	c := t.g.Consensus
	store, err := chain.OpenStore(dir, chain.StoreOptions{MemTableBytes: chain.MemTableBytesFor(c.MaxBlockTxs, c.MaxBlockBytes), Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := store.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close the new store: %w", cerr)
		}
	}()
	if err := store.CheckIdentity(t.g.ChainID, t.genesisHash); err != nil {
		return err
	}
	again, err := t.readSnapshotFile(path, func(i int, es []chain.StateEntry) error {
		if err := store.ImportStateEntries(es); err != nil {
			return fmt.Errorf("import chunk %d: %w", i, err)
		}
		if importChunkHook != nil {
			return importChunkHook(i)
		}
		return nil
	})
	if err != nil {
		return err
	}
	m := again.m
	if m.Hash() != checked.m.Hash() {
		return fmt.Errorf("%s changed while it was being imported", path)
	}
	head := chain.StateImportHead{Height: m.Height, BlockHash: m.BlockHash, AppHash: m.AppHash, LtHash: again.lt, Checkpoint: again.raw}
	if err := store.FinishStateImport(head); err != nil {
		return err
	}
	if err := store.PutMeta(metaRecordsLost, []byte{1}); err != nil {
		return err
	}
	return keepSnapshot(store, filepath.Join(dir, snapshotsSubdir), again)
}

// keepSnapshot writes the imported state as the node's own snapshot at
// its height, with its proof, so the node can serve it to peers: the
// chunking is deterministic, so it is the snapshot of the file.
func keepSnapshot(store *chain.Store, path string, c *checkedExport) error {
	d, err := snapshot.OpenDir(path)
	if err != nil {
		return err
	}
	r, err := store.OpenStateRead()
	if err != nil {
		return err
	}
	m, err := d.Write(r, c.m.ChainID, c.m.BlockHash)
	r.Close()
	if err != nil {
		return err
	}
	if m.Hash() != c.m.Hash() {
		return fmt.Errorf("the snapshot written from the imported state differs from the file's manifest")
	}
	return d.SetProof(m.Height, c.raw)
}
