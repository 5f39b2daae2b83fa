package rpc

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/bafomet/bafomet/chain"
)

// Every RPC method takes its parameters as *json.RawMessage, so that geth
// only checks the count ("too many arguments") and this file decodes each
// one with an error that names the parameter. A nil pointer is an absent
// (or null) parameter.

func present(raw *json.RawMessage) bool {
	return raw != nil && !bytes.Equal(bytes.TrimSpace(*raw), []byte("null"))
}

// stringParam decodes a required JSON string.
func stringParam(name string, raw *json.RawMessage) (string, error) {
	if !present(raw) {
		return "", missingParam(name)
	}
	var s string
	if err := json.Unmarshal(*raw, &s); err != nil {
		return "", invalidParams(name, "want a string, got %s", describe(*raw))
	}
	return s, nil
}

// hexParam decodes a required 0x-prefixed hex string into bytes.
func hexParam(name string, raw *json.RawMessage) ([]byte, error) {
	s, err := stringParam(name, raw)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(s, "0x") && !strings.HasPrefix(s, "0X") {
		return nil, invalidParams(name, "hex string must start with 0x")
	}
	b, err := hex.DecodeString(s[2:])
	if err != nil {
		return nil, invalidParams(name, "bad hex: %v", err)
	}
	return b, nil
}

// hashParam decodes a required 32-byte hash.
func hashParam(name string, raw *json.RawMessage) (chain.Hash, error) {
	b, err := hexParam(name, raw)
	if err != nil {
		return chain.Hash{}, err
	}
	if len(b) != len(chain.Hash{}) {
		return chain.Hash{}, invalidParams(name, "want 32 bytes, got %d", len(b))
	}
	return chain.Hash(b), nil
}

// addressParam decodes a required 20-byte address.
func addressParam(name string, raw *json.RawMessage) (chain.Address, error) {
	b, err := hexParam(name, raw)
	if err != nil {
		return chain.Address{}, err
	}
	if len(b) != len(chain.Address{}) {
		return chain.Address{}, invalidParams(name, "want 20 bytes, got %d", len(b))
	}
	return chain.Address(b), nil
}

// uintParam decodes a required non-negative integer JSON number.
func uintParam(name string, raw *json.RawMessage) (uint64, error) {
	if !present(raw) {
		return 0, missingParam(name)
	}
	var n uint64
	if err := json.Unmarshal(*raw, &n); err != nil {
		return 0, invalidParams(name, "want a non-negative integer, got %s", describe(*raw))
	}
	return n, nil
}

// blockNumberParam decodes a required height or the string "latest".
func blockNumberParam(name string, raw *json.RawMessage) (height uint64, latest bool, err error) {
	if !present(raw) {
		return 0, false, missingParam(name)
	}
	var s string
	if json.Unmarshal(*raw, &s) == nil {
		if s == "latest" {
			return 0, true, nil
		}
		return 0, false, invalidParams(name, `want a height or "latest", got %s`, describe(*raw))
	}
	var n uint64
	if err := json.Unmarshal(*raw, &n); err != nil {
		return 0, false, invalidParams(name, `want a height or "latest", got %s`, describe(*raw))
	}
	return n, false, nil
}

// boolParam decodes an optional boolean, false when absent.
func boolParam(name string, raw *json.RawMessage) (bool, error) {
	if !present(raw) {
		return false, nil
	}
	var b bool
	if err := json.Unmarshal(*raw, &b); err != nil {
		return false, invalidParams(name, "want true or false, got %s", describe(*raw))
	}
	return b, nil
}

// maxDescribed bounds how much of a bad parameter an error message quotes.
const maxDescribed = 64

// describe quotes a bad parameter value for an error message, truncated.
func describe(raw json.RawMessage) string {
	s := string(bytes.TrimSpace(raw))
	if len(s) > maxDescribed {
		s = s[:maxDescribed] + "…"
	}
	return s
}
