package cli

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/internal/testca"
	"github.com/bafomet/bafomet/ordering"
	"github.com/bafomet/bafomet/rpc"
)

// clientBackend is a minimal rpc.Backend: SendTx commits each transaction
// in its own block at once.
type clientBackend struct {
	mu     sync.Mutex
	blocks []*rpc.StoredBlock
	txs    map[chain.Hash]*rpc.TxInfo
	nonces map[chain.Address]uint64
	notify chan struct{}
}

func newClientBackend() *clientBackend {
	return &clientBackend{txs: map[chain.Hash]*rpc.TxInfo{}, nonces: map[chain.Address]uint64{}, notify: make(chan struct{}, 1)}
}

func (b *clientBackend) commit(txs ...*chain.Tx) {
	b.mu.Lock()
	h := uint64(len(b.blocks)) + 1
	blk := &chain.Block{Header: chain.Header{Height: h, Timestamp: 1000 + h}}
	for i, tx := range txs {
		sender, _ := tx.Sender()
		blk.Txs, blk.Senders = append(blk.Txs, tx.Bytes()), append(blk.Senders, sender)
		b.txs[tx.Hash()] = &rpc.TxInfo{Status: rpc.TxCommitted, Tx: tx, Sender: sender, Height: h, Index: i, Receipt: &chain.Receipt{}}
		b.nonces[sender] = tx.Nonce + 1
	}
	blk.Header.TxRoot = chain.TxRoot(blk.Txs, blk.Senders)
	b.blocks = append(b.blocks, &rpc.StoredBlock{Block: blk, Certificate: &chain.Certificate{Height: h, BlockHash: blk.Hash()}})
	b.mu.Unlock()
	select {
	case b.notify <- struct{}{}:
	default:
	}
}

func (b *clientBackend) ChainID() string         { return "cli-test" }
func (b *clientBackend) GenesisHash() chain.Hash { return chain.Hash{1} }
func (b *clientBackend) Height() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return uint64(len(b.blocks))
}
func (b *clientBackend) BlockByHeight(h uint64) (*rpc.StoredBlock, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if h == 0 || h > uint64(len(b.blocks)) {
		return nil, nil
	}
	return b.blocks[h-1], nil
}
func (b *clientBackend) BlockByHash(chain.Hash) (*rpc.StoredBlock, error) { return nil, nil }
func (b *clientBackend) Receipts(uint64) ([]chain.Receipt, error)         { return nil, nil }
func (b *clientBackend) BlockNotify() <-chan struct{}                     { return b.notify }
func (b *clientBackend) Transaction(h chain.Hash) (*rpc.TxInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.txs[h], nil
}
func (b *clientBackend) SendTx(tx *chain.Tx) error {
	if tx.ChainID != b.ChainID() {
		return rpc.ErrWrongChainID
	}
	b.commit(tx)
	return nil
}
func (b *clientBackend) Nonce(a chain.Address, _ bool) (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nonces[a], nil
}
func (b *clientBackend) NodeStatus() rpc.NodeStatus        { return rpc.NodeStatus{PeerID: "p"} }
func (b *clientBackend) Validators() []rpc.ValidatorInfo   { return nil }
func (b *clientBackend) Evidence() []ordering.Evidence     { return nil }
func (b *clientBackend) Applications() []chain.Application { return nil }
func (b *clientBackend) ReadAppState(string, func(chain.StateReader) error) error {
	return rpc.ErrAppNotServed
}
func (b *clientBackend) MempoolStatus() rpc.MempoolStatus { return rpc.MempoolStatus{} }

