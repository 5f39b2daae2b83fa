package genesis

import (
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bafomet/bafomet/chain/apps"
)

// testKey returns a fixed private key for validator i.
func testKey(t testing.TB, i int) *ecdsa.PrivateKey {
	t.Helper()
	b := make([]byte, 32)
	b[30] = byte((i + 1) >> 8)
	b[31] = byte(i + 1)
	k, err := crypto.ToECDSA(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pubHex(t testing.TB, i int) string {
	return "0x" + hex.EncodeToString(crypto.CompressPubkey(&testKey(t, i).PublicKey))
}

// validGenesis returns a valid kv genesis with n validators.
func validGenesis(t testing.TB, n int) *Genesis {
	t.Helper()
	g := &Genesis{
		ChainID:     "test-chain",
		GenesisTime: time.Date(2025, 1, 2, 3, 4, 5, 6_000_000, time.UTC),
		Consensus:   DefaultConsensus(),
		App:         "kv",
	}
	for i := 0; i < n; i++ {
		g.Validators = append(g.Validators, Validator{
			Name:    fmt.Sprintf("node%d", i),
			PubKey:  pubHex(t, i),
			Address: fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", 26600+10*i),
		})
	}
	return g
}

const sampleDoc = `{
  "chain_id": "sample",
  "genesis_time": "2025-01-02T03:04:05.006Z",
  "validators": [
    {"name": "a", "pub_key": "0x0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798", "address": "/ip4/10.0.0.1/tcp/26600"}
  ],
  "consensus": {"checkpoint_interval": 50},
  "app": "kv"
}`

func TestParseFillsDefaults(t *testing.T) {
	g, err := Parse([]byte(sampleDoc))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConsensus()
	want.CheckpointInterval = 50
	if g.Consensus != want {
		t.Fatalf("consensus = %+v, want %+v", g.Consensus, want)
	}
	if g.TimestampMs() != 1735787045006 {
		t.Fatalf("TimestampMs = %d", g.TimestampMs())
	}
	if err := g.Validate(apps.Builtin()); err != nil {
		t.Fatal(err)
	}
	if g.F() != 0 {
		t.Fatalf("F = %d", g.F())
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"empty", "", "genesis: line 1, column 1: empty document"},
		{"truncated", "{\n", "genesis: line 2, column 1: unexpected end of JSON input"},
		{"syntax", "{\n  \"chain_id\": \"a\",\n  \"x\" 1}", "genesis: line 3, column 7: invalid character '1' after object key"},
		{"trailing", "{} x", "genesis: line 1, column 4: trailing data after the genesis object"},
		{"unknown top-level", "{\"chain_id\":\"a\",\n \"foo\": 1}", "genesis: foo: line 2, column 2: unknown field"},
		{"unknown nested", `{"validators":[{"name":"a"},{"nam":1}]}`, "genesis: validators[1].nam: line 1, column 30: unknown field"},
		{"unknown consensus", `{"consensus":{"timeout_ms":1}}`, "genesis: consensus.timeout_ms: line 1, column 15: unknown field"},
		{"wrong type", "{\n \"chain_id\": 5}", "genesis: chain_id: line 2, column 14: expected a string, got number"},
		{"negative", `{"consensus":{"max_tx_bytes":-1}}`, "genesis: consensus.max_tx_bytes: line 1, column 31: expected a non-negative integer, got number -1"},
		{"bad time", `{"genesis_time":"yesterday"}`, `genesis: genesis_time: line 1, column 2: not an RFC 3339 time (for example 2025-01-02T15:04:05Z): "yesterday"`},
		{"time not string", `{"genesis_time":5}`, "genesis: genesis_time: line 1, column 2: not an RFC 3339 time string"},
		// encoding/json alone accepts both of these; two readers could take
		// different chain ids from one file.
		{"case variant", "{\"chain_id\":\"a\",\n \"Chain_ID\": \"b\"}",
			`genesis: Chain_ID: line 2, column 2: unknown field (names are case-sensitive: did you mean "chain_id"?)`},
		{"case variant nested", `{"validators":[{"PUB_KEY":"x"}]}`,
			`genesis: validators[0].PUB_KEY: line 1, column 17: unknown field (names are case-sensitive: did you mean "pub_key"?)`},
		{"duplicate", "{\"chain_id\":\"a\",\n \"chain_id\": \"b\"}", "genesis: chain_id: line 2, column 2: field given twice"},
		{"duplicate in app_state", `{"app_state":{"entries":[],"entries":[]}}`, "genesis: app_state.entries: line 1, column 28: field given twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v\nwant  %s", err, tc.want)
			}
		})
	}
}

