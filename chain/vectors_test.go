package chain_test

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain"
)

// certificateVectors is chain/testdata/certificate_vectors.json: a block and
// its commit certificate with every intermediate value, for verifiers
// written in other languages (docs/certificates.md).
type certificateVectors struct {
	ChainID        string         `json:"chain_id"`
	Validators     []vectorVal    `json:"validators"`
	ValidatorsRLP  hexutil.Bytes  `json:"validators_rlp"`
	ValidatorsHash chain.Hash     `json:"validators_hash"`
	Quorum         int            `json:"quorum"`
	Transactions   []vectorTx     `json:"transactions"`
	TxRootRLP      hexutil.Bytes  `json:"tx_root_rlp"`
	TxRoot         chain.Hash     `json:"tx_root"`
	Header         vectorHeader   `json:"header"`
	HeaderRLP      hexutil.Bytes  `json:"header_rlp"`
	BlockHash      chain.Hash     `json:"block_hash"`
	Certificate    vectorCert     `json:"certificate"`
	CommitRLP      hexutil.Bytes  `json:"commit_rlp"`
	CommitDigest   chain.Hash     `json:"commit_digest"`
	Signers        []int          `json:"signers"`
	Invalid        []vectorBadSig `json:"invalid_signatures"`
}

type vectorVal struct {
	Name    string        `json:"name"`
	PubKey  hexutil.Bytes `json:"pub_key"`
	Address chain.Address `json:"address"`
}

type vectorTx struct {
	ChainID     string        `json:"chain_id"`
	Nonce       uint64        `json:"nonce"`
	Payload     hexutil.Bytes `json:"payload"`
	SigningHash chain.Hash    `json:"signing_hash"`
	Signature   hexutil.Bytes `json:"signature"`
	Wire        hexutil.Bytes `json:"wire"`
	Hash        chain.Hash    `json:"hash"`
	Sender      chain.Address `json:"sender"`
}

type vectorHeader struct {
	Height         uint64        `json:"height"`
	ParentHash     chain.Hash    `json:"parent_hash"`
	Timestamp      uint64        `json:"timestamp"`
	Proposer       chain.Address `json:"proposer"`
	TxRoot         chain.Hash    `json:"tx_root"`
	AppHash        chain.Hash    `json:"app_hash"`
	ValidatorsHash chain.Hash    `json:"validators_hash"`
}

type vectorCert struct {
	Height     uint64      `json:"height"`
	View       uint64      `json:"view"`
	BlockHash  chain.Hash  `json:"block_hash"`
	Signatures []vectorSig `json:"signatures"`
}

type vectorSig struct {
	Validator uint32        `json:"validator"`
	Signature hexutil.Bytes `json:"signature"`
}

// vectorBadSig is a signature a verifier must reject, and why.
type vectorBadSig struct {
	Validator uint32        `json:"validator"`
	Signature hexutil.Bytes `json:"signature"`
	Why       string        `json:"why"`
}

const vectorsPath = "testdata/certificate_vectors.json"

