package cli

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/genesis"
	"github.com/bafomet/bafomet/rpc"
)

// certifiedBackend serves blocks that chain by parent hash and carry
// commit certificates signed by the validators of a genesis file.
type certifiedBackend struct {
	*clientBackend
	keys []*ecdsa.PrivateKey
	vs   *chain.ValidatorSet
}

// newCertifiedChain writes a 4-validator genesis file and returns a
// backend holding blocks 1..3, each with one transaction and a certificate
// from validators 0, 1 and 3.
func newCertifiedChain(t *testing.T) (*certifiedBackend, string) {
	t.Helper()
	g := &genesis.Genesis{ChainID: "cli-test", GenesisTime: time.Unix(1_700_000_000, 0).UTC(), App: "kv"}
	var keys []*ecdsa.PrivateKey
	for i := range 4 {
		k, err := crypto.ToECDSA(crypto.Keccak256([]byte(fmt.Sprintf("verify validator %d", i))))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
		g.Validators = append(g.Validators, genesis.Validator{
			Name: fmt.Sprintf("v%d", i), PubKey: hex.EncodeToString(crypto.CompressPubkey(&k.PublicKey)),
			Address: fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", 26000+i),
		})
	}
	data, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "genesis.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	vs, err := g.ValidatorSet()
	if err != nil {
		t.Fatal(err)
	}
	b := &certifiedBackend{clientBackend: newClientBackend(), keys: keys, vs: vs}
	client, err := crypto.ToECDSA(crypto.Keccak256([]byte("verify client")))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		tx, err := chain.SignTx(client, "cli-test", uint64(i), []byte(fmt.Sprintf("k%d=v", i)))
		if err != nil {
			t.Fatal(err)
		}
		b.add(t, tx)
	}
	return b, path
}

func (b *certifiedBackend) Validators() []rpc.ValidatorInfo {
	out := make([]rpc.ValidatorInfo, b.vs.Size())
	for i := range out {
		out[i].Validator = b.vs.Validator(i)
	}
	return out
}

// add commits tx in a new certified block.
func (b *certifiedBackend) add(t *testing.T, tx *chain.Tx) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	h := uint64(len(b.blocks)) + 1
	var parent chain.Hash
	if h > 1 {
		parent = b.blocks[h-2].Block.Hash()
	}
	sender, err := tx.Sender()
	if err != nil {
		t.Fatal(err)
	}
	blk := &chain.Block{
		Header: chain.Header{Height: h, ParentHash: parent, Timestamp: 1000 + h, Proposer: b.vs.Validator(0).Address, ValidatorsHash: b.vs.Hash()},
		Txs:    [][]byte{tx.Bytes()}, Senders: []chain.Address{sender},
	}
	blk.Header.TxRoot = chain.TxRoot(blk.Txs, blk.Senders)
	cert := &chain.Certificate{Height: h, View: 2, BlockHash: blk.Hash()}
	for _, i := range []int{0, 1, 3} {
		sig, err := chain.Sign(b.keys[i], chain.CommitDigest("cli-test", h, 2, cert.BlockHash))
		if err != nil {
			t.Fatal(err)
		}
		cert.Signatures = append(cert.Signatures, chain.CommitSig{Validator: uint32(i), Signature: sig})
	}
	b.blocks = append(b.blocks, &rpc.StoredBlock{Block: blk, Certificate: cert})
	b.txs[tx.Hash()] = &rpc.TxInfo{Status: rpc.TxCommitted, Tx: tx, Sender: sender, Height: h, Index: 0, Receipt: &chain.Receipt{Message: "ok"}}
}

// tamper changes the stored block at height h.
func (b *certifiedBackend) tamper(h uint64, f func(*rpc.StoredBlock)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(b.blocks[h-1])
}

