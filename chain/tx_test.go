package chain

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"encoding/hex"
	"errors"
	"math/big"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
)

// txVector is one test vector from docs/transactions.md.
type txVector struct {
	fields map[string]string
	line   int
}

// readTxVectors parses the ```vector blocks of docs/transactions.md.
func readTxVectors(t *testing.T) []txVector {
	t.Helper()
	f, err := os.Open("../docs/transactions.md")
	if err != nil {
		t.Fatalf("open docs: %v", err)
	}
	defer f.Close()
	var out []txVector
	var cur *txVector
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case line == "```vector":
			cur = &txVector{fields: map[string]string{}, line: n}
		case cur != nil && line == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				t.Fatalf("docs/transactions.md:%d: not key: value", n)
			}
			cur.fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTransactionVectors(t *testing.T) {
	vectors := readTxVectors(t)
	if len(vectors) < 3 {
		t.Fatalf("docs/transactions.md has %d vectors, want at least 3", len(vectors))
	}
	for _, v := range vectors {
		t.Run("line"+strconv.Itoa(v.line), func(t *testing.T) { checkTxVector(t, v.fields) })
	}
}

func checkTxVector(t *testing.T, f map[string]string) {
	for _, k := range []string{"private_key", "chain_id", "nonce", "payload_hex", "wire", "signing_hash", "tx_hash", "sender"} {
		if _, ok := f[k]; !ok {
			t.Fatalf("vector lacks %s", k)
		}
	}
	key, err := crypto.HexToECDSA(f["private_key"])
	if err != nil {
		t.Fatal(err)
	}
	nonce, err := strconv.ParseUint(f["nonce"], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := hex.DecodeString(f["payload_hex"])
	if err != nil {
		t.Fatal(err)
	}
	tx, err := SignTx(key, f["chain_id"], nonce, payload)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(tx.Bytes()); got != f["wire"] {
		t.Errorf("SignTx wire = %s, want %s", got, f["wire"])
	}
	wire, err := hex.DecodeString(f["wire"])
	if err != nil {
		t.Fatal(err)
	}
	dec, err := DecodeTx(wire, 0)
	if err != nil {
		t.Fatalf("DecodeTx: %v", err)
	}
	if dec.ChainID != f["chain_id"] || dec.Nonce != nonce || !bytes.Equal(dec.Payload, payload) {
		t.Errorf("decoded fields = %q %d %x", dec.ChainID, dec.Nonce, dec.Payload)
	}
	if got := dec.SigningHash().Hex(); got != f["signing_hash"] {
		t.Errorf("signing hash = %s, want %s", got, f["signing_hash"])
	}
	if got := dec.Hash().Hex(); got != f["tx_hash"] {
		t.Errorf("tx hash = %s, want %s", got, f["tx_hash"])
	}
	sender, err := dec.Sender()
	if err != nil || sender.Hex() != f["sender"] {
		t.Errorf("sender = %s, %v; want %s", sender.Hex(), err, f["sender"])
	}
	if want := crypto.PubkeyToAddress(key.PublicKey); sender != want {
		t.Errorf("sender %s is not the key's address %s", sender, want)
	}
}

func testKey(t testing.TB, seed byte) *ecdsa.PrivateKey {
	t.Helper()
	b := bytes.Repeat([]byte{seed}, 32)
	k, err := crypto.ToECDSA(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// encodeFields RLP-encodes a transaction list from raw items.
func encodeFields(t *testing.T, items ...any) []byte {
	t.Helper()
	enc, err := rlp.EncodeToBytes(items)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func TestDecodeTxRejects(t *testing.T) {
	tx, err := SignTx(testKey(t, 7), "c", 5, []byte("a=b"))
	if err != nil {
		t.Fatal(err)
	}
	good := tx.Bytes()
	sig := tx.Signature
	highS := append([]byte{}, sig...)
	s := new(big.Int).SetBytes(sig[32:64])
	new(big.Int).Sub(crypto.S256().Params().N, s).FillBytes(highS[32:64])
	highS[64] ^= 1
	withV := func(v byte) []byte { b := append([]byte{}, sig...); b[64] = v; return b }
	zeroR := append(make([]byte, 32), sig[32:]...)

	tests := []struct {
		name    string
		wire    []byte
		max     int
		wantErr error
	}{
		{"valid", good, 0, nil},
		{"valid at size limit", good, len(good), nil},
		{"over size limit", good, len(good) - 1, ErrTxTooLarge},
		{"trailing bytes", append(append([]byte{}, good...), 0x00), 0, ErrTxTrailingBytes},
		{"nonce with leading zero", encodeFields(t, "c", rlp.RawValue{0x82, 0x00, 0x05}, []byte("a=b"), sig), 0, ErrTxNonCanonical},
		{"single byte as string", encodeFields(t, "c", rlp.RawValue{0x81, 0x05}, []byte("a=b"), sig), 0, ErrTxNonCanonical},
		{"long-form short string", encodeFields(t, rlp.RawValue{0xb8, 0x01, 'c'}, uint64(5), []byte("a=b"), sig), 0, ErrTxNonCanonical},
		{"five items", encodeFields(t, "c", uint64(5), []byte("a=b"), sig, uint64(1)), 0, ErrTxMalformed},
		{"three items", encodeFields(t, "c", uint64(5), []byte("a=b")), 0, ErrTxMalformed},
		{"not a list", []byte{0x83, 'a', 'b', 'c'}, 0, ErrTxMalformed},
		{"empty input", nil, 0, ErrTxMalformed},
		{"nonce is a list", encodeFields(t, "c", []uint64{5}, []byte("a=b"), sig), 0, ErrTxMalformed},
		{"empty chain id", encodeFields(t, "", uint64(5), []byte("a=b"), sig), 0, ErrTxEmptyChainID},
		{"signature 64 bytes", encodeFields(t, "c", uint64(5), []byte("a=b"), sig[:64]), 0, ErrTxSigLength},
		{"signature 66 bytes", encodeFields(t, "c", uint64(5), []byte("a=b"), append(withV(0), 0)), 0, ErrTxSigLength},
		{"signature empty", encodeFields(t, "c", uint64(5), []byte("a=b"), []byte{}), 0, ErrTxSigLength},
		{"V is 27", encodeFields(t, "c", uint64(5), []byte("a=b"), withV(27)), 0, ErrTxSigBadV},
		{"V is 2", encodeFields(t, "c", uint64(5), []byte("a=b"), withV(2)), 0, ErrTxSigBadV},
		{"high S", encodeFields(t, "c", uint64(5), []byte("a=b"), highS), 0, ErrTxSigHighS},
		{"zero R", encodeFields(t, "c", uint64(5), []byte("a=b"), zeroR), 0, ErrTxSigInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeTx(tc.wire, tc.max)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && got.Hash() != tx.Hash() {
				t.Fatalf("hash = %s, want %s", got.Hash(), tx.Hash())
			}
		})
	}
}

func TestHighSIsValidECDSAButRejected(t *testing.T) {
	// The high-S twin of a valid signature recovers the same key, which is
	// exactly why it must be rejected: it would give the same transaction a
	// second hash.
	key := testKey(t, 9)
	tx, err := SignTx(key, "c", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	twin := append([]byte{}, tx.Signature...)
	s := new(big.Int).SetBytes(twin[32:64])
	new(big.Int).Sub(crypto.S256().Params().N, s).FillBytes(twin[32:64])
	twin[64] ^= 1
	h := tx.SigningHash()
	pub, err := crypto.Ecrecover(h[:], twin)
	if err != nil || !bytes.Equal(pub, crypto.FromECDSAPub(&key.PublicKey)) {
		t.Fatalf("high-S twin does not recover the key: %v", err)
	}
	if _, err := RecoverSigner(h, twin); !errors.Is(err, ErrTxSigHighS) {
		t.Fatalf("RecoverSigner(high S) err = %v", err)
	}
}

func TestSignTxRejectsEmptyChainID(t *testing.T) {
	if _, err := SignTx(testKey(t, 1), "", 0, nil); !errors.Is(err, ErrTxEmptyChainID) {
		t.Fatalf("err = %v", err)
	}
}

func TestSenderMatchesKey(t *testing.T) {
	for seed := byte(1); seed <= 5; seed++ {
		key := testKey(t, seed)
		tx, err := SignTx(key, "chain", uint64(seed), []byte{seed})
		if err != nil {
			t.Fatal(err)
		}
		dec, err := DecodeTx(tx.Bytes(), 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dec.Sender()
		if err != nil || got != crypto.PubkeyToAddress(key.PublicKey) {
			t.Fatalf("seed %d: sender = %s, %v", seed, got, err)
		}
		// A changed payload recovers a different address.
		dec.Payload = []byte{seed + 1}
		if other, _ := dec.Sender(); other == got {
			t.Fatalf("seed %d: tampered payload recovers the same sender", seed)
		}
	}
}

func FuzzDecodeTx(f *testing.F) {
	tx, err := SignTx(testKey(f, 3), "bafomet-test", 1, []byte("k=v"))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		hex.EncodeToString(tx.Bytes()),
		"f8608c6261666f6d65742d74657374808e6772656574696e673d68656c6c6fb84101a40b2b4a0edd622977070f98f6cb9490096a329bd3da1dbeff2fe82a585a054a615096baa775dd4f92deed10a09b76c21e631724b8c13c51b04055556e9d7b01",
		"c0", "c480808080", "f9ffff", "b8", "",
	} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tx, err := DecodeTx(b, 1<<16)
		if err != nil {
			return
		}
		// Whatever decodes is canonical: it re-encodes to the same bytes.
		again := &Tx{ChainID: tx.ChainID, Nonce: tx.Nonce, Payload: tx.Payload, Signature: tx.Signature}
		if !bytes.Equal(again.Bytes(), b) {
			t.Fatalf("re-encoding %x gives %x", b, again.Bytes())
		}
		_, _ = tx.Sender()
	})
}
