package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bafomet/bafomet/chain/apps/bank"
	"github.com/bafomet/bafomet/genesis"
	"github.com/bafomet/bafomet/node"
)

// seededReader is a deterministic byte stream: SHA-256 of seed ‖ counter.
type seededReader struct {
	seed    uint64
	counter uint64
	buf     []byte
}

func (r *seededReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.buf) == 0 {
			var in [16]byte
			binary.BigEndian.PutUint64(in[:8], r.seed)
			binary.BigEndian.PutUint64(in[8:], r.counter)
			r.counter++
			sum := sha256.Sum256(in[:])
			r.buf = sum[:]
		}
		c := copy(p[n:], r.buf)
		r.buf = r.buf[c:]
		n += c
	}
	return n, nil
}

func readManifest(t *testing.T, dir string) testnetManifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "testnet.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m testnetManifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTestnetBank(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	code, out, errOut := runCmd(t, "testnet", "--validators", "4", "--out", dir, "--app", "bank", "--accounts", "3", "--base-port", "30000")
	if code != exitOK || errOut != "" {
		t.Fatalf("code %d stderr %q", code, errOut)
	}
	m := readManifest(t, dir)
	if m.ChainID != "bafomet-testnet" || len(m.Nodes) != 4 || len(m.Accounts) != 3 {
		t.Fatalf("manifest %+v", m)
	}
	wantOut := "testnet bafomet-testnet: 4 validators, 3 accounts, app bank\n"
	var genesisBytes []byte
	for i, n := range m.Nodes {
		p2p := 30000 + 10*i
		home := filepath.Join(dir, fmt.Sprintf("node%d", i))
		_, shown, _ := runCmd(t, "keys", "show", "--json", filepath.Join(home, "config", "validator.key"))
		var info keyInfo
		if err := json.Unmarshal([]byte(shown), &info); err != nil {
			t.Fatal(err)
		}
		want := testnetNode{Name: fmt.Sprintf("node%d", i), Home: home, Address: info.Address, PeerID: info.PeerID,
			P2P: fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", p2p), RPC: fmt.Sprintf("http://127.0.0.1:%d", p2p+1)}
		if n != want {
			t.Errorf("node %d = %+v\nwant %+v", i, n, want)
		}
		wantOut += fmt.Sprintf("  node%d  rpc %s  p2p %s  home %s\n", i, want.RPC, want.P2P, home)
		cfg, err := node.LoadConfig(home)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Node.Name != want.Name || cfg.P2P.Listen != want.P2P || cfg.RPC.Listen != fmt.Sprintf("127.0.0.1:%d", p2p+1) ||
			cfg.Metrics.Listen != fmt.Sprintf("127.0.0.1:%d", p2p+2) {
			t.Errorf("node %d config %+v", i, cfg)
		}
		gen, err := os.ReadFile(cfg.GenesisPath())
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			genesisBytes = gen
		} else if !bytes.Equal(gen, genesisBytes) {
			t.Errorf("node %d has a different genesis.json", i)
		}
		if fi, err := os.Stat(cfg.DataPath()); err != nil || !fi.IsDir() {
			t.Errorf("node %d data dir: %v", i, err)
		}
	}
	wantOut += "wrote " + filepath.Join(dir, "testnet.json") + "\n"
	if out != wantOut {
		t.Errorf("stdout\n%s\nwant\n%s", out, wantOut)
	}
	g, err := genesis.Parse(genesisBytes)
	if err != nil {
		t.Fatal(err)
	}
	accounts, err := bank.ParseAppState(g.AppState)
	if err != nil || len(accounts) != 3 {
		t.Fatalf("bank accounts %v (%v)", accounts, err)
	}
	for i, a := range m.Accounts {
		if a.KeyFile != filepath.Join(dir, "accounts", fmt.Sprintf("account%d.key", i)) {
			t.Errorf("account %d key file %s", i, a.KeyFile)
		}
		_, shown, _ := runCmd(t, "keys", "show", a.KeyFile)
		if !strings.HasPrefix(shown, "address: "+a.Address+"\n") {
			t.Errorf("account %d: key file is %q, manifest says %s", i, shown, a.Address)
		}
		if accounts[i].Address.Hex() != a.Address || accounts[i].Balance != defaultTestnetBalance {
			t.Errorf("account %d funded %+v", i, accounts[i])
		}
	}
	code, vout, _ := runCmd(t, "genesis", "validate", filepath.Join(dir, "node2", "config", "genesis.json"))
	if code != exitOK || !strings.Contains(vout, ": valid: chain_id bafomet-testnet, 4 validators, f=1, app bank, hash 0x") {
		t.Fatalf("genesis validate: %d %q", code, vout)
	}
	// Running again into the same directory refuses and changes nothing.
	code, _, errOut = runCmd(t, "testnet", "--validators", "4", "--out", dir)
	if code != exitFail || errOut != "bafomet testnet: refusing to overwrite "+filepath.Join(dir, "testnet.json")+"; choose an empty --out directory\n" {
		t.Fatalf("second run: code %d stderr %q", code, errOut)
	}
	if again := readManifest(t, dir); again.Nodes[0] != m.Nodes[0] {
		t.Fatal("manifest changed")
	}
}

