package cli

import (
	"strings"
	"testing"
)

// Test vector 2 of docs/transactions.md (private key 1, bank payload).
const (
	vecPayload = "transfer 0x2c7536E3605D9C16a7a3D7b1898e529396a65c23 250"
	vecWire    = "0xf8898c6261666f6d65742d7465737401b77472616e736665722030783263373533364533363035443943313661376133443762313839386535323933393661363563323320323530b84140cdfebeddd3fdeda458e2836ed21f1274a1a92d79217a93d0efdf740fc4e190317a3abfe0c14bcd142575bed245be4899e2d439adcf271adb7f6dc1f74c342b01"
)

func TestTxSign(t *testing.T) {
	dir := t.TempDir()
	key := writeFile(t, dir, "k1.key", key1Hex, 0o600)
	code, out, errOut := runCmd(t, "tx", "sign", "--key", key, "--chain-id", "bafomet-test", "--nonce", "1", "--payload", vecPayload)
	if code != exitOK || out != vecWire+"\n" || errOut != "" {
		t.Fatalf("code %d stdout %q stderr %q", code, out, errOut)
	}
	hexPayload := "0x7472616e736665722030783263373533364533363035443943313661376133443762313839386535323933393661363563323320323530"
	code, out, _ = runCmd(t, "tx", "sign", "--key", key, "--chain-id", "bafomet-test", "--nonce", "1", "--payload-hex", hexPayload)
	if code != exitOK || out != vecWire+"\n" {
		t.Fatalf("--payload-hex: code %d stdout %q", code, out)
	}
}

func TestTxSignErrors(t *testing.T) {
	dir := t.TempDir()
	key := writeFile(t, dir, "k1.key", key1Hex, 0o600)
	base := []string{"tx", "sign", "--key", key, "--chain-id", "c", "--nonce", "0"}
	tests := []struct {
		name    string
		args    []string
		code    int
		wantErr string
	}{
		{"missing key", []string{"tx", "sign", "--chain-id", "c", "--nonce", "0"}, exitUsage, "bafomet tx sign: missing --key\n"},
		{"missing chain id", []string{"tx", "sign", "--key", key, "--nonce", "0"}, exitUsage, "bafomet tx sign: missing --chain-id\n"},
		{"missing nonce", []string{"tx", "sign", "--key", key, "--chain-id", "c"}, exitUsage, "bafomet tx sign: missing --nonce\n"},
		{"negative nonce", []string{"tx", "sign", "--key", key, "--chain-id", "c", "--nonce", "-1"}, exitUsage,
			"bafomet tx sign: invalid value \"-1\" for flag -nonce: parse error\n"},
		{"nonce overflow", []string{"tx", "sign", "--key", key, "--chain-id", "c", "--nonce", "18446744073709551616"}, exitUsage,
			"bafomet tx sign: invalid value \"18446744073709551616\" for flag -nonce: value out of range\n"},
		{"empty chain id", []string{"tx", "sign", "--key", key, "--chain-id", "", "--nonce", "0"}, exitFail, "bafomet tx sign: empty chain id\n"},
		{"both payloads", append(base, "--payload", "a", "--payload-hex", "61"), exitUsage, "bafomet tx sign: give --payload or --payload-hex, not both\n"},
		{"bad payload hex", append(base, "--payload-hex", "0xzz"), exitFail,
			"bafomet tx sign: --payload-hex: bad hex: encoding/hex: invalid byte: U+007A 'z'\n"},
		{"missing key file", []string{"tx", "sign", "--key", dir + "/none", "--chain-id", "c", "--nonce", "0"}, exitFail,
			"bafomet tx sign: load key " + dir + "/none: open "},
	}
	for _, tc := range tests {
		code, out, errOut := runCmd(t, tc.args...)
		if code != tc.code || out != "" || !strings.HasPrefix(errOut, tc.wantErr) {
			t.Errorf("%s: code %d stdout %q stderr %q", tc.name, code, out, errOut)
		}
	}
}

