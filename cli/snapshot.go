package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/snapshot"
	"github.com/bafomet/bafomet/node"
	"github.com/bafomet/bafomet/ordering"
)

// Snapshot files: export a node's snapshot to one file, check a file
// against a genesis, and initialise a fresh node home from one
// (docs/operations.md, "Backup and restore").

// snapshotsSubdir is where a node keeps its snapshots, inside its data
// directory.
const snapshotsSubdir = "snapshots"

const snapshotSummary = "export, check and restore state snapshots (backup and restore)"

func init() {
	registerSub("snapshot", snapshotSummary, &command{
		name: "export", summary: "write a snapshot with its checkpoint proof to one file", run: runSnapshotExport,
	})
	registerSub("snapshot", snapshotSummary, &command{
		name: "import", summary: "initialise a fresh node home from a snapshot file", run: runSnapshotImport,
	})
	registerSub("snapshot", snapshotSummary, &command{
		name: "verify", summary: "check a snapshot file against a genesis file, offline", run: runSnapshotVerify,
	})
	registerSub("snapshot", snapshotSummary, &command{
		name: "list", summary: "list a node home's snapshots", run: runSnapshotList,
	})
}

// homeSnapshots opens the snapshot directory of the node home for
// reading, beside a node that may be running.
func homeSnapshots(home string) (*snapshot.Dir, error) {
	cfg, err := node.LoadConfig(home)
	if err != nil {
		return nil, err
	}
	return snapshot.OpenDirReadOnly(filepath.Join(cfg.DataPath(), snapshotsSubdir))
}

// snapshotInfo is one snapshot of a directory.
type snapshotInfo struct {
	m      *snapshot.Manifest
	proven bool // its checkpoint proof is stored
}

// listSnapshots returns the snapshots of d, lowest first. A snapshot the
// node prunes while they are read is left out.
func listSnapshots(d *snapshot.Dir) ([]snapshotInfo, error) {
	hs, err := d.Heights()
	if err != nil {
		return nil, err
	}
	var out []snapshotInfo
	for _, h := range hs {
		m, err := d.Manifest(h)
		if errors.Is(err, snapshot.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("snapshot at %d: %w", h, err)
		}
		_, perr := d.Proof(h)
		out = append(out, snapshotInfo{m: m, proven: perr == nil})
	}
	return out, nil
}

func describeHeights(infos []snapshotInfo, proven bool) string {
	var hs []string
	for _, s := range infos {
		if !proven || s.proven {
			hs = append(hs, strconv.FormatUint(s.m.Height, 10))
		}
	}
	if len(hs) == 0 {
		return "none"
	}
	return strings.Join(hs, ", ")
}