func TestGenerateTestnetDeterministic(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC)
	gen := func(dir string) (*testnetManifest, []byte) {
		m, err := generateTestnet(testnetOptions{Out: dir, Validators: 2, Host: "127.0.0.1", BasePort: 26600,
			App: "kv", Accounts: 1, ChainID: "det", Now: now, Rand: &seededReader{seed: 7}})
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "node0", "config", "genesis.json"))
		if err != nil {
			t.Fatal(err)
		}
		return m, b
	}
	m1, g1 := gen(filepath.Join(t.TempDir(), "a"))
	m2, g2 := gen(filepath.Join(t.TempDir(), "b"))
	if !bytes.Equal(g1, g2) || m1.Nodes[1].Address != m2.Nodes[1].Address || m1.Accounts[0].Address != m2.Accounts[0].Address {
		t.Fatal("same seed gave different testnets")
	}
	g, err := genesis.Parse(g1)
	if err != nil {
		t.Fatal(err)
	}
	if g.GenesisTime.Format(time.RFC3339Nano) != "2025-06-01T12:00:00.123Z" || g.AppState != nil || g.Consensus != genesis.DefaultConsensus() {
		t.Fatalf("genesis %+v", g)
	}
}

func TestTestnetHosts(t *testing.T) {
	tests := []struct{ host, p2p, listen, rpc, rpcListen string }{
		{"10.1.2.3", "/ip4/10.1.2.3/tcp/26600", "/ip4/10.1.2.3/tcp/26600", "http://10.1.2.3:26601", "10.1.2.3:26601"},
		{"::1", "/ip6/::1/tcp/26600", "/ip6/::1/tcp/26600", "http://[::1]:26601", "[::1]:26601"},
		{"node0.example", "/dns/node0.example/tcp/26600", "/ip4/0.0.0.0/tcp/26600", "http://node0.example:26601", "0.0.0.0:26601"},
	}
	for _, tc := range tests {
		dir := t.TempDir()
		m, err := generateTestnet(testnetOptions{Out: dir, Validators: 1, Host: tc.host, BasePort: 26600,
			App: "kv", ChainID: "h", Now: time.Unix(1, 0), Rand: &seededReader{seed: 1}})
		if err != nil {
			t.Fatalf("%s: %v", tc.host, err)
		}
		cfg, err := node.LoadConfig(m.Nodes[0].Home)
		if err != nil {
			t.Fatal(err)
		}
		if m.Nodes[0].P2P != tc.p2p || m.Nodes[0].RPC != tc.rpc || cfg.P2P.Listen != tc.listen || cfg.RPC.Listen != tc.rpcListen {
			t.Errorf("%s: node %+v listen %s rpc %s", tc.host, m.Nodes[0], cfg.P2P.Listen, cfg.RPC.Listen)
		}
		// Metrics follow the host; the profiler is never turned on (the
		// metrics listener does not serve it: node's TestProfilerOnlyOnDebugListen).
		if cfg.Debug.Listen != "" {
			t.Errorf("%s: testnet turned the profiler on at %s", tc.host, cfg.Debug.Listen)
		}
	}
}

