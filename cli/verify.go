package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/client"
	"github.com/bafomet/bafomet/genesis"
	"github.com/bafomet/bafomet/rpc"
)

// Offline verification: check blocks, certificates and transactions
// against a genesis file without trusting the node they were read from
// (docs/certificates.md).

// maxBlockFileBytes bounds the block file `verify block --file` reads.
const maxBlockFileBytes = 256 << 20

// maxVerifyRange bounds how many blocks one `verify block --from --to`
// checks.
const maxVerifyRange = 100_000

func init() {
	registerSub("verify", "check blocks and transactions against a genesis file, trusting no node", &command{
		name: "block", summary: "check a block's hash, transactions root and commit certificate", run: runVerifyBlock,
	})
	registerSub("verify", "", &command{
		name: "tx", summary: "check that a transaction is in a certified block and print its receipt", run: runVerifyTx,
	})
}

// trustRoot is what a verifier trusts: the chain id and the validator set
// of a genesis file.
type trustRoot struct {
	chainID string
	vs      *chain.ValidatorSet
	g       *genesis.Genesis
}

func loadTrustRoot(path string) (*trustRoot, error) {
	g, err := genesis.Load(path)
	if err != nil {
		return nil, err
	}
	vs, err := g.ValidatorSet()
	if err != nil {
		return nil, fmt.Errorf("genesis %s: %w", path, err)
	}
	return &trustRoot{chainID: g.ChainID, vs: vs, g: g}, nil
}

// verifiedBlock is what checking a block established.
type verifiedBlock struct {
	height  uint64
	hash    chain.Hash
	parent  chain.Hash
	view    uint64
	signers []int
	txs     []chain.Hash
}

// verifyBlock checks a block as chain_getBlockByNumber returns it with full
// transactions: every transaction's hash, chain id and sender (recovered
// from its signature), the transactions root, the validator-set hash, the
// block hash recomputed from the header, and the commit certificate —
// height and block hash, each signature against the validator set, and a
// quorum of distinct signers. The error names the first thing that failed.
func (t *trustRoot) verifyBlock(b *rpc.Block) (*verifiedBlock, error) {
	if b.Transactions.Full == nil && len(b.Transactions.Hashes) > 0 {
		return nil, errors.New("the block lists transaction hashes only: read it with full transactions (block get --full)")
	}
	txs := make([][]byte, len(b.Transactions.Full))
	senders := make([]chain.Address, len(b.Transactions.Full))
	hashes := make([]chain.Hash, len(b.Transactions.Full))
	for i, rt := range b.Transactions.Full {
		tx := &chain.Tx{ChainID: rt.ChainID, Nonce: rt.Nonce, Payload: rt.Payload, Signature: rt.Signature}
		if tx.ChainID != t.chainID {
			return nil, fmt.Errorf("transaction %d: chain id %q, genesis says %q", i, tx.ChainID, t.chainID)
		}
		if h := tx.Hash(); h != rt.Hash {
			return nil, fmt.Errorf("transaction %d: hash mismatch: the node says %s, its fields hash to %s", i, rt.Hash, h)
		}
		sender, err := tx.Sender()
		if err != nil {
			return nil, fmt.Errorf("transaction %d %s: %w", i, rt.Hash, err)
		}
		if sender != rt.Sender {
			return nil, fmt.Errorf("transaction %d %s: sender mismatch: the node says %s, the signature is by %s", i, rt.Hash, rt.Sender, sender)
		}
		txs[i], senders[i], hashes[i] = tx.Bytes(), sender, rt.Hash
	}
	if root := chain.TxRoot(txs, senders); root != b.TxRoot {
		return nil, fmt.Errorf("transactions root mismatch: the header says %s, the transactions give %s", b.TxRoot, root)
	}
	if b.ValidatorsHash != t.vs.Hash() {
		return nil, fmt.Errorf("validator set mismatch: the header says %s, the genesis set hashes to %s", b.ValidatorsHash, t.vs.Hash())
	}
	if _, ok := t.vs.IndexOf(b.Proposer); !ok {
		return nil, fmt.Errorf("proposer %s is not a validator", b.Proposer)
	}
	h := chain.Header{
		Height: b.Height, ParentHash: b.ParentHash, Timestamp: b.Timestamp, Proposer: b.Proposer,
		TxRoot: b.TxRoot, AppHash: b.AppHash, ValidatorsHash: b.ValidatorsHash,
	}
	hash := h.Hash()
	if hash != b.Hash {
		return nil, fmt.Errorf("block hash mismatch: the node says %s, the header hashes to %s", b.Hash, hash)
	}
	signers, view, err := t.verifyCertificate(b.Height, hash, b.Certificate)
	if err != nil {
		return nil, err
	}
	return &verifiedBlock{height: b.Height, hash: hash, parent: b.ParentHash, view: view, signers: signers, txs: hashes}, nil
}

