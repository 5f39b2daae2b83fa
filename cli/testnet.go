package cli

import (
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/apps"
	"github.com/bafomet/bafomet/chain/apps/bank"
	"github.com/bafomet/bafomet/genesis"
	"github.com/bafomet/bafomet/node"
)

// Testnet defaults and limits.
const (
	defaultTestnetChainID  = "bafomet-testnet"
	defaultTestnetHost     = "127.0.0.1"
	defaultTestnetApp      = "kv"
	defaultTestnetAccounts = 4
	defaultTestnetBalance  = 1_000_000_000
	maxTestnetAccounts     = 10_000
	testnetPortStride      = 10 // node i uses base+10i (p2p), +1 (rpc), +2 (metrics)
	maxPort                = 65535
	testnetManifestFile    = "testnet.json"
	testnetAccountsDir     = "accounts"
)

func init() {
	register(&command{name: "testnet", summary: "generate node homes and a shared genesis for a local network", runApps: runTestnet})
}

// testnetOptions says what generateTestnet creates.
type testnetOptions struct {
	Out        string
	Validators int
	Host       string
	BasePort   int
	App        string
	Accounts   int
	Balance    uint64 // bank balance of each account
	ChainID    string
	Now        time.Time  // genesis_time (truncated to the millisecond)
	Rand       io.Reader  // key material
	Apps       chain.Apps // the registry App must be in; nil: apps.Builtin()
	Explorer   bool       // rpc.explorer in every node's config (devnet)
}

// registry returns the application registry of the options.
func (o *testnetOptions) registry() chain.Apps {
	if o.Apps == nil {
		return apps.Builtin()
	}
	return o.Apps
}

// appFlagHelp describes --app for the applications of reg.
func appFlagHelp(reg chain.Apps) string {
	names := reg.Names()
	if slices.Equal(names, []string{"bank", "kv"}) {
		return "application: kv or bank"
	}
	return "application: one of " + strings.Join(names, ", ")
}

// testnetManifest is DIR/testnet.json, which tools rely on.
type testnetManifest struct {
	ChainID  string           `json:"chain_id"`
	Nodes    []testnetNode    `json:"nodes"`
	Accounts []testnetAccount `json:"accounts"`
}

type testnetNode struct {
	Name    string `json:"name"`
	Home    string `json:"home"`    // absolute
	Address string `json:"address"` // the validator's account address
	PeerID  string `json:"peer_id"`
	P2P     string `json:"p2p"` // multiaddr
	RPC     string `json:"rpc"` // http://HOST:PORT
}

type testnetAccount struct {
	Address string `json:"address"`
	KeyFile string `json:"key_file"` // absolute
}

func (o *testnetOptions) check() error {
	switch {
	case o.Validators < 1 || o.Validators > genesis.MaxValidators:
		return fmt.Errorf("--validators %d: want 1 to %d", o.Validators, genesis.MaxValidators)
	case o.Accounts < 0 || o.Accounts > maxTestnetAccounts:
		return fmt.Errorf("--accounts %d: want 0 to %d", o.Accounts, maxTestnetAccounts)
	case o.Host == "":
		return errors.New("--host must not be empty")
	case net.ParseIP(o.Host) == nil && !genesis.ValidHostName(o.Host):
		return fmt.Errorf("--host %q: want an IP address or a DNS name", o.Host)
	case o.BasePort < 1 || o.BasePort+testnetPortStride*(o.Validators-1)+2 > maxPort:
		return fmt.Errorf("--base-port %d: ports %d to %d must lie in 1 to %d", o.BasePort,
			o.BasePort, o.BasePort+testnetPortStride*(o.Validators-1)+2, maxPort)
	}
	if _, err := o.registry().New(o.App); err != nil {
		return fmt.Errorf("--app: %w", err)
	}
	return nil
}

// hostMultiaddr is the libp2p multiaddr of host:port.
func hostMultiaddr(host string, port int) string {
	proto := "dns"
	if ip := net.ParseIP(host); ip != nil {
		proto = "ip6"
		if ip.To4() != nil {
			proto = "ip4"
		}
	}
	return fmt.Sprintf("/%s/%s/tcp/%d", proto, host, port)
}

// listenAddrs are the addresses node i listens on: the testnet host when
// it is an IP address, all interfaces when it is a name.
func listenAddrs(host string, p2pPort int) (p2p, bind string) {
	if net.ParseIP(host) != nil {
		return hostMultiaddr(host, p2pPort), host
	}
	return hostMultiaddr("0.0.0.0", p2pPort), "0.0.0.0"
}