func startCertifiedServer(t *testing.T) (*certifiedBackend, string, string) {
	t.Helper()
	b, gen := newCertifiedChain(t)
	s, err := rpc.New(rpc.Config{ListenAddr: "127.0.0.1:0"}, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return b, gen, "http://" + s.Addr().String()
}

func TestVerifyBlockAcceptsCertifiedBlocks(t *testing.T) {
	_, gen, url := startCertifiedServer(t)
	code, out, errs := runCmd(t, "verify", "block", "--genesis", gen, "--rpc", url, "2")
	if code != exitOK || !strings.HasPrefix(out, "block 2 0x") || !strings.Contains(out, "by 3 of 4 validators [0 1 3] (quorum 3)") {
		t.Fatalf("verify block 2: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runCmd(t, "verify", "block", "--genesis", gen, "--rpc", url, "--from", "1", "--to", "3")
	if code != exitOK || strings.Count(out, ": valid;") != 3 {
		t.Fatalf("verify block --from 1 --to 3: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runCmd(t, "block", "get", "--rpc", url, "--full", "3")
	if code != exitOK {
		t.Fatalf("block get: exit %d: %s", code, errs)
	}
	file := filepath.Join(t.TempDir(), "block3.json")
	if err := os.WriteFile(file, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCmd(t, "verify", "block", "--genesis", gen, "--file", file)
	if code != exitOK || !strings.HasPrefix(out, "block 3 ") {
		t.Fatalf("verify block --file: exit %d\n%s%s", code, out, errs)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, forge := range []struct{ field, value, want string }{
		{"appHash", `"0x` + strings.Repeat("ab", 32) + `"`, "block hash mismatch"},
		{"sender", `"0x` + strings.Repeat("cd", 20) + `"`, "sender mismatch"},
		{"payload", `"0x6b313d77"`, "transaction 0: hash mismatch"},
		{"chainId", `"other"`, "transaction 0: chain id \"other\""},
	} {
		forged := regexp.MustCompile(`"`+forge.field+`":("0x[0-9a-f]+"|"[a-z-]+")`).ReplaceAll(data, []byte(`"`+forge.field+`":`+forge.value))
		if bytes.Equal(forged, data) {
			t.Fatalf("no %s in %s", forge.field, data)
		}
		if err := os.WriteFile(file, forged, 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, errs = runCmd(t, "verify", "block", "--genesis", gen, "--file", file)
		if code != exitFail || !strings.Contains(errs, forge.want) {
			t.Fatalf("forged %s in a file: exit %d: %s", forge.field, code, errs)
		}
	}
}

// A node that serves a forged block, certificate or chain is caught, and
// the message names what failed.
func TestVerifyBlockNamesWhatFailed(t *testing.T) {
	cases := []struct {
		name   string
		height uint64
		tamper func(*certifiedBackend, *rpc.StoredBlock)
		want   string
	}{
		{"short quorum", 2, func(_ *certifiedBackend, sb *rpc.StoredBlock) {
			sb.Certificate = &chain.Certificate{Height: 2, View: 2, BlockHash: sb.Certificate.BlockHash, Signatures: sb.Certificate.Signatures[:2]}
		}, "lacks a quorum of signatures: 2 of 3 needed"},
		{"bad signature", 2, func(_ *certifiedBackend, sb *rpc.StoredBlock) {
			sigs := append([]chain.CommitSig(nil), sb.Certificate.Signatures...)
			sigs[1] = chain.CommitSig{Validator: 1, Signature: sigs[2].Signature}
			sb.Certificate = &chain.Certificate{Height: 2, View: 2, BlockHash: sb.Certificate.BlockHash, Signatures: sigs}
		}, "bad signature: validator 1"},
		{"certificate for another view", 2, func(_ *certifiedBackend, sb *rpc.StoredBlock) {
			sb.Certificate = &chain.Certificate{Height: 2, View: 3, BlockHash: sb.Certificate.BlockHash, Signatures: sb.Certificate.Signatures}
		}, "bad signature: validator 0"},
		{"duplicate signer", 2, func(_ *certifiedBackend, sb *rpc.StoredBlock) {
			sigs := append([]chain.CommitSig(nil), sb.Certificate.Signatures...)
			sigs[2] = sigs[0]
			sb.Certificate = &chain.Certificate{Height: 2, View: 2, BlockHash: sb.Certificate.BlockHash, Signatures: sigs}
		}, "duplicate signer: index 0"},
		{"app hash changed", 2, func(_ *certifiedBackend, sb *rpc.StoredBlock) {
			blk := *sb.Block
			blk.Header.AppHash = chain.Hash{9}
			sb.Block = &blk
		}, "certificate is for block"},
		{"transaction swapped", 2, func(b *certifiedBackend, sb *rpc.StoredBlock) {
			blk := *sb.Block
			blk.Txs = [][]byte{b.blocks[0].Block.Txs[0]}
			sb.Block = &blk
		}, "transactions root mismatch"},
		{"no certificate", 1, func(_ *certifiedBackend, sb *rpc.StoredBlock) { sb.Certificate = nil }, "no commit certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, gen, url := startCertifiedServer(t)
			b.tamper(c.height, func(sb *rpc.StoredBlock) { c.tamper(b, sb) })
			code, out, errs := runCmd(t, "verify", "block", "--genesis", gen, "--rpc", url, fmt.Sprint(c.height))
			if code != exitFail || !strings.Contains(errs, c.want) || !strings.Contains(errs, "invalid") {
				t.Fatalf("exit %d, want %d with %q\nstdout: %s\nstderr: %s", code, exitFail, c.want, out, errs)
			}
		})
	}
	t.Run("broken parent link", func(t *testing.T) {
		b, gen, url := startCertifiedServer(t)
		b.mu.Lock()
		b.blocks = b.blocks[:1] // block 2 again, certified, but not on block 1
		b.mu.Unlock()
		client, _ := crypto.ToECDSA(crypto.Keccak256([]byte("verify client")))
		tx, _ := chain.SignTx(client, "cli-test", 1, []byte("k1=v"))
		b.addWithParent(t, tx, chain.Hash{7})
		code, out, errs := runCmd(t, "verify", "block", "--genesis", gen, "--rpc", url, "--from", "1", "--to", "2")
		if code != exitFail || !strings.Contains(errs, "block 2: invalid: parent 0x07") || strings.Count(out, ": valid;") != 1 {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
		}
	})
	t.Run("another genesis", func(t *testing.T) {
		_, _, url := startCertifiedServer(t)
		_, otherGen := newCertifiedChain(t)
		data, err := os.ReadFile(otherGen)
		if err != nil {
			t.Fatal(err)
		}
		data = bytes.Replace(data, []byte(`"name": "v3"`), []byte(`"name": "w3"`), 1)
		if err := os.WriteFile(otherGen, data, 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errs := runCmd(t, "verify", "block", "--genesis", otherGen, "--rpc", url, "1")
		if code != exitFail || !strings.Contains(errs, "validator set mismatch") {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
		}
	})
}

// addWithParent commits tx in a new certified block with the given parent.
func (b *certifiedBackend) addWithParent(t *testing.T, tx *chain.Tx, parent chain.Hash) {
	t.Helper()
	b.add(t, tx)
	b.mu.Lock()
	defer b.mu.Unlock()
	sb := b.blocks[len(b.blocks)-1]
	blk := *sb.Block
	blk.Header.ParentHash = parent
	cert := &chain.Certificate{Height: blk.Header.Height, View: 2, BlockHash: blk.Hash()}
	for _, i := range []int{0, 1, 3} {
		sig, err := chain.Sign(b.keys[i], chain.CommitDigest("cli-test", cert.Height, 2, cert.BlockHash))
		if err != nil {
			t.Fatal(err)
		}
		cert.Signatures = append(cert.Signatures, chain.CommitSig{Validator: uint32(i), Signature: sig})
	}
	b.blocks[len(b.blocks)-1] = &rpc.StoredBlock{Block: &blk, Certificate: cert}
}

func TestVerifyTx(t *testing.T) {
	b, gen, url := startCertifiedServer(t)
	var hash chain.Hash
	for h, info := range b.txs {
		if info.Height == 2 {
			hash = h
		}
	}
	code, out, errs := runCmd(t, "verify", "tx", "--genesis", gen, "--rpc", url, hash.String())
	if code != exitOK || !strings.Contains(out, "committed at height 2 index 0") || !strings.Contains(out, `receipt: {"code":0,"message":"ok"`) {
		t.Fatalf("verify tx: exit %d\n%s%s", code, out, errs)
	}
	code, _, errs = runCmd(t, "verify", "tx", "--genesis", gen, "--rpc", url, chain.Hash{5}.String())
	if code != exitFail || !strings.Contains(errs, "does not know it") {
		t.Fatalf("unknown tx: exit %d: %s", code, errs)
	}
	b.tamper(2, func(sb *rpc.StoredBlock) { sb.Certificate = nil })
	code, _, errs = runCmd(t, "verify", "tx", "--genesis", gen, "--rpc", url, hash.String())
	if code != exitFail || !strings.Contains(errs, "block 2: invalid: no commit certificate") {
		t.Fatalf("uncertified block: exit %d: %s", code, errs)
	}
}

func TestVerifyBadCommandLines(t *testing.T) {
	for _, args := range [][]string{
		{"verify", "block", "--rpc", "http://127.0.0.1:1", "1"},                                               // no genesis
		{"verify", "block", "--genesis", "g.json", "1"},                                                       // no source
		{"verify", "block", "--genesis", "g.json", "--rpc", "http://127.0.0.1:1"},                             // no height
		{"verify", "block", "--genesis", "g.json", "--rpc", "http://127.0.0.1:1", "--from", "3", "--to", "2"}, // empty range
		{"verify", "block", "--genesis", "g.json", "--file", "b.json", "--rpc", "http://127.0.0.1:1"},         // two sources
		{"verify", "tx", "--genesis", "g.json", "--rpc", "http://127.0.0.1:1", "0x12"},                        // short hash
	} {
		if code, _, errs := runCmd(t, args...); code != exitUsage || !strings.Contains(errs, "usage: bafomet verify") {
			t.Fatalf("%v: exit %d, stderr %s", args, code, errs)
		}
	}
}

// verify block and verify tx reach a node with TLS and rpc.auth through
// --ca and --token-file or --jwt-secret, as the other client commands do.
func TestVerifyOverTLSWithAuth(t *testing.T) {
	b, gen := newCertifiedChain(t)
	url, caFile, readSubmit, submitOnly, jwtSecret := startSecureServer(t, b)
	var hash chain.Hash
	for h, info := range b.txs {
		if info.Height == 2 {
			hash = h
		}
	}
	code, out, errs := runCmd(t, "verify", "block", "--genesis", gen, "--rpc", url, "--ca", caFile, "--token-file", readSubmit, "2")
	if code != exitOK || !strings.HasPrefix(out, "block 2 0x") {
		t.Fatalf("verify block over https: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runCmd(t, "verify", "tx", "--genesis", gen, "--rpc", url, "--ca", caFile, "--jwt-secret", jwtSecret, hash.String())
	if code != exitOK || !strings.Contains(out, "committed at height 2 index 0") {
		t.Fatalf("verify tx over https: exit %d\n%s%s", code, out, errs)
	}
	code, _, errs = runCmd(t, "verify", "block", "--genesis", gen, "--rpc", url, "--ca", caFile, "--token-file", submitOnly, "2")
	if code != exitFail || !strings.Contains(errs, "needs the read permission") {
		t.Fatalf("verify block with a submit-only token: exit %d: %s", code, errs)
	}
	code, _, errs = runCmd(t, "verify", "block", "--genesis", gen, "--rpc", url, "--token-file", readSubmit, "2")
	if code != exitFail || !strings.Contains(errs, "certificate signed by unknown authority") {
		t.Fatalf("verify block without --ca: exit %d: %s", code, errs)
	}
}