func TestTestnetArgs(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "n")
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"missing validators", []string{"--out", out}, "bafomet testnet: missing --validators\n"},
		{"missing out", []string{"--validators", "1"}, "bafomet testnet: missing --out\n"},
		{"zero validators", []string{"--validators", "0", "--out", out}, "bafomet testnet: --validators 0: want 1 to 256\n"},
		{"too many validators", []string{"--validators", "257", "--out", out}, "bafomet testnet: --validators 257: want 1 to 256\n"},
		{"negative accounts", []string{"--validators", "1", "--out", out, "--accounts", "-1"}, "bafomet testnet: --accounts -1: want 0 to 10000\n"},
		{"too many accounts", []string{"--validators", "1", "--out", out, "--accounts", "10001"}, "bafomet testnet: --accounts 10001: want 0 to 10000\n"},
		{"unknown app", []string{"--validators", "1", "--out", out, "--app", "evm"}, "bafomet testnet: --app: unknown app \"evm\" (known: bank, kv)\n"},
		{"ports past 65535", []string{"--validators", "2", "--out", out, "--base-port", "65524"},
			"bafomet testnet: --base-port 65524: ports 65524 to 65536 must lie in 1 to 65535\n"},
		{"empty host", []string{"--validators", "1", "--out", out, "--host", ""}, "bafomet testnet: --host must not be empty\n"},
		{"not a host", []string{"--validators", "1", "--out", out, "--host", "not a host!"}, "bafomet testnet: --host \"not a host!\": want an IP address or a DNS name\n"},
		{"host with a port", []string{"--validators", "1", "--out", out, "--host", "127.0.0.1:80"}, "bafomet testnet: --host \"127.0.0.1:80\": want an IP address or a DNS name\n"},
		{"not a number", []string{"--validators", "four", "--out", out}, "bafomet testnet: invalid value \"four\" for flag -validators: parse error\n"},
	}
	for _, tc := range tests {
		code, stdout, errOut := runCmd(t, append([]string{"testnet"}, tc.args...)...)
		if code != exitUsage || stdout != "" || !strings.HasPrefix(errOut, tc.wantErr) {
			t.Errorf("%s: code %d stdout %q stderr %q", tc.name, code, stdout, errOut)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("bad arguments created %s", out)
	}
	// The last port exactly at 65535 is accepted.
	code, _, errOut := runCmd(t, "testnet", "--validators", "2", "--out", out, "--base-port", "65523", "--accounts", "0")
	if code != exitOK {
		t.Fatalf("ports up to 65535: code %d stderr %q", code, errOut)
	}
	// A host that makes no valid address fails before anything is written.
	out2 := filepath.Join(dir, "badhost")
	code, _, errOut = runCmd(t, "testnet", "--validators", "1", "--out", out2, "--host", "a/b")
	if code != exitFail || !strings.HasPrefix(errOut, "bafomet testnet: --host \"a/b\": want an IP address or a DNS name") {
		t.Fatalf("bad host: code %d stderr %q", code, errOut)
	}
	if entries, _ := os.ReadDir(out2); len(entries) != 0 {
		t.Fatalf("failed testnet left %v", entries)
	}
	// A chain id the genesis refuses fails after the directory was made:
	// it is removed again.
	out3 := filepath.Join(dir, "badchain")
	code, _, errOut = runCmd(t, "testnet", "--validators", "1", "--out", out3, "--chain-id", "bad id")
	if code != exitFail || !strings.Contains(errOut, "chain_id") {
		t.Fatalf("bad chain id: code %d stderr %q", code, errOut)
	}
	if _, err := os.Stat(out3); !os.IsNotExist(err) {
		t.Fatalf("failed testnet left %s (%v)", out3, err)
	}
}