// verifyCertificate checks that c certifies hash at height, and returns its
// signers and view.
func (t *trustRoot) verifyCertificate(height uint64, hash chain.Hash, c *rpc.Certificate) ([]int, uint64, error) {
	if c == nil {
		return nil, 0, errors.New("no commit certificate")
	}
	if c.Height != height {
		return nil, 0, fmt.Errorf("certificate is for height %d, not %d", c.Height, height)
	}
	if c.BlockHash != hash {
		return nil, 0, fmt.Errorf("certificate is for block %s, not %s", c.BlockHash, hash)
	}
	cert := &chain.Certificate{Height: c.Height, View: c.View, BlockHash: c.BlockHash}
	signers := make([]int, 0, len(c.Signatures))
	for _, s := range c.Signatures {
		if int64(s.Validator) >= int64(t.vs.Size()) {
			return nil, 0, fmt.Errorf("certificate signer %d: not a validator (the set has %d)", s.Validator, t.vs.Size())
		}
		if want := t.vs.Validator(int(s.Validator)).Address; s.Address != want {
			return nil, 0, fmt.Errorf("certificate signer %d: the node says address %s, the genesis set says %s", s.Validator, s.Address, want)
		}
		cert.Signatures = append(cert.Signatures, chain.CommitSig{Validator: s.Validator, Signature: s.Signature})
		signers = append(signers, int(s.Validator))
	}
	if err := cert.Verify(t.chainID, t.vs); err != nil {
		return nil, 0, fmt.Errorf("certificate: %w", err)
	}
	return signers, c.View, nil
}

// verdict is the one line a successful check prints.
func (t *trustRoot) verdict(v *verifiedBlock) string {
	return fmt.Sprintf("block %d %s: valid; %d transactions; certified in view %d by %d of %d validators %v (quorum %d)",
		v.height, v.hash, len(v.txs), v.view, len(v.signers), t.vs.Size(), v.signers, t.vs.Quorum())
}

// runVerifyBlock implements `bafomet verify block`.
func runVerifyBlock(args []string, stdout, stderr io.Writer) int {
	f := newFlags("verify block", "--genesis FILE (--rpc URL HEIGHT | --rpc URL --from A --to B | --file BLOCK.json) [--ca FILE] [--token-file FILE|--jwt-secret FILE]",
		"Check blocks against a genesis file without trusting the node: each transaction's hash and signer,\n"+
			"the transactions root, the block hash, the parent links of a range, and the commit certificate\n"+
			"(every signature, a quorum of distinct validators). Prints one line per valid block and exits 0;\n"+
			"exits 1 naming the first thing that failed. --file takes the JSON of `bafomet block get --full`.")
	gen := f.String("genesis", "", "genesis file whose validator set and chain id are trusted")
	conn := addRPCFlags(f, "", "node JSON-RPC URL to read blocks from")
	url := conn.url
	file := f.String("file", "", "a block as JSON (chain_getBlockByNumber with full transactions)")
	from := f.Uint64("from", 0, "first height of a range (with --to)")
	to := f.Uint64("to", 0, "last height of a range (with --from)")
	timeout := f.Duration("timeout", 30*time.Second, "how long to wait for the node, per block")
	f.require("genesis")
	pos, code, ok := f.parse(args, -1, stdout, stderr)
	if !ok {
		return code
	}
	ranged := *from != 0 || *to != 0
	switch {
	case *file != "" && (*url != "" || ranged || len(pos) > 0):
		return f.usageError(stderr, "--file takes no --rpc, range or height")
	case *file == "" && *url == "":
		return f.usageError(stderr, "give --rpc URL or --file BLOCK.json")
	case *url != "" && ranged && len(pos) > 0:
		return f.usageError(stderr, "give a height or --from/--to, not both")
	case *url != "" && !ranged && len(pos) != 1:
		return f.usageError(stderr, "want one height")
	case ranged && (*from == 0 || *to < *from):
		return f.usageError(stderr, fmt.Sprintf("--from %d --to %d is not a range of heights from 1", *from, *to))
	case ranged && *to-*from >= maxVerifyRange:
		return f.usageError(stderr, fmt.Sprintf("at most %d blocks at once", maxVerifyRange))
	}
	root, err := loadTrustRoot(*gen)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	if *file != "" {
		b, err := readBlockFile(*file)
		if err != nil {
			return fail(stderr, f.name, err)
		}
		v, err := root.verifyBlock(b)
		if err != nil {
			return fail(stderr, f.name, fmt.Errorf("%s: invalid: %w", *file, err))
		}
		fmt.Fprintln(stdout, root.verdict(v))
		return exitOK
	}
	first, last := *from, *to
	if !ranged {
		h, err := strconv.ParseUint(pos[0], 10, 64)
		if err != nil || h == 0 {
			return f.usageError(stderr, fmt.Sprintf("want a height from 1, got %q", pos[0]))
		}
		first, last = h, h
	}
	c, err := dialWithin(conn, *timeout)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	defer c.Close()
	var prev *verifiedBlock
	for h := first; h <= last; h++ {
		b, err := fetchBlock(c, h, *timeout)
		if err != nil {
			return fail(stderr, f.name, err)
		}
		v, err := root.verifyBlock(b)
		if err != nil {
			return fail(stderr, f.name, fmt.Errorf("block %d: invalid: %w", h, err))
		}
		if v.height != h {
			return fail(stderr, f.name, fmt.Errorf("block %d: invalid: the node answered with height %d", h, v.height))
		}
		if prev != nil && v.parent != prev.hash {
			return fail(stderr, f.name, fmt.Errorf("block %d: invalid: parent %s, but block %d is %s", h, v.parent, prev.height, prev.hash))
		}
		fmt.Fprintln(stdout, root.verdict(v))
		prev = v
	}
	return exitOK
}

