package cli

import (
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/genesis"
)

// keyFileMode is the mode of every key file bafomet writes.
const keyFileMode os.FileMode = 0o600

// maxKeyAttempts bounds the draws genKey makes; a 32-byte draw is outside
// the secp256k1 scalar range with probability about 2^-128.
const maxKeyAttempts = 16

func init() {
	registerSub("keys", "generate and inspect secp256k1 key files", &command{
		name: "new", summary: "generate a key file (mode 0600)", run: runKeysNew,
	})
	registerSub("keys", "generate and inspect secp256k1 key files", &command{
		name: "show", summary: "print a key file's address, public key and peer ID", run: runKeysShow,
	})
}

// genKey draws a secp256k1 private key from r.
func genKey(r io.Reader) (*ecdsa.PrivateKey, error) {
	buf := make([]byte, 32)
	for i := 0; i < maxKeyAttempts; i++ {
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("generate key: %w", err)
		}
		if k, err := crypto.ToECDSA(buf); err == nil {
			return k, nil
		}
	}
	return nil, errors.New("generate key: no valid scalar drawn")
}

// writeKeyFile writes key as go-ethereum's crypto.SaveECDSA does (64 hex
// digits, no newline) with mode 0600, refusing to replace an existing file.
func writeKeyFile(path string, key *ecdsa.PrivateKey) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, keyFileMode)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("refusing to overwrite existing key file %s", path)
		}
		return fmt.Errorf("write key: %w", err)
	}
	_, werr := f.WriteString(hex.EncodeToString(crypto.FromECDSA(key)))
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(path)
		return fmt.Errorf("write key %s: %w", path, err)
	}
	return nil
}

// loadKeyFile reads a key file as go-ethereum's crypto.LoadECDSA does.
func loadKeyFile(path string) (*ecdsa.PrivateKey, error) {
	key, err := crypto.LoadECDSA(path)
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", path, err)
	}
	return key, nil
}

// keyInfo is what a key identifies: its account address, compressed public
// key and libp2p peer ID.
type keyInfo struct {
	Address string `json:"address"`
	PubKey  string `json:"pub_key"`
	PeerID  string `json:"peer_id"`
}

func describeKey(key *ecdsa.PrivateKey) (keyInfo, error) {
	pub := crypto.CompressPubkey(&key.PublicKey)
	id, err := genesis.PeerID(pub)
	if err != nil {
		return keyInfo{}, err
	}
	return keyInfo{
		Address: crypto.PubkeyToAddress(key.PublicKey).Hex(),
		PubKey:  "0x" + hex.EncodeToString(pub),
		PeerID:  id.String(),
	}, nil
}

func printKeyInfo(w io.Writer, info keyInfo, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	_, err := fmt.Fprintf(w, "address: %s\npub_key: %s\npeer_id: %s\n", info.Address, info.PubKey, info.PeerID)
	return err
}

func runKeysNew(args []string, stdout, stderr io.Writer) int {
	f := newFlags("keys new", "--out FILE [--json]",
		"Generate a secp256k1 key, a validator or account key, and write it to FILE (mode 0600) in\n"+
			"go-ethereum's key file format. An existing FILE is never overwritten.")
	out := f.String("out", "", "key file to create")
	asJSON := f.Bool("json", false, "print the key's identity as JSON")
	f.require("out")
	if _, code, ok := f.parse(args, 0, stdout, stderr); !ok {
		return code
	}
	key, err := genKey(rand.Reader)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	info, err := describeKey(key)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	if err := writeKeyFile(*out, key); err != nil {
		return fail(stderr, f.name, err)
	}
	if err := printKeyInfo(stdout, info, *asJSON); err != nil {
		return fail(stderr, f.name, err)
	}
	return exitOK
}

func runKeysShow(args []string, stdout, stderr io.Writer) int {
	f := newFlags("keys show", "FILE [--json]",
		"Print the account address, compressed public key and libp2p peer ID of the key in FILE.")
	asJSON := f.Bool("json", false, "print as JSON")
	pos, code, ok := f.parse(args, 1, stdout, stderr)
	if !ok {
		return code
	}
	key, err := loadKeyFile(pos[0])
	if err != nil {
		return fail(stderr, f.name, err)
	}
	if fi, err := os.Stat(pos[0]); err == nil && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(stderr, "bafomet keys show: warning: %s has mode %04o; run chmod 600 %s\n", pos[0], fi.Mode().Perm(), pos[0])
	}
	info, err := describeKey(key)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	if err := printKeyInfo(stdout, info, *asJSON); err != nil {
		return fail(stderr, f.name, err)
	}
	return exitOK
}
