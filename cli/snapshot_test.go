package cli

import (
	"bytes"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/snapshot"
	"github.com/bafomet/bafomet/genesis"
	"github.com/bafomet/bafomet/node"
	"github.com/bafomet/bafomet/ordering"
)

// snapNet is a 4-validator testnet whose node0 keeps a snapshot, and the
// state that snapshot holds.
type snapNet struct {
	homes   []string
	keys    []*ecdsa.PrivateKey
	g       *genesis.Genesis
	height  uint64
	block   chain.Hash
	entries []chain.StateEntry
	appHash chain.Hash
}

// newSnapNet generates a testnet (chain chainID, keys from seed) and
// returns it without a snapshot.
func newSnapNet(t *testing.T, chainID string, seed uint64) *snapNet {
	t.Helper()
	m, err := generateTestnet(testnetOptions{Out: filepath.Join(t.TempDir(), "net"), Validators: 4, Host: "127.0.0.1",
		BasePort: 26600, App: "kv", ChainID: chainID, Now: time.Unix(1_700_000_000, 0), Rand: &seededReader{seed: seed}})
	if err != nil {
		t.Fatal(err)
	}
	n := &snapNet{}
	for _, nd := range m.Nodes {
		n.homes = append(n.homes, nd.Home)
		k, err := loadKeyFile(filepath.Join(nd.Home, node.DefaultKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		n.keys = append(n.keys, k)
	}
	if n.g, err = genesis.Load(filepath.Join(n.homes[0], node.DefaultGenesisFile)); err != nil {
		t.Fatal(err)
	}
	return n
}

// snapState returns nonces and application keys whose values take about
// valueBytes × apps bytes.
func snapState(apps, valueBytes int) []chain.StateEntry {
	var out []chain.StateEntry
	for i := range 3 {
		var a chain.Address
		a[19] = byte(i + 1)
		out = append(out, chain.StateEntry{Key: append([]byte("n/"), a[:]...), Value: []byte{0, 0, 0, 0, 0, 0, 1, byte(i)}})
	}
	for i := range apps {
		out = append(out, chain.StateEntry{Key: fmt.Appendf(nil, "s/acct-%06d", i), Value: bytes.Repeat([]byte{byte(i), 0x5a}, valueBytes/2)})
	}
	return out
}

// proof returns the encoded stable checkpoint proof of (h, block, app)
// signed by the validators signers.
func (n *snapNet) proof(t *testing.T, h uint64, block, app chain.Hash, signers ...int) []byte {
	t.Helper()
	p := &ordering.CheckpointProof{Height: h, BlockHash: block, AppHash: app}
	for _, i := range signers {
		m := &ordering.Message{Type: ordering.MsgCheckpoint, From: uint32(i), Height: h, Digest: block, AppHash: app}
		if err := ordering.SignMessage(ordering.NewKeySigner(n.keys[i]), n.g.ChainID, m); err != nil {
			t.Fatal(err)
		}
		p.Checkpoints = append(p.Checkpoints, m)
	}
	b, err := rlp.EncodeToBytes(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// keepSnapshot makes node0 keep a snapshot of entries at height h in its
// data directory, as a running node does, and stores the proof signed by
// signers (none: the checkpoint is not yet stable). It leaves the store
// that state was read from open in node0's data directory, as a running
// node holds it, so that a command that opened Badger there would fail.
func (n *snapNet) keepSnapshot(t *testing.T, h uint64, entries []chain.StateEntry, signers ...int) {
	t.Helper()
	var lt chain.LtHash
	for _, e := range entries {
		lt.Add(e.Key, e.Value)
	}
	n.height, n.entries, n.appHash = h, entries, lt.AppHash()
	n.block = crypto.Keccak256Hash(fmt.Appendf(nil, "block %d", h))
	store, err := chain.OpenStore(filepath.Join(t.TempDir(), "src"), chain.StoreOptions{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.ImportStateEntries(entries); err != nil {
		t.Fatal(err)
	}
	head := chain.StateImportHead{Height: h, BlockHash: n.block, AppHash: n.appHash, LtHash: &lt, Checkpoint: []byte("x")}
	if err := store.FinishStateImport(head); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(n.homes[0], node.DefaultDataDir)
	d, err := snapshot.OpenDir(filepath.Join(data, snapshotsSubdir))
	if err != nil {
		t.Fatal(err)
	}
	r, err := store.OpenStateRead()
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Write(r, n.g.ChainID, n.block)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(signers) > 0 {
		if err := d.SetProof(h, n.proof(t, h, n.block, n.appHash, signers...)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "LOCK")); errors.Is(err, os.ErrNotExist) {
		live, err := chain.OpenStore(data, chain.StoreOptions{MinFreeBytes: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { live.Close() })
	}
}

// export runs snapshot export from node0 and returns the file's path.
func (n *snapNet) export(t *testing.T, extra ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "snap.bin")
	code, stdout, stderr := runCmd(t, append([]string{"snapshot", "export", "--home", n.homes[0], "--out", out}, extra...)...)
	if code != exitOK {
		t.Fatalf("export: code %d stderr %q", code, stderr)
	}
	if !strings.Contains(stdout, fmt.Sprintf("height:    %d\n", n.height)) || !strings.Contains(stdout, n.appHash.Hex()) {
		t.Fatalf("export printed %q", stdout)
	}
	return out
}

// checkEmptyData fails unless home's data directory is empty and no
// import left its temporary directory.
func checkEmptyData(t *testing.T, home string) {
	t.Helper()
	data := filepath.Join(home, node.DefaultDataDir)
	if ents, err := os.ReadDir(data); err != nil || len(ents) != 0 {
		t.Fatalf("data directory after a refused import: %d entries, %v", len(ents), err)
	}
	if _, err := os.Stat(data + importTmpSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary import directory left behind: %v", err)
	}
}

// TestSnapshotExportVerifyImport: a snapshot of two chunks, exported from
// a home whose store is open, verifies offline and restores a fresh home
// to the same height, appHash, proof and entries, marked as a validator
// that lost its consensus records, and keeping the snapshot to serve.
func TestSnapshotExportVerifyImport(t *testing.T) {
	n := newSnapNet(t, "snap-chain", 1)
	n.keepSnapshot(t, 200, snapState(1500, 3000), 0, 1, 3) // ≈ 4.5 MB: two chunks
	code, out, errOut := runCmd(t, "snapshot", "list", "--home", n.homes[0])
	if code != exitOK || !strings.Contains(out, "200") || !strings.Contains(out, "yes") {
		t.Fatalf("list: code %d stdout %q stderr %q", code, out, errOut)
	}
	file := n.export(t)
	if _, err := os.Stat(file + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("export left %s.tmp: %v", file, err)
	}
	gen := filepath.Join(n.homes[0], node.DefaultGenesisFile)
	code, out, errOut = runCmd(t, "snapshot", "verify", file, "--genesis", gen)
	if code != exitOK || !strings.Contains(out, "signed by 3 of 4 validators (quorum 3)") || !strings.Contains(out, "chunks:     2,") || !strings.HasSuffix(out, "ok\n") {
		t.Fatalf("verify: code %d stdout %q stderr %q", code, out, errOut)
	}
	dst := n.homes[1]
	code, out, errOut = runCmd(t, "snapshot", "import", "--home", dst, file)
	if code != exitOK || !strings.Contains(out, "restored the state at height 200") || errOut != "" {
		t.Fatalf("import: code %d stdout %q stderr %q", code, out, errOut)
	}
	checkRestored(t, n, dst)
	code, _, errOut = runCmd(t, "snapshot", "import", "--home", dst, file)
	if code != exitFail || !strings.Contains(errOut, "is not empty: it holds a chain") || !strings.Contains(errOut, "bafomet init") {
		t.Fatalf("import into a home with a chain: code %d stderr %q", code, errOut)
	}
	checkRestored(t, n, dst) // untouched
}

// checkRestored opens home's store and compares it with the snapshot.
func checkRestored(t *testing.T, n *snapNet, home string) {
	t.Helper()
	data := filepath.Join(home, node.DefaultDataDir)
	s, err := chain.OpenStore(data, chain.StoreOptions{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if h, err := s.Height(); err != nil || h != n.height {
		t.Fatalf("restored height %d, %v; want %d", h, err, n.height)
	}
	if ah, err := s.AppHashAt(n.height); err != nil || ah != n.appHash {
		t.Fatalf("restored appHash %s, %v", ah, err)
	}
	if p, err := s.Checkpoint(n.height); err != nil || !bytes.Equal(p, n.proof(t, n.height, n.block, n.appHash, 0, 1, 3)) {
		t.Fatalf("restored checkpoint proof: %v", err)
	}
	if v, err := s.Meta(metaRecordsLost); err != nil || !bytes.Equal(v, []byte{1}) {
		t.Fatalf("meta %s = %x, %v; want 01", metaRecordsLost, v, err)
	}
	if _, err := s.Block(n.height); err == nil {
		t.Fatal("restored store holds a block at the snapshot height")
	}
	r, err := s.OpenStateRead()
	if err != nil {
		t.Fatal(err)
	}
	var got []chain.StateEntry
	err = r.Each(func(e chain.StateEntry) error {
		got = append(got, chain.StateEntry{Key: bytes.Clone(e.Key), Value: bytes.Clone(e.Value)})
		return nil
	})
	r.Close()
	if err != nil || len(got) != len(n.entries) {
		t.Fatalf("restored %d entries (%v), want %d", len(got), err, len(n.entries))
	}
	for i := range got {
		if !bytes.Equal(got[i].Key, n.entries[i].Key) || !bytes.Equal(got[i].Value, n.entries[i].Value) {
			t.Fatalf("restored entry %d is %q, want %q", i, got[i].Key, n.entries[i].Key)
		}
	}
	d, err := snapshot.OpenDirReadOnly(filepath.Join(data, snapshotsSubdir))
	if err != nil {
		t.Fatal(err)
	}
	if p, err := d.Proof(n.height); err != nil || len(p) == 0 {
		t.Fatalf("the restored home does not keep the snapshot with its proof: %v", err)
	}
}

// TestSnapshotBadFiles: a damaged, truncated or extended file, a file of
// another chain or other validators, and a proof without a quorum are
// each refused by verify and by import, with a message that says what is
// wrong, and import writes nothing.
func TestSnapshotBadFiles(t *testing.T) {
	n := newSnapNet(t, "snap-chain", 1)
	n.keepSnapshot(t, 200, snapState(1500, 3000), 0, 1, 2)
	good, err := os.ReadFile(n.export(t))
	if err != nil {
		t.Fatal(err)
	}
	weak := newSnapNet(t, "snap-chain", 1) // the same genesis and keys
	weak.keepSnapshot(t, 200, snapState(10, 10), 0, 1)
	other := newSnapNet(t, "other-chain", 1)
	others := newSnapNet(t, "snap-chain", 2) // other validators
	dir := t.TempDir()
	write := func(name string, b []byte) string { return writeFile(t, dir, name, string(b), 0o600) }
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	tests := []struct {
		name, file, home, msg string
	}{
		{"damaged chunk", write("flipped", flipped), n.homes[1], "does not match its hash in the manifest"},
		{"truncated", write("short", good[:len(good)-1000]), n.homes[1], "truncated"},
		{"trailing bytes", write("long", append(bytes.Clone(good), '\n')), n.homes[1], "bytes after the trailer"},
		{"not a snapshot", write("text", []byte("hello, world\n")), n.homes[1], "not a bafomet snapshot file"},
		{"other chain", write("good", good), other.homes[1], `the file is a snapshot of chain "snap-chain"`},
		{"other validators", write("good", good), others.homes[1], "does not verify against the validators of genesis"},
		{"no quorum", weak.export(t), n.homes[1], "checkpoint proof with 2 messages, quorum 3 of 4"},
	}
	for _, tc := range tests {
		gen := filepath.Join(tc.home, node.DefaultGenesisFile)
		code, out, errOut := runCmd(t, "snapshot", "verify", tc.file, "--genesis", gen)
		if code != exitFail || out != "" || !strings.HasPrefix(errOut, "bafomet snapshot verify: ") || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%s: verify: code %d stdout %q stderr %q", tc.name, code, out, errOut)
		}
		code, _, errOut = runCmd(t, "snapshot", "import", "--home", tc.home, tc.file)
		if code != exitFail || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%s: import: code %d stderr %q", tc.name, code, errOut)
		}
		checkEmptyData(t, tc.home)
	}
}

// TestSnapshotImportLeavesNothingOnFailure: an import that fails after
// its first chunk leaves the data directory as it was, and the temporary
// directory a crashed import left is replaced by the next import.
func TestSnapshotImportLeavesNothingOnFailure(t *testing.T) {
	n := newSnapNet(t, "snap-chain", 1)
	n.keepSnapshot(t, 200, snapState(1500, 3000), 0, 1, 3) // two chunks
	file := n.export(t)
	dst := n.homes[2]
	importChunkHook = func(i int) error {
		if i == 1 {
			return errors.New("injected failure")
		}
		return nil
	}
	code, _, errOut := runCmd(t, "snapshot", "import", "--home", dst, file)
	importChunkHook = nil
	if code != exitFail || !strings.Contains(errOut, "injected failure") {
		t.Fatalf("failing import: code %d stderr %q", code, errOut)
	}
	checkEmptyData(t, dst)
	// A crash midway leaves the temporary directory, never the data
	// directory: the next import starts over.
	crashed := filepath.Join(dst, node.DefaultDataDir) + importTmpSuffix
	if err := os.MkdirAll(filepath.Join(crashed, "half"), 0o700); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCmd(t, "snapshot", "import", "--home", dst, file); code != exitOK {
		t.Fatalf("import after a crashed one: code %d stderr %q", code, errOut)
	}
	checkRestored(t, n, dst)
	if _, err := os.Stat(crashed); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary directory left: %v", err)
	}
}

// TestSnapshotExportChoosesAndRefuses: export takes the newest snapshot
// whose checkpoint is stable, and says why it cannot export one that is
// not stable yet or not there.
func TestSnapshotExportChoosesAndRefuses(t *testing.T) {
	n := newSnapNet(t, "snap-chain", 1)
	out := filepath.Join(t.TempDir(), "f")
	code, _, errOut := runCmd(t, "snapshot", "export", "--home", n.homes[0], "--out", out)
	if code != exitFail || !strings.Contains(errOut, "no snapshot directory") {
		t.Fatalf("no snapshots: code %d stderr %q", code, errOut)
	}
	if code, out, _ := runCmd(t, "snapshot", "list", "--home", n.homes[0]); code != exitOK || !strings.HasPrefix(out, "no snapshots") {
		t.Fatalf("list without snapshots: code %d stdout %q", code, out)
	}
	n.keepSnapshot(t, 100, snapState(5, 5), 0, 1, 2)
	n.keepSnapshot(t, 200, snapState(6, 5)) // not yet stable
	code, stdout, _ := runCmd(t, "snapshot", "list", "--home", n.homes[0])
	if code != exitOK || !strings.Contains(stdout, "no (checkpoint not yet stable)") || strings.Count(stdout, "\n") != 3 {
		t.Fatalf("list: code %d stdout %q", code, stdout)
	}
	n.height, n.entries = 100, snapState(5, 5)
	n.appHash = func() chain.Hash {
		var lt chain.LtHash
		for _, e := range n.entries {
			lt.Add(e.Key, e.Value)
		}
		return lt.AppHash()
	}()
	n.export(t) // the newest stable one: 100
	code, _, errOut = runCmd(t, "snapshot", "export", "--home", n.homes[0], "--out", out, "--height", "200")
	if code != exitFail || !strings.Contains(errOut, "checkpoint at 200 not yet stable") || !strings.Contains(errOut, "snapshots with one: 100") {
		t.Fatalf("unstable height: code %d stderr %q", code, errOut)
	}
	code, _, errOut = runCmd(t, "snapshot", "export", "--home", n.homes[0], "--out", out, "--height", "300")
	if code != exitFail || !strings.Contains(errOut, "no snapshot at height 300") {
		t.Fatalf("missing height: code %d stderr %q", code, errOut)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused export wrote %s: %v", out, err)
	}
}

func TestSnapshotUsage(t *testing.T) {
	for _, sub := range []string{"export", "import", "verify", "list"} {
		code, out, errOut := runCmd(t, "snapshot", sub, "--help")
		if code != exitOK || !strings.HasPrefix(out, "usage: bafomet snapshot "+sub) || errOut != "" {
			t.Errorf("%s --help: code %d stdout %q stderr %q", sub, code, out, errOut)
		}
	}
	for _, args := range [][]string{{"verify", "f"}, {"import", "f"}, {"export", "--home", "h"}, {"list"}, {"import", "--home", "h"}} {
		code, out, errOut := runCmd(t, append([]string{"snapshot"}, args...)...)
		if code != exitUsage || out != "" || !strings.HasPrefix(errOut, "bafomet snapshot "+args[0]+": ") {
			t.Errorf("%v: code %d stdout %q stderr %q", args, code, out, errOut)
		}
	}
}
