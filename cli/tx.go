package cli

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/bafomet/bafomet/chain"
)

func init() {
	registerSub("tx", "sign and decode transactions", &command{
		name: "sign", summary: "sign a transaction offline and print its wire hex", run: runTxSign,
	})
	registerSub("tx", "sign and decode transactions", &command{
		name: "decode", summary: "print a transaction's fields, hash and sender as JSON", run: runTxDecode,
	})
}

func runTxSign(args []string, stdout, stderr io.Writer) int {
	f := newFlags("tx sign", "--key FILE --chain-id ID --nonce N (--payload STRING | --payload-hex HEX)",
		"Sign a transaction with the key in FILE, offline, and print its wire form as 0x-prefixed hex\n"+
			"(docs/transactions.md). Submit it with chain_sendTransaction.")
	keyFile := f.String("key", "", "sender's key file")
	chainID := f.String("chain-id", "", "the chain id from genesis")
	nonce := f.Uint64("nonce", 0, "the sender's next nonce (nonces start at 0)")
	payload := f.String("payload", "", "payload as text, e.g. key=value for the kv app")
	payloadHex := f.String("payload-hex", "", "payload as hex, for binary payloads")
	f.require("key", "chain-id", "nonce")
	if _, code, ok := f.parse(args, 0, stdout, stderr); !ok {
		return code
	}
	body := []byte(*payload)
	if *payloadHex != "" {
		if *payload != "" {
			return f.usageError(stderr, "give --payload or --payload-hex, not both")
		}
		b, err := decodeHex(*payloadHex)
		if err != nil {
			return fail(stderr, f.name, fmt.Errorf("--payload-hex: %w", err))
		}
		body = b
	}
	key, err := loadKeyFile(*keyFile)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	tx, err := chain.SignTx(key, *chainID, *nonce, body)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	fmt.Fprintf(stdout, "0x%x\n", tx.Bytes())
	return exitOK
}

// decodedTx is the JSON form `tx decode` prints.
type decodedTx struct {
	ChainID     string  `json:"chainId"`
	Nonce       uint64  `json:"nonce"`
	Payload     string  `json:"payload"`
	PayloadText *string `json:"payloadText,omitempty"` // present when the payload is UTF-8
	Signature   string  `json:"signature"`
	SigningHash string  `json:"signingHash"`
	Hash        string  `json:"hash"`
	Sender      string  `json:"sender"`
	Size        int     `json:"size"`
}

// decodeTxHex decodes and verifies a transaction from its wire hex.
func decodeTxHex(s string) (*decodedTx, error) {
	raw, err := decodeHex(s)
	if err != nil {
		return nil, err
	}
	tx, err := chain.DecodeTx(raw, 0)
	if err != nil {
		return nil, err
	}
	sender, err := tx.Sender()
	if err != nil {
		return nil, err
	}
	out := &decodedTx{
		ChainID:     tx.ChainID,
		Nonce:       tx.Nonce,
		Payload:     "0x" + hex.EncodeToString(tx.Payload),
		Signature:   "0x" + hex.EncodeToString(tx.Signature),
		SigningHash: tx.SigningHash().Hex(),
		Hash:        tx.Hash().Hex(),
		Sender:      sender.Hex(),
		Size:        tx.Size(),
	}
	if utf8.Valid(tx.Payload) {
		text := string(tx.Payload)
		out.PayloadText = &text
	}
	return out, nil
}

func runTxDecode(args []string, stdout, stderr io.Writer) int {
	f := newFlags("tx decode", "HEX",
		"Decode a transaction's wire form (hex, 0x optional), verify its signature, and print its\n"+
			"fields, signing hash, transaction hash and sender as JSON.")
	pos, code, ok := f.parse(args, 1, stdout, stderr)
	if !ok {
		return code
	}
	out, err := decodeTxHex(pos[0])
	if err != nil {
		return fail(stderr, f.name, err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return fail(stderr, f.name, err)
	}
	return exitOK
}

// decodeHex decodes hex with an optional 0x prefix and surrounding space.
func decodeHex(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if s == "" {
		return nil, errors.New("empty hex")
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("bad hex: %w", err)
	}
	return b, nil
}