func startClientServer(t *testing.T) (*clientBackend, string) {
	t.Helper()
	b := newClientBackend()
	s, err := rpc.New(rpc.Config{ListenAddr: "127.0.0.1:0"}, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return b, "http://" + s.Addr().String()
}

func TestTxSendWaitBlockGetStatusSubscribe(t *testing.T) {
	b, url := startClientServer(t)
	key, err := crypto.ToECDSA(crypto.Keccak256([]byte("cli key")))
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := crypto.SaveECDSA(keyFile, key); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	for i, want := range []string{`"status":"committed","height":1`, `"status":"committed","height":2`} {
		out.Reset()
		args := []string{"tx", "send", "--rpc", url, "--key", keyFile, "--payload", "a=1", "--wait"}
		if code := run(args, &out, &errb); code != exitOK {
			t.Fatalf("tx send %d: exit %d: %s", i, code, errb.String())
		}
		if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), `"nonce":`+string(rune('0'+i))) {
			t.Fatalf("tx send %d printed %s, want %s and nonce %d", i, out.String(), want, i)
		}
	}
	out.Reset()
	if code := run([]string{"tx", "send", "--rpc", url, "--key", keyFile, "--payload", "a=1", "--chain-id", "other", "--nonce", "9"}, &out, &errb); code != exitFail ||
		!strings.Contains(errb.String(), "wrong chain id") {
		t.Fatalf("wrong chain: exit %d, stderr %s", code, errb.String())
	}
	out.Reset()
	if code := run([]string{"block", "get", "--rpc", url, "2"}, &out, &errb); code != exitOK {
		t.Fatalf("block get: %d %s", code, errb.String())
	}
	var blk rpc.Block
	if err := json.Unmarshal(out.Bytes(), &blk); err != nil || blk.Height != 2 || len(blk.Transactions.Hashes) != 1 {
		t.Fatalf("block get printed %s (%v)", out.String(), err)
	}
	if code := run([]string{"block", "get", "--rpc", url, "7"}, &out, &errb); code != exitFail {
		t.Fatalf("absent block: exit %d", code)
	}
	out.Reset()
	if code := run([]string{"status", "--rpc", url}, &out, &errb); code != exitOK || !strings.Contains(out.String(), `"chainId":"cli-test"`) ||
		!strings.Contains(out.String(), `"height":2`) {
		t.Fatalf("status: %d %s", code, out.String())
	}
	out.Reset()
	b.commit()
	if code := run([]string{"subscribe", "--rpc", url, "--from", "1", "--count", "3"}, &out, &errb); code != exitOK {
		t.Fatalf("subscribe: %d %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("subscribe printed %d lines: %s", len(lines), out.String())
	}
	for i, l := range lines {
		var b rpc.Block
		if err := json.Unmarshal([]byte(l), &b); err != nil || b.Height != uint64(i+1) {
			t.Fatalf("line %d = %s (%v)", i, l, err)
		}
	}
}

// startSecureServer serves b over HTTPS and WSS with a test CA and
// rpc.auth = "token+jwt", its token file and JWT secret made with `bafomet
// auth`. It returns the URL, the CA file, and the token files of a
// read+submit token and a submit-only token, and the JWT secret file.
func startSecureServer(t *testing.T, b rpc.Backend) (url, caFile, readSubmit, submitOnly, jwtSecret string) {
	t.Helper()
	dir := t.TempDir()
	ca := testca.New(t)
	cert, key := ca.Issue(t, dir, 2)
	caFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	var entries strings.Builder
	for _, tk := range []struct {
		name, perms string
		file        *string
	}{{"app", "read,submit", &readSubmit}, {"feeder", "submit", &submitOnly}} {
		*tk.file = filepath.Join(dir, tk.name+".token")
		var out, errb bytes.Buffer
		if code := run([]string{"auth", "new-token", "--name", tk.name, "--permissions", tk.perms, "--out", *tk.file}, &out, &errb); code != exitOK {
			t.Fatalf("auth new-token: %d %s", code, errb.String())
		}
		entries.Write(out.Bytes())
	}
	tokenFile := filepath.Join(dir, "rpc-tokens.toml")
	if err := os.WriteFile(tokenFile, []byte(entries.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	jwtSecret = filepath.Join(dir, "jwt.hex")
	var out, errb bytes.Buffer
	if code := run([]string{"auth", "new-jwt-secret", "--out", jwtSecret}, &out, &errb); code != exitOK {
		t.Fatalf("auth new-jwt-secret: %d %s", code, errb.String())
	}
	s, err := rpc.New(rpc.Config{ListenAddr: "127.0.0.1:0", TLSCertFile: cert, TLSKeyFile: key,
		Auth: rpc.AuthTokenOrJWT, TokenFile: tokenFile, JWTSecretFile: jwtSecret}, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return "https://" + s.Addr().String(), caFile, readSubmit, submitOnly, jwtSecret
}

// The client commands reach a node over HTTPS and WSS with a private CA
// (--ca) and either credential (--token-file, --jwt-secret); a token's
// permissions apply; a missing CA or credential fails with the reason.
func TestClientCommandsWithTLSAndAuth(t *testing.T) {
	b := newClientBackend()
	url, caFile, readSubmit, submitOnly, jwtSecret := startSecureServer(t, b)
	key, err := crypto.ToECDSA(crypto.Keccak256([]byte("cli key")))
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := crypto.SaveECDSA(keyFile, key); err != nil {
		t.Fatal(err)
	}
	sec := []string{"--rpc", url, "--ca", caFile}
	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		stdout  string
		stderr  string
		outputs int // lines, for subscribe
	}{
		{"status with a token", append([]string{"status", "--token-file", readSubmit}, sec...), exitOK, `"chainId":"cli-test"`, "", 0},
		{"status with a JWT", append([]string{"status", "--jwt-secret", jwtSecret}, sec...), exitOK, `"chainId":"cli-test"`, "", 0},
		{"tx send --wait", append([]string{"tx", "send", "--token-file", readSubmit, "--key", keyFile, "--payload", "a=1", "--wait"}, sec...),
			exitOK, `"status":"committed","height":1`, "", 0},
		{"submit-only token, nonce and chain given", append([]string{"tx", "send", "--token-file", submitOnly, "--key", keyFile,
			"--payload", "a=2", "--chain-id", "cli-test", "--nonce", "1"}, sec...), exitOK, "0x", "", 0},
		{"submit-only token asking the node", append([]string{"tx", "send", "--token-file", submitOnly, "--key", keyFile, "--payload", "a=3"}, sec...),
			exitFail, "", `chain_status: forbidden: chain_status needs the read permission; token "feeder" has submit`, 0},
		{"block get with a JWT", append([]string{"block", "get", "--jwt-secret", jwtSecret, "1"}, sec...), exitOK, `"height":1`, "", 0},
		{"subscribe over wss", append([]string{"subscribe", "--token-file", readSubmit, "--from", "1", "--count", "2"}, sec...), exitOK, `"height":2`, "", 2},
		{"no credential", append([]string{"status"}, sec...), exitFail, "", `chain_status: unauthenticated: no "Authorization: Bearer ..." header (rpc.auth = "token+jwt") (code -32030)`, 0},
		{"no CA", []string{"status", "--rpc", url, "--token-file", readSubmit}, exitFail, "", "certificate signed by unknown authority", 0},
		{"CA for plain http", []string{"status", "--rpc", "http://127.0.0.1:1", "--ca", caFile}, exitFail, "",
			"--ca applies to https:// and wss:// URLs, not http://", 0},
		{"CA file without a certificate", []string{"status", "--rpc", url, "--ca", keyFile}, exitFail, "", "holds no PEM certificate", 0},
		{"both credentials", append([]string{"status", "--token-file", readSubmit, "--jwt-secret", jwtSecret}, sec...), exitFail, "",
			"give --token-file or --jwt-secret, not both", 0},
		{"bad JWT secret", append([]string{"status", "--jwt-secret", caFile}, sec...), exitFail, "", "--jwt-secret: " + caFile, 0},
		{"missing token file", append([]string{"status", "--token-file", caFile + ".none"}, sec...), exitFail, "", "--token-file: open", 0},
	} {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		if code != tc.code || !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errb.String(), tc.stderr) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", tc.name, code, out.String(), errb.String())
		}
		if tc.outputs > 0 && len(strings.Split(strings.TrimSpace(out.String()), "\n")) != tc.outputs {
			t.Errorf("%s: printed %q", tc.name, out.String())
		}
	}
}