// makeVectors builds the vectors from fixed keys with this package's code.
func makeVectors(t *testing.T) *certificateVectors {
	t.Helper()
	key := func(label string) *ecdsa.PrivateKey {
		k, err := crypto.ToECDSA(crypto.Keccak256([]byte(label)))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	v := &certificateVectors{ChainID: "vectors-1"}
	var keys []*ecdsa.PrivateKey
	var vals []chain.Validator
	for i := range 4 {
		k := key(fmt.Sprintf("bafomet test vector validator %d", i))
		keys = append(keys, k)
		pub := crypto.CompressPubkey(&k.PublicKey)
		vals = append(vals, chain.Validator{Name: fmt.Sprintf("v%d", i), PubKey: pub})
		v.Validators = append(v.Validators, vectorVal{Name: vals[i].Name, PubKey: pub, Address: crypto.PubkeyToAddress(k.PublicKey)})
	}
	vs, err := chain.NewValidatorSet(vals)
	if err != nil {
		t.Fatal(err)
	}
	type valEntry struct {
		Name   string
		PubKey []byte
	}
	var entries []valEntry
	for _, val := range vals {
		entries = append(entries, valEntry{val.Name, val.PubKey})
	}
	v.ValidatorsRLP = mustRLP(t, entries)
	v.ValidatorsHash, v.Quorum = vs.Hash(), vs.Quorum()

	client := key("bafomet test vector client")
	var wires [][]byte
	var senders []chain.Address
	for i, payload := range []string{"greeting=hello", "answer=42"} {
		tx, err := chain.SignTx(client, v.ChainID, uint64(i), []byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		sender, err := tx.Sender()
		if err != nil {
			t.Fatal(err)
		}
		wires, senders = append(wires, tx.Bytes()), append(senders, sender)
		v.Transactions = append(v.Transactions, vectorTx{
			ChainID: tx.ChainID, Nonce: tx.Nonce, Payload: tx.Payload, SigningHash: tx.SigningHash(),
			Signature: tx.Signature, Wire: tx.Bytes(), Hash: tx.Hash(), Sender: sender,
		})
	}
	type pair struct {
		TxHash chain.Hash
		Sender chain.Address
	}
	var pairs []pair
	for i := range wires {
		pairs = append(pairs, pair{crypto.Keccak256Hash(wires[i]), senders[i]})
	}
	v.TxRootRLP = mustRLP(t, pairs)
	v.TxRoot = chain.TxRoot(wires, senders)

	h := chain.Header{
		Height: 7, ParentHash: crypto.Keccak256Hash([]byte("parent")), Timestamp: 1_767_225_600_000,
		Proposer: v.Validators[1].Address, TxRoot: v.TxRoot, AppHash: crypto.Keccak256Hash([]byte("state after 6")),
		ValidatorsHash: vs.Hash(),
	}
	v.Header = vectorHeader(h)
	v.HeaderRLP = mustRLP(t, &h)
	v.BlockHash = h.Hash()

	const view = 1
	v.CommitRLP = mustRLP(t, []any{v.ChainID, h.Height, uint64(view), v.BlockHash})
	v.CommitDigest = chain.CommitDigest(v.ChainID, h.Height, view, v.BlockHash)
	v.Certificate = vectorCert{Height: h.Height, View: view, BlockHash: v.BlockHash}
	for _, i := range []int{0, 1, 3} {
		sig, err := chain.Sign(keys[i], v.CommitDigest)
		if err != nil {
			t.Fatal(err)
		}
		v.Certificate.Signatures = append(v.Certificate.Signatures, vectorSig{Validator: uint32(i), Signature: sig})
		v.Signers = append(v.Signers, i)
	}
	other, err := chain.Sign(keys[2], chain.CommitDigest(v.ChainID, h.Height, view+1, v.BlockHash))
	if err != nil {
		t.Fatal(err)
	}
	v.Invalid = []vectorBadSig{
		{Validator: 2, Signature: other, Why: "validator 2's commit for view 2, not view 1"},
		{Validator: 2, Signature: v.Certificate.Signatures[0].Signature, Why: "validator 0's signature presented as validator 2's"},
	}
	return v
}

func mustRLP(t *testing.T, x any) []byte {
	t.Helper()
	enc, err := rlp.EncodeToBytes(x)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// The stored vectors are what this package computes, and they verify:
// set BAFOMET_UPDATE_VECTORS=1 to write them again after a deliberate
// format change (and update docs/certificates.md).
func TestCertificateVectors(t *testing.T) {
	v := makeVectors(t)
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if os.Getenv("BAFOMET_UPDATE_VECTORS") == "1" {
		if err := os.WriteFile(vectorsPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(filepath.FromSlash(vectorsPath))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from what chain computes now; a wire or digest format changed.\ngot:\n%s", vectorsPath, got)
	}
	var stored certificateVectors
	if err := json.Unmarshal(want, &stored); err != nil {
		t.Fatal(err)
	}
	var vals []chain.Validator
	for _, val := range stored.Validators {
		vals = append(vals, chain.Validator{Name: val.Name, PubKey: val.PubKey})
	}
	vs, err := chain.NewValidatorSet(vals)
	if err != nil {
		t.Fatal(err)
	}
	if crypto.Keccak256Hash([]byte("bafomet/validators/v1"), stored.ValidatorsRLP) != vs.Hash() {
		t.Fatal("validators_hash is not Keccak256(\"bafomet/validators/v1\" ‖ validators_rlp)")
	}
	if crypto.Keccak256Hash(stored.HeaderRLP) != stored.BlockHash {
		t.Fatal("block_hash is not Keccak256(header_rlp)")
	}
	if crypto.Keccak256Hash(stored.TxRootRLP) != stored.TxRoot {
		t.Fatal("tx_root is not Keccak256(tx_root_rlp)")
	}
	if crypto.Keccak256Hash([]byte(chain.DomainCommit), stored.CommitRLP) != stored.CommitDigest {
		t.Fatal("commit_digest is not Keccak256(\"bafomet/commit/v1\" ‖ commit_rlp)")
	}
	cert := &chain.Certificate{Height: stored.Certificate.Height, View: stored.Certificate.View, BlockHash: stored.Certificate.BlockHash}
	for _, s := range stored.Certificate.Signatures {
		cert.Signatures = append(cert.Signatures, chain.CommitSig{Validator: s.Validator, Signature: s.Signature})
	}
	if err := cert.Verify(stored.ChainID, vs); err != nil {
		t.Fatalf("the vector certificate does not verify: %v", err)
	}
	for _, bad := range stored.Invalid {
		if err := vs.VerifySignature(int(bad.Validator), stored.CommitDigest, bad.Signature); err == nil {
			t.Fatalf("invalid vector accepted: %s", bad.Why)
		}
	}
}