// generateTestnet creates o.Out with one node home per validator, sharing
// one genesis, account keys under accounts/, and testnet.json. It refuses
// to touch a directory that already holds a testnet or a node home.
func generateTestnet(o testnetOptions) (m *testnetManifest, err error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	out, err := filepath.Abs(o.Out)
	if err != nil {
		return nil, fmt.Errorf("--out %s: %w", o.Out, err)
	}
	paths, err := checkTestnetDirFree(out, o.Validators)
	if err != nil {
		return nil, err
	}
	_, statErr := os.Stat(out)
	createdOut := errors.Is(statErr, fs.ErrNotExist)
	defer func() {
		if err != nil { // leave nothing half-written
			for _, p := range paths {
				os.RemoveAll(p)
			}
			if createdOut {
				os.Remove(out) // empty now; a directory that was there stays
			}
		}
	}()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", out, err)
	}
	valKeys, err := genKeys(o.Rand, o.Validators)
	if err != nil {
		return nil, err
	}
	accKeys, err := genKeys(o.Rand, o.Accounts)
	if err != nil {
		return nil, err
	}
	g, err := testnetGenesis(o, valKeys, accKeys)
	if err != nil {
		return nil, err
	}
	m = &testnetManifest{ChainID: g.ChainID, Nodes: []testnetNode{}, Accounts: []testnetAccount{}}
	for i, key := range valKeys {
		n, err := writeTestnetNode(out, o, i, key, g)
		if err != nil {
			return nil, err
		}
		m.Nodes = append(m.Nodes, n)
	}
	for i, key := range accKeys {
		a, err := writeTestnetAccount(out, i, key)
		if err != nil {
			return nil, err
		}
		m.Accounts = append(m.Accounts, a)
	}
	if err := writeJSONFile(filepath.Join(out, testnetManifestFile), m); err != nil {
		return nil, err
	}
	return m, nil
}

// checkTestnetDirFree returns the paths a testnet in out will create, or
// an error if any of them exists.
func checkTestnetDirFree(out string, validators int) ([]string, error) {
	paths := []string{filepath.Join(out, testnetManifestFile), filepath.Join(out, testnetAccountsDir)}
	for i := 0; i < validators; i++ {
		paths = append(paths, filepath.Join(out, nodeName(i)))
	}
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("refusing to overwrite %s; choose an empty --out directory", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("check %s: %w", p, err)
		}
	}
	return paths, nil
}

func nodeName(i int) string { return "node" + strconv.Itoa(i) }