// `bafomet auth new-token` and `new-jwt-secret` write secret files of mode
// 0600, never over an existing file, and write nothing on bad input.
func TestAuthCommands(t *testing.T) {
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "app.token")
	var out, errb bytes.Buffer
	if code := run([]string{"auth", "new-token", "--name", "app", "--permissions", "read,admin", "--out", tokFile}, &out, &errb); code != exitOK {
		t.Fatalf("new-token: %d %s", code, errb.String())
	}
	tok, err := os.ReadFile(tokFile)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := rpc.ParseTokenFile(out.Bytes())
	if err != nil || len(tokens) != 1 || tokens[0].Name != "app" || tokens[0].Permissions != rpc.PermRead|rpc.PermAdmin ||
		hex.EncodeToString(tokens[0].Hash[:]) != rpc.TokenHash(strings.TrimSpace(string(tok))) {
		t.Fatalf("entry %q for token %q: %+v %v", out.String(), tok, tokens, err)
	}
	if st, _ := os.Stat(tokFile); st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v", st.Mode().Perm())
	}
	secretFile := filepath.Join(dir, "jwt.hex")
	if code := run([]string{"auth", "new-jwt-secret", "--out", secretFile}, &out, &errb); code != exitOK {
		t.Fatalf("new-jwt-secret: %d %s", code, errb.String())
	}
	if s, err := rpc.LoadJWTSecret(secretFile); err != nil || len(s) != rpc.JWTSecretBytes {
		t.Fatalf("secret: %x %v", s, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"auth", "new-token", "--name", "app", "--permissions", "read", "--out", tokFile}, "refusing to overwrite existing file"},
		{[]string{"auth", "new-jwt-secret", "--out", secretFile}, "refusing to overwrite existing file"},
		{[]string{"auth", "new-token", "--name", "a b", "--permissions", "read", "--out", filepath.Join(dir, "x")}, "--name: name: ' ' is not one of"},
		{[]string{"auth", "new-token", "--name", "a", "--permissions", "read,root", "--out", filepath.Join(dir, "x")}, `unknown permission "root"`},
		{[]string{"auth", "new-token", "--name", "a", "--out", filepath.Join(dir, "x")}, "missing --permissions"},
	} {
		errb.Reset()
		if code := run(tc.args, &out, &errb); code != exitFail || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %s", tc.args, code, errb.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); !os.IsNotExist(err) {
		t.Fatalf("bad input wrote a token file: %v", err)
	}
}