func runSnapshotList(args []string, stdout, stderr io.Writer) int {
	f := newFlags("snapshot list", "--home DIR",
		"List the snapshots the node keeps in its data directory (DATA/snapshots): height, appHash,\n"+
			"chunks, bytes, and whether the checkpoint at that height is stable yet (only then can the\n"+
			"snapshot be exported or served). Safe while the node runs.")
	home := f.String("home", "", "node home directory")
	f.require("home")
	if _, code, ok := f.parse(args, 0, stdout, stderr); !ok {
		return code
	}
	d, err := homeSnapshots(*home)
	if errors.Is(err, snapshot.ErrNotFound) {
		fmt.Fprintf(stdout, "no snapshots (%v)\n", err)
		return exitOK
	}
	if err != nil {
		return fail(stderr, f.name, err)
	}
	infos, err := listSnapshots(d)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	if len(infos) == 0 {
		fmt.Fprintf(stdout, "no snapshots in %s\n", d.Path())
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HEIGHT\tAPPHASH\tCHUNKS\tENTRIES\tBYTES\tPROOF")
	for _, s := range infos {
		proof := "no (checkpoint not yet stable)"
		if s.proven {
			proof = "yes"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%s\n", s.m.Height, s.m.AppHash.Hex(), len(s.m.Chunks), s.m.Entries, s.m.Bytes, proof)
	}
	if err := tw.Flush(); err != nil {
		return fail(stderr, f.name, err)
	}
	return exitOK
}

// chooseExport picks the snapshot to export: height, or the newest with a
// checkpoint proof when height is 0.
func chooseExport(d *snapshot.Dir, height uint64) (uint64, error) {
	infos, err := listSnapshots(d)
	if err != nil {
		return 0, err
	}
	if height == 0 {
		for i := len(infos) - 1; i >= 0; i-- {
			if infos[i].proven {
				return infos[i].m.Height, nil
			}
		}
		if len(infos) == 0 {
			return 0, fmt.Errorf("no snapshots in %s", d.Path())
		}
		return 0, fmt.Errorf("no snapshot in %s has a stable checkpoint yet (snapshots at %s; try again once the next checkpoint is stable)",
			d.Path(), describeHeights(infos, false))
	}
	for _, s := range infos {
		switch {
		case s.m.Height != height:
		case !s.proven:
			return 0, fmt.Errorf("checkpoint at %d not yet stable: the snapshot has no checkpoint proof (snapshots with one: %s)",
				height, describeHeights(infos, true))
		default:
			return height, nil
		}
	}
	return 0, fmt.Errorf("no snapshot at height %d in %s (snapshots with a stable checkpoint: %s)", height, d.Path(), describeHeights(infos, true))
}

func runSnapshotExport(args []string, stdout, stderr io.Writer) int {
	f := newFlags("snapshot export", "--home DIR --out FILE [--height H]",
		"Write a snapshot the node keeps (DATA/snapshots), with the stable checkpoint proof that\n"+
			"certifies it, to FILE: the newest snapshot whose checkpoint is stable, or the one at --height.\n"+
			"Reads only the snapshot files, so the node may be running or stopped. FILE is written as\n"+
			"FILE.tmp, synced and renamed, so it is always whole; an existing FILE is replaced.")
	home := f.String("home", "", "node home directory")
	out := f.String("out", "", "the file to write")
	height := f.Uint64("height", 0, "the snapshot's height (default: the newest with a stable checkpoint)")
	f.require("home", "out")
	if _, code, ok := f.parse(args, 0, stdout, stderr); !ok {
		return code
	}
	d, err := homeSnapshots(*home)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	h, err := chooseExport(d, *height)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	m, size, err := exportSnapshot(d, h, *out)
	if errors.Is(err, snapshot.ErrNotFound) {
		infos, _ := listSnapshots(d)
		err = fmt.Errorf("%w\nthe node pruned the snapshot at %d while it was being exported; export another height (snapshots with a stable checkpoint now: %s)",
			err, h, describeHeights(infos, true))
	}
	if err != nil {
		return fail(stderr, f.name, err)
	}
	fmt.Fprintf(stdout, "exported the snapshot at height %d to %s\nheight:    %d\nblockHash: %s\nappHash:   %s\nchunks:    %d\nentries:   %d\nbytes:     %d (file %d)\n",
		m.Height, *out, m.Height, m.BlockHash.Hex(), m.AppHash.Hex(), len(m.Chunks), m.Entries, m.Bytes, size)
	return exitOK
}

// exportSnapshot writes the snapshot at h to path through path.tmp,
// synced and renamed; on failure it removes path.tmp.
func exportSnapshot(d *snapshot.Dir, h uint64, path string) (m *snapshot.Manifest, size int64, err error) {
	tmp := path + ".tmp"
	file, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, 0, err
	}
	defer func() {
		if err != nil {
			file.Close()
			os.Remove(tmp)
		}
	}()
	if m, err = d.Export(file, h); err != nil {
		return nil, 0, err
	}
	if size, err = file.Seek(0, io.SeekCurrent); err != nil {
		return nil, 0, err
	}
	if err = file.Sync(); err != nil {
		return nil, 0, fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err = file.Close(); err != nil {
		return nil, 0, fmt.Errorf("close %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return nil, 0, err
	}
	return m, size, syncDirOf(path)
}

// syncDirOf makes the directory entry of path durable.
func syncDirOf(path string) error {
	dir := filepath.Dir(path)
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// snapshotTrust is what a snapshot file is checked against: a genesis
// file's chain id, hash, validator set and checkpoint interval.
type snapshotTrust struct {
	*trustRoot
	path        string
	genesisHash chain.Hash
}

func loadSnapshotTrust(path string) (*snapshotTrust, error) {
	root, err := loadTrustRoot(path)
	if err != nil {
		return nil, err
	}
	gh, err := root.g.Hash()
	if err != nil {
		return nil, fmt.Errorf("genesis %s: %w", path, err)
	}
	return &snapshotTrust{trustRoot: root, path: path, genesisHash: gh}, nil
}

// checkHead checks the manifest and the checkpoint proof of a snapshot
// file: the genesis's chain, and a stable checkpoint proof that verifies
// against the genesis validators and certifies the manifest's height,
// block hash and appHash. It returns the decoded proof.
func (t *snapshotTrust) checkHead(x *snapshot.ExportReader) (*ordering.CheckpointProof, error) {
	m := x.Manifest()
	if m.ChainID != t.g.ChainID {
		return nil, fmt.Errorf("the file is a snapshot of chain %q, genesis %s is chain %q", m.ChainID, t.path, t.g.ChainID)
	}
	var p ordering.CheckpointProof
	if err := rlp.DecodeBytes(x.Proof(), &p); err != nil {
		return nil, fmt.Errorf("the checkpoint proof does not decode: %w", err)
	}
	if p.Height != m.Height || p.BlockHash != m.BlockHash || p.AppHash != m.AppHash {
		return nil, fmt.Errorf("the checkpoint proof certifies height %d, block %s, appHash %s; the manifest names height %d, block %s, appHash %s",
			p.Height, p.BlockHash.Hex(), p.AppHash.Hex(), m.Height, m.BlockHash.Hex(), m.AppHash.Hex())
	}
	interval := t.g.Consensus.CheckpointInterval
	if err := ordering.VerifyCheckpointProof(t.g.ChainID, t.vs, interval, t.vs.Quorum(), &p); err != nil {
		return nil, fmt.Errorf("the checkpoint proof does not verify against the validators of genesis %s: %w", t.path, err)
	}
	return &p, nil
}

// checkedExport is what reading a snapshot file established.
type checkedExport struct {
	m       *snapshot.Manifest
	proof   *ordering.CheckpointProof
	raw     []byte // the encoded proof
	entries uint64
	lt      *chain.LtHash // of all entries
}

// readSnapshotFile reads and checks the whole snapshot file at path,
// passing each chunk's entries to fn (when not nil) once the chunk checked
// out. Nothing of a file whose head fails reaches fn.
func (t *snapshotTrust) readSnapshotFile(path string, fn func(i int, es []chain.StateEntry) error) (*checkedExport, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	x, err := snapshot.NewExportReader(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	p, err := t.checkHead(x)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c := &checkedExport{m: x.Manifest(), proof: p, raw: x.Proof()}
	for i := 0; ; i++ {
		_, es, err := x.Next()
		if errors.Is(err, io.EOF) {
			c.lt = x.LtHash()
			return c, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		c.entries += uint64(len(es))
		if fn != nil {
			if err := fn(i, es); err != nil {
				return nil, err
			}
		}
	}
}

func signerNames(vs *chain.ValidatorSet, p *ordering.CheckpointProof) string {
	var names []string
	for _, m := range p.Checkpoints {
		names = append(names, vs.Validator(int(m.From)).Name)
	}
	return strings.Join(names, ", ")
}

func runSnapshotVerify(args []string, stdout, stderr io.Writer) int {
	f := newFlags("snapshot verify", "FILE --genesis FILE",
		"Check a snapshot file offline against a genesis file, trusting nothing else: the file's format\n"+
			"and checksum, its chain id, its stable checkpoint proof (a quorum of the genesis validators\n"+
			"signed the snapshot's height, block hash and appHash), every chunk against the manifest, the\n"+
			"keys in order, the counts, and that the entries hash to the certified appHash.")
	gen := f.String("genesis", "", "the chain's genesis.json")
	f.require("genesis")
	pos, code, ok := f.parse(args, 1, stdout, stderr)
	if !ok {
		return code
	}
	t, err := loadSnapshotTrust(*gen)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	c, err := t.readSnapshotFile(pos[0], nil)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	printChecked(stdout, pos[0], t, c)
	fmt.Fprintln(stdout, "ok")
	return exitOK
}

func printChecked(w io.Writer, path string, t *snapshotTrust, c *checkedExport) {
	m := c.m
	fmt.Fprintf(w, "file:       %s: format version %d, checksum matches, nothing after the trailer\n", path, snapshot.ExportVersion)
	fmt.Fprintf(w, "chain:      %s (genesis %s)\n", m.ChainID, t.genesisHash.Hex())
	fmt.Fprintf(w, "height:     %d\nblockHash:  %s\nappHash:    %s\n", m.Height, m.BlockHash.Hex(), m.AppHash.Hex())
	fmt.Fprintf(w, "checkpoint: stable, signed by %d of %d validators (quorum %d): %s\n",
		len(c.proof.Checkpoints), t.vs.Size(), t.vs.Quorum(), signerNames(t.vs, c.proof))
	fmt.Fprintf(w, "chunks:     %d, each matching its hash in the manifest, keys in order\n", len(m.Chunks))
	fmt.Fprintf(w, "entries:    %d in %d bytes, as the manifest says\n", c.entries, m.Bytes)
	fmt.Fprintf(w, "state:      the entries hash to the certified appHash\n")
}
