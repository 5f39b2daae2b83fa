package cli

import (
	"fmt"
	"strings"
	"testing"
)

const (
	pubA = "0x0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
	pubB = "0x02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5"
)

// genesisDoc returns a genesis document with two validators whose fields
// may be replaced.
func genesisDoc(keyB, addrB, app, appState, consensus string) string {
	return fmt.Sprintf(`{
  "chain_id": "cli-test",
  "genesis_time": "2025-01-02T03:04:05Z",
  "validators": [
    {"name": "a", "pub_key": %q, "address": "/ip4/127.0.0.1/tcp/26600"},
    {"name": "b", "pub_key": %q, "address": %q}
  ],
  "consensus": {%s},
  "app": %q%s
}`, pubA, keyB, addrB, consensus, app, appState)
}

func TestGenesisValidate(t *testing.T) {
	dir := t.TempDir()
	ok := writeFile(t, dir, "ok.json", genesisDoc(pubB, "/ip4/127.0.0.1/tcp/26610", "kv", "", ""), 0o644)
	code, out, errOut := runCmd(t, "genesis", "validate", ok)
	want := ok + ": valid: chain_id cli-test, 2 validators, f=0, app kv, hash 0x"
	if code != exitOK || !strings.HasPrefix(out, want) || len(out) != len(want)+64+1 || errOut != "" {
		t.Fatalf("code %d stdout %q stderr %q", code, out, errOut)
	}
	// Whitespace does not change the hash.
	compact := writeFile(t, dir, "compact.json", strings.Join(strings.Fields(genesisDoc(pubB, "/ip4/127.0.0.1/tcp/26610", "kv", "", "")), ""), 0o644)
	_, out2, _ := runCmd(t, "genesis", "validate", compact)
	if out2[len(out2)-67:] != out[len(out)-67:] {
		t.Fatalf("hash differs: %q vs %q", out, out2)
	}
}

func TestGenesisValidateRejects(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, doc, want string
	}{
		{"malformed JSON", "{\n  \"chain_id\": \"x\",\n  \"app\" \"kv\"\n}", "line 3, column 9: invalid character '\"' after object key\n"},
		{"duplicate key", genesisDoc(pubA, "/ip4/127.0.0.1/tcp/26610", "kv", "", ""), "validators[1].pub_key: same key as validators[0]\n"},
		{"duplicate address", genesisDoc(pubB, "/ip4/127.0.0.1/tcp/26600", "kv", "", ""),
			"validators[1].address: /ip4/127.0.0.1/tcp/26600 is also the address of validators[0]\n"},
		{"bad key hex", genesisDoc("0xnothex", "/ip4/127.0.0.1/tcp/26610", "kv", "", ""),
			"validators[1].pub_key: bad hex: encoding/hex: invalid byte: U+006E 'n'\n"},
		{"zero validators", `{"chain_id":"c","genesis_time":"2025-01-02T03:04:05Z","validators":[],"app":"kv"}`,
			"validators: no validators; at least one is required\n"},
		{"unknown app", genesisDoc(pubB, "/ip4/127.0.0.1/tcp/26610", "evm", "", ""), "app: unknown app \"evm\" (known: bank, kv)\n"},
		{"bad app_state", genesisDoc(pubB, "/ip4/127.0.0.1/tcp/26610", "bank", `, "app_state": {"accounts": [{"address": "0x1", "balance": "5"}]}`, ""),
			"app_state: rejected by app \"bank\": bank app_state: accounts[0].address: "},
		{"zero checkpoint interval", genesisDoc(pubB, "/ip4/127.0.0.1/tcp/26610", "kv", "", `"checkpoint_interval": 0`),
			"consensus.checkpoint_interval: must be greater than 0\n"},
		{"unknown field", genesisDoc(pubB, "/ip4/127.0.0.1/tcp/26610", "kv", "", `"checkpoint": 5`),
			"consensus.checkpoint: line 8, column 17: unknown field\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, dir, strings.ReplaceAll(tc.name, " ", "_")+".json", tc.doc, 0o644)
			code, out, errOut := runCmd(t, "genesis", "validate", path)
			prefix := "bafomet genesis validate: " + path + ": "
			if strings.HasPrefix(tc.want, "line ") || strings.Contains(tc.want, "unknown field") {
				prefix += "genesis: "
			}
			if code != exitFail || out != "" || !strings.HasPrefix(errOut, prefix+tc.want) {
				t.Fatalf("code %d stdout %q stderr %q\nwant %q", code, out, errOut, prefix+tc.want)
			}
		})
	}
	code, _, errOut := runCmd(t, "genesis", "validate", dir+"/missing.json")
	if code != exitFail || !strings.HasPrefix(errOut, "bafomet genesis validate: genesis: open "+dir+"/missing.json: no such file") {
		t.Fatalf("missing file: code %d stderr %q", code, errOut)
	}
	code, _, errOut = runCmd(t, "genesis", "validate")
	if code != exitUsage || !strings.HasPrefix(errOut, "bafomet genesis validate: want 1 argument(s), got 0\n") {
		t.Fatalf("no file: code %d stderr %q", code, errOut)
	}
}