func genKeys(r io.Reader, n int) ([]*ecdsa.PrivateKey, error) {
	keys := make([]*ecdsa.PrivateKey, n)
	for i := range keys {
		k, err := genKey(r)
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	return keys, nil
}

func testnetGenesis(o testnetOptions, valKeys, accKeys []*ecdsa.PrivateKey) (*genesis.Genesis, error) {
	g := &genesis.Genesis{
		ChainID:     o.ChainID,
		GenesisTime: o.Now.UTC().Truncate(time.Millisecond),
		Consensus:   genesis.DefaultConsensus(),
		App:         o.App,
	}
	for i, k := range valKeys {
		g.Validators = append(g.Validators, genesis.Validator{
			Name:    nodeName(i),
			PubKey:  "0x" + hex.EncodeToString(crypto.CompressPubkey(&k.PublicKey)),
			Address: hostMultiaddr(o.Host, o.BasePort+testnetPortStride*i),
		})
	}
	if o.App == bank.Name && len(accKeys) > 0 {
		st := bank.AppState{}
		for _, k := range accKeys {
			st.Accounts = append(st.Accounts, bank.Account{
				Address: crypto.PubkeyToAddress(k.PublicKey).Hex(),
				Balance: strconv.FormatUint(o.Balance, 10),
			})
		}
		raw, err := json.Marshal(st)
		if err != nil {
			return nil, fmt.Errorf("encode bank app_state: %w", err)
		}
		g.AppState = raw
	}
	if err := g.Validate(o.registry()); err != nil {
		return nil, err
	}
	return g, nil
}

func writeTestnetNode(out string, o testnetOptions, i int, key *ecdsa.PrivateKey, g *genesis.Genesis) (testnetNode, error) {
	home := filepath.Join(out, nodeName(i))
	for _, dir := range []string{filepath.Join(home, "config"), filepath.Join(home, node.DefaultDataDir), filepath.Join(home, node.DefaultWALDir)} {
		if err := os.MkdirAll(dir, homeDirMode); err != nil {
			return testnetNode{}, fmt.Errorf("create %s: %w", dir, err)
		}
	}
	if err := writeKeyFile(filepath.Join(home, node.DefaultKeyFile), key); err != nil {
		return testnetNode{}, err
	}
	gen, err := g.Marshal()
	if err != nil {
		return testnetNode{}, err
	}
	if err := os.WriteFile(filepath.Join(home, node.DefaultGenesisFile), gen, 0o644); err != nil {
		return testnetNode{}, fmt.Errorf("write genesis: %w", err)
	}
	p2pPort := o.BasePort + testnetPortStride*i
	listen, bind := listenAddrs(o.Host, p2pPort)
	cfg := node.DefaultConfig()
	cfg.Node.Name = nodeName(i)
	cfg.P2P.Listen = listen
	cfg.RPC.Listen = net.JoinHostPort(bind, strconv.Itoa(p2pPort+1))
	cfg.Metrics.Listen = net.JoinHostPort(bind, strconv.Itoa(p2pPort+2))
	cfg.RPC.Explorer = o.Explorer
	if err := cfg.Validate(); err != nil {
		return testnetNode{}, err
	}
	if err := cfg.CheckGenesis(g); err != nil {
		return testnetNode{}, err
	}
	if err := cfg.WriteConfig(filepath.Join(home, node.ConfigFile)); err != nil {
		return testnetNode{}, err
	}
	info, err := describeKey(key)
	if err != nil {
		return testnetNode{}, err
	}
	return testnetNode{
		Name: nodeName(i), Home: home, Address: info.Address, PeerID: info.PeerID,
		P2P: g.Validators[i].Address,
		RPC: "http://" + net.JoinHostPort(o.Host, strconv.Itoa(p2pPort+1)),
	}, nil
}

func writeTestnetAccount(out string, i int, key *ecdsa.PrivateKey) (testnetAccount, error) {
	dir := filepath.Join(out, testnetAccountsDir)
	if err := os.MkdirAll(dir, homeDirMode); err != nil {
		return testnetAccount{}, fmt.Errorf("create %s: %w", dir, err)
	}
	path := filepath.Join(dir, "account"+strconv.Itoa(i)+".key")
	if err := writeKeyFile(path, key); err != nil {
		return testnetAccount{}, err
	}
	return testnetAccount{Address: crypto.PubkeyToAddress(key.PublicKey).Hex(), KeyFile: path}, nil
}

func writeJSONFile(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func runTestnet(reg chain.Apps, args []string, stdout, stderr io.Writer) int {
	f := newFlags("testnet", "--validators N --out DIR [--host 127.0.0.1] [--base-port P] [--app kv|bank] [--accounts K]",
		"Generate a local network in DIR: node homes node0 … node(N-1) sharing one genesis.json,\n"+
			"each with its own key and ports (node i: p2p P+10i, JSON-RPC P+10i+1, metrics P+10i+2),\n"+
			"K account keys under DIR/accounts (funded in genesis with --app bank), and DIR/testnet.json.")
	o := testnetOptions{Rand: rand.Reader, Now: time.Now(), Apps: reg}
	f.IntVar(&o.Validators, "validators", 0, "number of validators")
	f.StringVar(&o.Out, "out", "", "output directory")
	f.StringVar(&o.Host, "host", defaultTestnetHost, "host (IP address or DNS name) in addresses and RPC URLs")
	f.IntVar(&o.BasePort, "base-port", node.DefaultBasePort, "first port")
	f.StringVar(&o.App, "app", defaultTestnetApp, appFlagHelp(reg))
	f.IntVar(&o.Accounts, "accounts", defaultTestnetAccounts, "number of account keys")
	f.Uint64Var(&o.Balance, "balance", defaultTestnetBalance, "genesis balance of each account (bank)")
	f.StringVar(&o.ChainID, "chain-id", defaultTestnetChainID, "chain id")
	var compose composeOptions
	registerComposeFlags(f, &compose)
	f.require("validators", "out")
	if _, code, ok := f.parse(args, 0, stdout, stderr); !ok {
		return code
	}
	if err := o.check(); err != nil {
		return f.usageError(stderr, err.Error())
	}
	generate := generateTestnet
	if compose.Enabled {
		if err := compose.checkCompose(o); err != nil {
			return f.usageError(stderr, err.Error())
		}
		compose.defaultComposeOwner()
		generate = func(o testnetOptions) (*testnetManifest, error) { return generateComposeTestnet(o, compose) }
	}
	m, err := generate(o)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	fmt.Fprintf(stdout, "testnet %s: %d validators, %d accounts, app %s\n", m.ChainID, len(m.Nodes), len(m.Accounts), o.App)
	for _, n := range m.Nodes {
		fmt.Fprintf(stdout, "  %-6s rpc %s  p2p %s  home %s\n", n.Name, n.RPC, n.P2P, n.Home)
	}
	out, _ := filepath.Abs(o.Out)
	fmt.Fprintf(stdout, "wrote %s\n", filepath.Join(out, testnetManifestFile))
	if compose.Enabled {
		printComposeHint(stdout, out)
	}
	return exitOK
}