// runVerifyTx implements `bafomet verify tx`.
func runVerifyTx(args []string, stdout, stderr io.Writer) int {
	f := newFlags("verify tx", "--genesis FILE --rpc URL [--ca FILE] [--token-file FILE|--jwt-secret FILE] HASH",
		"Check that a transaction is in a certified block, verifying the block as `verify block` does,\n"+
			"and print its receipt. Exits 1 if it is not committed or anything fails to verify.")
	gen := f.String("genesis", "", "genesis file whose validator set and chain id are trusted")
	conn := addRPCFlags(f, "", "node JSON-RPC URL")
	timeout := f.Duration("timeout", 30*time.Second, "how long to wait for the node, per call")
	f.require("genesis", "rpc")
	pos, code, ok := f.parse(args, 1, stdout, stderr)
	if !ok {
		return code
	}
	var want chain.Hash
	if err := want.UnmarshalText([]byte(pos[0])); err != nil {
		return f.usageError(stderr, fmt.Sprintf("want a 0x-prefixed 32-byte transaction hash, got %q", pos[0]))
	}
	root, err := loadTrustRoot(*gen)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	c, err := dialWithin(conn, *timeout)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	defer c.Close()
	var res *rpc.TxResult
	if err := callWithin(c, *timeout, &res, "chain_getTransaction", want); err != nil {
		return fail(stderr, f.name, err)
	}
	switch {
	case res == nil:
		return fail(stderr, f.name, fmt.Errorf("transaction %s: the node does not know it", want))
	case res.Status != rpc.TxCommitted || res.Height == nil || res.Index == nil:
		return fail(stderr, f.name, fmt.Errorf("transaction %s: not committed (status %s)", want, res.Status))
	}
	b, err := fetchBlock(c, *res.Height, *timeout)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	v, err := root.verifyBlock(b)
	if err != nil {
		return fail(stderr, f.name, fmt.Errorf("block %d: invalid: %w", *res.Height, err))
	}
	i := *res.Index
	if v.height != *res.Height || i < 0 || i >= len(v.txs) || v.txs[i] != want {
		return fail(stderr, f.name, fmt.Errorf("transaction %s: not at index %d of certified block %d, where the node says it is", want, i, *res.Height))
	}
	receipt, err := json.Marshal(res.Receipt)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	fmt.Fprintf(stdout, "transaction %s: committed at height %d index %d; %s\nreceipt: %s\n", want, v.height, i, root.verdict(v), receipt)
	return exitOK
}

func dialWithin(conn *rpcFlags, timeout time.Duration) (*client.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return conn.dial(ctx)
}

func callWithin(c *client.Client, timeout time.Duration, out any, method string, params ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Call(ctx, out, method, params...)
}

// fetchBlock reads the block at height h with full transactions.
func fetchBlock(c *client.Client, h uint64, timeout time.Duration) (*rpc.Block, error) {
	var b *rpc.Block
	if err := callWithin(c, timeout, &b, "chain_getBlockByNumber", h, true); err != nil {
		return nil, fmt.Errorf("block %d: %w", h, err)
	}
	if b == nil {
		return nil, fmt.Errorf("block %d: the node does not have it", h)
	}
	return b, nil
}

// readBlockFile reads a block in the JSON of chain_getBlockByNumber.
func readBlockFile(path string) (*rpc.Block, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxBlockFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxBlockFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxBlockFileBytes)
	}
	var b *rpc.Block
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%s: not a block as JSON: %w", path, err)
	}
	if b == nil {
		return nil, fmt.Errorf("%s: null, not a block", path)
	}
	return b, nil
}