func TestParseAppStateKeysAreNotCheckedByFormat(t *testing.T) {
	doc := `{"app":"kv","app_state":{"entries":[],"nam":1}}`
	g, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if string(g.AppState) != `{"entries":[],"nam":1}` {
		t.Fatalf("app_state = %s", g.AppState)
	}
}

func TestLoadLimit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "genesis.json")
	if err := os.WriteFile(path, []byte(sampleDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadLimit(path, len(sampleDoc)); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	_, err := LoadLimit(path, len(sampleDoc)-1)
	want := fmt.Sprintf("genesis: %s is larger than %d bytes", path, len(sampleDoc)-1)
	if err == nil || err.Error() != want {
		t.Fatalf("over the limit: %v", err)
	}
	_, err = Load(filepath.Join(dir, "missing.json"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte("{\n\"app\": 1}"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	if err == nil || err.Error() != path+": genesis: app: line 2, column 8: expected a string, got number" {
		t.Fatalf("bad file: %v", err)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	g := validGenesis(t, 4)
	g.AppState = json.RawMessage(`{"entries":[{"key":"a","value":"<b>"}]}`)
	enc, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.Validators, back.Validators) || g.Consensus != back.Consensus ||
		!g.GenesisTime.Equal(back.GenesisTime) || g.ChainID != back.ChainID || g.App != back.App {
		t.Fatalf("round trip changed the genesis:\n%+v\n%+v", g, back)
	}
	if !strings.Contains(string(enc), `"value": "<b>"`) {
		t.Fatalf("app_state was HTML-escaped or lost:\n%s", enc)
	}
}

func TestValidatorSetAndPeerID(t *testing.T) {
	g := validGenesis(t, 4)
	vs, err := g.ValidatorSet()
	if err != nil {
		t.Fatal(err)
	}
	if vs.Size() != 4 || vs.Quorum() != 3 || vs.F() != 1 || g.F() != 1 {
		t.Fatalf("size %d quorum %d f %d", vs.Size(), vs.Quorum(), vs.F())
	}
	for i := 0; i < 4; i++ {
		v := vs.Validator(i)
		if v.Address != crypto.PubkeyToAddress(testKey(t, i).PublicKey) || v.Name != g.Validators[i].Name ||
			v.Multiaddr != g.Validators[i].Address {
			t.Fatalf("validator %d = %+v", i, v)
		}
	}
	key, err := ParsePubKey(g.Validators[0].PubKey)
	if err != nil {
		t.Fatal(err)
	}
	id, err := PeerID(key)
	if err != nil {
		t.Fatal(err)
	}
	// Derived independently from the private key, as libp2p hosts do.
	sk, err := p2pcrypto.UnmarshalSecp256k1PrivateKey(crypto.FromECDSA(testKey(t, 0)))
	if err != nil {
		t.Fatal(err)
	}
	want, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	if id != want || id.String() != "16Uiu2HAm3cuhhRL2msUuLF62KRSfneFDx94RsuouyW25Ho42cFMq" {
		t.Fatalf("peer id = %s, want %s", id, want)
	}
	if _, err := PeerID([]byte{1, 2}); err == nil {
		t.Fatal("PeerID accepted a 2-byte key")
	}
}
