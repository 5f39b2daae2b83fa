package rpc

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"
)

// The API token file (rpc.token_file), TOML, one [[token]] table per
// token (docs/rpc.md, "The token file"):
//
//	[[token]]
//	name = "indexer"           # required: 1-64 of A-Z a-z 0-9 . _ -, unique
//	sha256 = "9f86d0...0a08"   # required: SHA-256 of the token, 64 lowercase hex digits, unique
//	permissions = ["read"]     # required: one or more of read, submit, admin
//	requests_per_sec = 50.0    # optional: override rpc.token_requests_per_sec for this token
//	requests_burst = 100       # optional: override rpc.token_requests_burst
//	txs_per_sec = 0.0          # optional: override rpc.token_txs_per_sec
//	txs_burst = 0              # optional: override rpc.token_txs_burst
//	max_subscriptions = 8      # optional: override rpc.token_max_subscriptions
//
// The file holds only hashes: it tells whoever reads it no token. Keys
// other than these, and any other table, are errors.

// Bounds of the token file.
const (
	MaxTokenFileBytes = 4 << 20
	MaxTokens         = 10_000
	maxTokenNameLen   = 64
	// tokenRandomBytes is the entropy of a token NewToken makes.
	tokenRandomBytes = 32
	// TokenPrefix begins every token NewToken makes, so that secret
	// scanners and people can tell one apart.
	TokenPrefix = "bft_"
)

// Token is one entry of the token file.
type Token struct {
	Name        string
	Hash        [sha256.Size]byte // SHA-256 of the bearer token's bytes
	Permissions Permission
	// Overrides of the rpc.token_* rate limits; nil keeps the configured one.
	RequestsPerSec, TxsPerSec                 *float64
	RequestsBurst, TxsBurst, MaxSubscriptions *int
}

// limits returns the token's rate limits: def with the token's overrides.
func (t Token) limits(def RateLimit) RateLimit {
	if t.RequestsPerSec != nil {
		def.RequestsPerSec = *t.RequestsPerSec
	}
	if t.RequestsBurst != nil {
		def.RequestsBurst = *t.RequestsBurst
	}
	if t.TxsPerSec != nil {
		def.TxsPerSec = *t.TxsPerSec
	}
	if t.TxsBurst != nil {
		def.TxsBurst = *t.TxsBurst
	}
	if t.MaxSubscriptions != nil {
		def.MaxSubscriptions = *t.MaxSubscriptions
	}
	return def
}

type tokenFileTOML struct {
	Token []tokenTOML `toml:"token"`
}

type tokenTOML struct {
	Name             string   `toml:"name"`
	SHA256           string   `toml:"sha256"`
	Permissions      []string `toml:"permissions"`
	RequestsPerSec   *float64 `toml:"requests_per_sec"`
	RequestsBurst    *int     `toml:"requests_burst"`
	TxsPerSec        *float64 `toml:"txs_per_sec"`
	TxsBurst         *int     `toml:"txs_burst"`
	MaxSubscriptions *int     `toml:"max_subscriptions"`
}

// ParseTokenFile reads a token file's contents. It lists at least one
// token and at most MaxTokens, with unique names and hashes.
func ParseTokenFile(data []byte) ([]Token, error) {
	if len(data) > MaxTokenFileBytes {
		return nil, fmt.Errorf("%d bytes, more than the %d allowed", len(data), MaxTokenFileBytes)
	}
	var f tokenFileTOML
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return nil, err
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("unknown key %s", und[0])
	}
	if len(f.Token) == 0 {
		return nil, errors.New("no [[token]] entries")
	}
	if len(f.Token) > MaxTokens {
		return nil, fmt.Errorf("%d tokens, more than the %d allowed", len(f.Token), MaxTokens)
	}
	out := make([]Token, 0, len(f.Token))
	names := make(map[string]bool, len(f.Token))
	hashes := make(map[[sha256.Size]byte]string, len(f.Token))
	for i, e := range f.Token {
		t, err := e.token()
		if err != nil {
			return nil, fmt.Errorf("token %d (%q): %w", i+1, e.Name, err)
		}
		if names[t.Name] {
			return nil, fmt.Errorf("token %d: name %q used twice", i+1, t.Name)
		}
		if other, dup := hashes[t.Hash]; dup {
			return nil, fmt.Errorf("token %d (%q): sha256 is also the hash of token %q", i+1, t.Name, other)
		}
		names[t.Name], hashes[t.Hash] = true, t.Name
		out = append(out, t)
	}
	return out, nil
}

// LoadTokenFile reads and parses a token file.
func LoadTokenFile(path string) ([]Token, error) {
	data, err := readSmallFile(path, MaxTokenFileBytes)
	if err != nil {
		return nil, err
	}
	tokens, err := ParseTokenFile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return tokens, nil
}

func (e tokenTOML) token() (Token, error) {
	t := Token{
		Name: e.Name, RequestsPerSec: e.RequestsPerSec, RequestsBurst: e.RequestsBurst,
		TxsPerSec: e.TxsPerSec, TxsBurst: e.TxsBurst, MaxSubscriptions: e.MaxSubscriptions,
	}
	if err := checkTokenName(e.Name); err != nil {
		return t, err
	}
	if len(e.SHA256) != 2*sha256.Size || strings.ToLower(e.SHA256) != e.SHA256 {
		return t, fmt.Errorf("sha256: want %d lowercase hex digits, got %d characters", 2*sha256.Size, len(e.SHA256))
	}
	if _, err := hex.Decode(t.Hash[:], []byte(e.SHA256)); err != nil {
		return t, fmt.Errorf("sha256: %w", err)
	}
	if e.Permissions == nil {
		return t, errors.New("permissions: missing")
	}
	p, err := ParsePermissions(e.Permissions)
	if err != nil {
		return t, fmt.Errorf("permissions: %w", err)
	}
	t.Permissions = p
	if err := t.limits(RateLimit{}).validate(""); err != nil {
		return t, err
	}
	return t, nil
}

func checkTokenName(name string) error {
	if name == "" {
		return errors.New("name: missing")
	}
	if len(name) > maxTokenNameLen {
		return fmt.Errorf("name: longer than %d bytes", maxTokenNameLen)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("name: %q is not one of A-Z a-z 0-9 . _ -", r)
		}
	}
	return nil
}

// TokenHash is the token file's sha256 of a bearer token.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// NewToken makes a random bearer token: TokenPrefix and 32 random bytes in
// base64url (no "." in it, so it is never taken for a JWT).
func NewToken() (string, error) {
	b := make([]byte, tokenRandomBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// TokenEntry returns the token file entry for a token, or an error when
// name is not a valid token name.
func TokenEntry(name, token string, perms Permission) (string, error) {
	if err := checkTokenName(name); err != nil {
		return "", err
	}
	if perms == 0 || perms&^permAll != 0 {
		return "", fmt.Errorf("permissions: want one or more of read, submit, admin")
	}
	var quoted []string
	for _, pn := range permissionNames {
		if perms&pn.p != 0 {
			quoted = append(quoted, `"`+pn.name+`"`)
		}
	}
	return fmt.Sprintf("[[token]]\nname = %q\nsha256 = %q\npermissions = [%s]\n", name, TokenHash(token), strings.Join(quoted, ", ")), nil
}
