package genesis

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// sampleHash pins the genesis hash of sampleDoc. The hash is the chain's
// identity, so a change to the canonical encoding must be deliberate: it
// forks every existing chain. sampleDoc omits most consensus parameters, so
// the pin also covers their defaults (it changed when the default
// pipeline_window went from 1 to 4; files written by `bafomet testnet`
// spell every parameter out and kept their hashes).
const sampleHashHex = "0xa486cf6c1b528625fdcf36d14e6fe73eb2893403bf1b2408ebcb78802e8da2bf"

func mustHash(t *testing.T, doc string) string {
	t.Helper()
	g, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	h, err := g.Hash()
	if err != nil {
		t.Fatal(err)
	}
	return h.Hex()
}

func TestHashIgnoresFormatting(t *testing.T) {
	base := mustHash(t, sampleDoc)
	variants := map[string]string{
		"compact": `{"chain_id":"sample","genesis_time":"2025-01-02T03:04:05.006Z","validators":[{"name":"a","pub_key":"0x0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798","address":"/ip4/10.0.0.1/tcp/26600"}],"consensus":{"checkpoint_interval":50},"app":"kv"}`,
		"reordered keys, no 0x, upper-case hex, other zone": `{"app":"kv","consensus":{"checkpoint_interval":50},
			"validators":[{"address":"/ip4/10.0.0.1/tcp/26600","pub_key":"0279BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798","name":"a"}],
			"genesis_time":"2025-01-02T04:04:05.006+01:00","chain_id":"sample"}`,
		"defaults written out": strings.Replace(sampleDoc, `{"checkpoint_interval": 50}`,
			`{"checkpoint_interval": 50, "max_block_txs": 1000, "pipeline_window": 4, "max_tx_bytes": 65536}`, 1),
		"app_state null": strings.Replace(sampleDoc, `"app": "kv"`, `"app": "kv", "app_state": null`, 1),
	}
	for name, doc := range variants {
		if got := mustHash(t, doc); got != base {
			t.Errorf("%s: hash %s, want %s", name, got, base)
		}
	}
}

func TestHashAppStateCanonical(t *testing.T) {
	g1 := validGenesis(t, 1)
	g1.AppState = json.RawMessage(`{"b": [1, 2.50, "x<y"], "a": {"z": true, "y": null}}`)
	g2 := validGenesis(t, 1)
	g2.AppState = json.RawMessage("{\n\"a\":{\"y\":null,\"z\":true},\"b\":[1,2.50,\"x<y\"]\n}")
	h1, err1 := g1.Hash()
	h2, err2 := g2.Hash()
	if err1 != nil || err2 != nil || h1 != h2 {
		t.Fatalf("hashes %s %s (%v %v)", h1, h2, err1, err2)
	}
	got, err := canonicalJSON(g1.AppState)
	if err != nil || string(got) != `{"a":{"y":null,"z":true},"b":[1,2.50,"x<y"]}` {
		t.Fatalf("canonical app_state = %s (%v)", got, err)
	}
}

func TestHashChangesWithEveryField(t *testing.T) {
	base, err := validGenesis(t, 4).Hash()
	if err != nil {
		t.Fatal(err)
	}
	mutations := map[string]func(g *Genesis){
		"chain_id":          func(g *Genesis) { g.ChainID = "other" },
		"genesis_time":      func(g *Genesis) { g.GenesisTime = g.GenesisTime.Add(time.Millisecond) },
		"validator name":    func(g *Genesis) { g.Validators[3].Name = "x" },
		"validator key":     func(g *Genesis) { g.Validators[3].PubKey = pubHex(t, 9) },
		"validator address": func(g *Genesis) { g.Validators[3].Address = "/ip4/127.0.0.1/tcp/1" },
		"validator order":   func(g *Genesis) { g.Validators[0], g.Validators[1] = g.Validators[1], g.Validators[0] },
		"max_block_txs":     func(g *Genesis) { g.Consensus.MaxBlockTxs++ },
		"max_block_bytes":   func(g *Genesis) { g.Consensus.MaxBlockBytes++ },
		"max_tx_bytes":      func(g *Genesis) { g.Consensus.MaxTxBytes++ },
		"timeout":           func(g *Genesis) { g.Consensus.ViewChangeTimeoutMs++ },
		"timeout max":       func(g *Genesis) { g.Consensus.ViewChangeTimeoutMaxMs++ },
		"clock drift":       func(g *Genesis) { g.Consensus.MaxClockDriftMs++ },
		"checkpoint":        func(g *Genesis) { g.Consensus.CheckpointInterval++ },
		"pipeline":          func(g *Genesis) { g.Consensus.PipelineWindow++ },
		"app":               func(g *Genesis) { g.App = "bank" },
		"app_state":         func(g *Genesis) { g.AppState = json.RawMessage(`{"entries":[]}`) },
	}
	seen := map[string]string{base.Hex(): "base"}
	for name, mutate := range mutations {
		g := validGenesis(t, 4)
		mutate(g)
		h, err := g.Hash()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if other, dup := seen[h.Hex()]; dup {
			t.Errorf("%s: same hash as %s", name, other)
		}
		seen[h.Hex()] = name
	}
}

func TestHashPinned(t *testing.T) {
	if got := mustHash(t, sampleDoc); got != sampleHashHex {
		t.Fatalf("hash of sampleDoc = %s, want %s", got, sampleHashHex)
	}
}

func TestHashRejectsUnparseable(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(g *Genesis)
		want   string
	}{
		{"bad key", func(g *Genesis) { g.Validators[0].PubKey = "0x01" },
			"genesis: validators[0].pub_key: 1 bytes, want a 33-byte compressed secp256k1 key"},
		{"bad address", func(g *Genesis) { g.Validators[0].Address = "/ip4/127.0.0.1/udp/1" },
			`genesis: validators[0].address: "/ip4/127.0.0.1/udp/1": transport must be tcp, not udp`},
		{"bad app_state", func(g *Genesis) { g.AppState = json.RawMessage(`{"a":`) },
			"genesis: app_state: not valid JSON: unexpected EOF"},
	}
	for _, tc := range tests {
		g := validGenesis(t, 1)
		tc.mutate(g)
		if _, err := g.Hash(); err == nil || err.Error() != tc.want {
			t.Errorf("%s: err = %v\nwant  %s", tc.name, err, tc.want)
		}
	}
}