func TestTxDecode(t *testing.T) {
	want := `{
  "chainId": "bafomet-test",
  "nonce": 1,
  "payload": "0x7472616e736665722030783263373533364533363035443943313661376133443762313839386535323933393661363563323320323530",
  "payloadText": "` + vecPayload + `",
  "signature": "0x40cdfebeddd3fdeda458e2836ed21f1274a1a92d79217a93d0efdf740fc4e190317a3abfe0c14bcd142575bed245be4899e2d439adcf271adb7f6dc1f74c342b01",
  "signingHash": "0x9fe110183bec0aa0dc13a1a1d39400171b3b4f00aa31731a8cd313b3932fdc3c",
  "hash": "0x2ce180a6bf69963f0d26b4d27848cd58285b1f2d3b1fa129700980eec90917f1",
  "sender": "` + key1Addr + `",
  "size": 139
}
`
	for _, in := range []string{vecWire, strings.TrimPrefix(vecWire, "0x"), " " + strings.ToUpper(vecWire[2:]) + "\n"} {
		code, out, errOut := runCmd(t, "tx", "decode", in)
		if code != exitOK || out != want || errOut != "" {
			t.Fatalf("input %q: code %d stdout\n%s\nstderr %q", in[:8], code, out, errOut)
		}
	}
}

func TestTxDecodeBinaryAndEmptyPayload(t *testing.T) {
	dir := t.TempDir()
	key := writeFile(t, dir, "k1.key", key1Hex, 0o600)
	_, wire, _ := runCmd(t, "tx", "sign", "--key", key, "--chain-id", "c", "--nonce", "0", "--payload-hex", "ff00")
	code, out, _ := runCmd(t, "tx", "decode", strings.TrimSpace(wire))
	if code != exitOK || !strings.Contains(out, "\"payload\": \"0xff00\",\n  \"signature\"") {
		t.Fatalf("binary payload: code %d stdout %s", code, out)
	}
	_, wire, _ = runCmd(t, "tx", "sign", "--key", key, "--chain-id", "c", "--nonce", "0")
	code, out, _ = runCmd(t, "tx", "decode", strings.TrimSpace(wire))
	if code != exitOK || !strings.Contains(out, "\"payload\": \"0x\",\n  \"payloadText\": \"\",") {
		t.Fatalf("empty payload: code %d stdout %s", code, out)
	}
}

func TestTxDecodeErrors(t *testing.T) {
	highS := vecWire[:len(vecWire)-2-64] + strings.Repeat("f", 64) + "01"
	tests := []struct {
		name    string
		args    []string
		code    int
		wantErr string
	}{
		{"no argument", nil, exitUsage, "bafomet tx decode: want 1 argument(s), got 0\n"},
		{"bad hex", []string{"0xzz"}, exitFail, "bafomet tx decode: bad hex: encoding/hex: invalid byte: U+007A 'z'\n"},
		{"empty", []string{"0x"}, exitFail, "bafomet tx decode: empty hex\n"},
		{"odd length", []string{"0xabc"}, exitFail, "bafomet tx decode: bad hex: encoding/hex: odd length hex string\n"},
		{"trailing bytes", []string{vecWire + "00"}, exitFail, "bafomet tx decode: trailing bytes after transaction\n"},
		{"truncated", []string{vecWire[:40]}, exitFail, "bafomet tx decode: malformed transaction: "},
		{"high S", []string{highS}, exitFail, "bafomet tx decode: signature S value is not in the lower half of the curve order\n"},
	}
	for _, tc := range tests {
		code, out, errOut := runCmd(t, append([]string{"tx", "decode"}, tc.args...)...)
		if code != tc.code || out != "" || !strings.HasPrefix(errOut, tc.wantErr) {
			t.Errorf("%s: code %d stdout %q stderr %q", tc.name, code, out, errOut)
		}
	}
}
