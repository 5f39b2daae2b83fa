package rpc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParsePermissions(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want Permission
		err  string
	}{
		{[]string{"read"}, PermRead, ""},
		{[]string{"admin", "read", "submit"}, PermRead | PermSubmit | PermAdmin, ""},
		{[]string{"submit"}, PermSubmit, ""},
		{nil, 0, "no permissions"},
		{[]string{}, 0, "no permissions"},
		{[]string{"Read"}, 0, `unknown permission "Read"`},
		{[]string{"read", "read"}, 0, `"read" given twice`},
		{[]string{""}, 0, "unknown permission"},
	} {
		got, err := ParsePermissions(tc.in)
		if tc.err == "" && (err != nil || got != tc.want) || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%q: %v, %v; want %v, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
	if s := (PermAdmin | PermRead).String(); s != "read,admin" {
		t.Errorf("String = %q", s)
	}
}

const hashA = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" // sha256("hello")

func TestParseTokenFile(t *testing.T) {
	good := `# tokens
[[token]]
name = "indexer"
sha256 = "` + hashA + `"
permissions = ["read"]

[[token]]
name = "app-1.prod_x"
sha256 = "` + TokenHash("other") + `"
permissions = ["read", "submit", "admin"]
requests_per_sec = 50
requests_burst = 100
txs_per_sec = 2.5
txs_burst = 0
max_subscriptions = 4
`
	tokens, err := ParseTokenFile([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(tokens) != 2 || tokens[0].Name != "indexer" || tokens[0].Permissions != PermRead || tokens[0].RequestsPerSec != nil ||
		fmt.Sprintf("%x", tokens[0].Hash) != hashA || TokenHash("hello") != hashA {
		t.Fatalf("first token: %+v", tokens[0])
	}
	l := tokens[1].limits(RateLimit{RequestsPerSec: 1, TxsPerSec: 9, TxsBurst: 9, MaxSubscriptions: 1})
	if want := (RateLimit{RequestsPerSec: 50, RequestsBurst: 100, TxsPerSec: 2.5, TxsBurst: 0, MaxSubscriptions: 4}); l != want {
		t.Fatalf("overrides: %+v, want %+v", l, want)
	}
	if l := tokens[0].limits(RateLimit{RequestsPerSec: 1}); l != (RateLimit{RequestsPerSec: 1}) {
		t.Fatalf("no overrides: %+v", l)
	}

	entry := func(name, hash, perms, extra string) string {
		return fmt.Sprintf("[[token]]\nname = %q\nsha256 = %q\npermissions = %s\n%s", name, hash, perms, extra)
	}
	ok := entry("a", hashA, `["read"]`, "")
	for _, tc := range []struct{ name, file, err string }{
		{"empty", "", "no [[token]] entries"},
		{"comments only", "# nothing\n", "no [[token]] entries"},
		{"unknown key", entry("a", hashA, `["read"]`, "rate = 5\n"), "unknown key token.rate"},
		{"unknown table", ok + "[other]\nx = 1\n", "unknown key other"},
		{"top-level key", "version = 1\n" + ok, "unknown key version"},
		{"not TOML", "[[token]\n", "toml"},
		{"no name", entry("", hashA, `["read"]`, ""), "name: missing"},
		{"long name", entry(strings.Repeat("n", 65), hashA, `["read"]`, ""), "longer than 64"},
		{"name at length limit", "", ""}, // filled in below
		{"bad name", entry("a b", hashA, `["read"]`, ""), `' ' is not one of`},
		{"duplicate name", ok + entry("a", TokenHash("x"), `["read"]`, ""), `name "a" used twice`},
		{"duplicate hash", ok + entry("b", hashA, `["read"]`, ""), `also the hash of token "a"`},
		{"upper-case hash", entry("a", strings.ToUpper(hashA), `["read"]`, ""), "lowercase hex"},
		{"short hash", entry("a", hashA[:63], `["read"]`, ""), "64 lowercase hex"},
		{"not hex", entry("a", "zz"+hashA[2:], `["read"]`, ""), "sha256: encoding/hex"},
		{"no permissions key", "[[token]]\nname = \"a\"\nsha256 = \"" + hashA + "\"\n", "permissions: missing"},
		{"empty permissions", entry("a", hashA, `[]`, ""), "no permissions"},
		{"unknown permission", entry("a", hashA, `["write"]`, ""), `unknown permission "write"`},
		{"permissions a string", entry("a", hashA, `"read"`, ""), "toml"},
		{"negative rate", entry("a", hashA, `["read"]`, "requests_per_sec = -1.0\n"), "requests_per_sec: -1 is outside"},
		{"nan rate", entry("a", hashA, `["read"]`, "txs_per_sec = nan\n"), "txs_per_sec: NaN is outside"},
		{"inf rate", entry("a", hashA, `["read"]`, "txs_per_sec = inf\n"), "txs_per_sec: +Inf is outside"},
		{"negative burst", entry("a", hashA, `["read"]`, "requests_burst = -1\n"), "requests_burst: -1 is outside"},
		{"huge subscriptions", entry("a", hashA, `["read"]`, "max_subscriptions = 16777217\n"), "max_subscriptions: 16777217 is outside"},
	} {
		if tc.name == "name at length limit" {
			if _, err := ParseTokenFile([]byte(entry(strings.Repeat("n", 64), hashA, `["read"]`, ""))); err != nil {
				t.Errorf("64-byte name: %v", err)
			}
			continue
		}
		_, err := ParseTokenFile([]byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.err)
		}
	}
}

// The file may list MaxTokens tokens and be MaxTokenFileBytes long, not
// more.
func TestTokenFileLimits(t *testing.T) {
	var b strings.Builder
	for i := range MaxTokens {
		fmt.Fprintf(&b, "[[token]]\nname = \"t%d\"\nsha256 = %q\npermissions = [\"read\"]\n", i, TokenHash(fmt.Sprint(i)))
	}
	if tokens, err := ParseTokenFile([]byte(b.String())); err != nil || len(tokens) != MaxTokens {
		t.Fatalf("%d tokens: %d, %v", MaxTokens, len(tokens), err)
	}
	fmt.Fprintf(&b, "[[token]]\nname = \"over\"\nsha256 = %q\npermissions = [\"read\"]\n", TokenHash("over"))
	if _, err := ParseTokenFile([]byte(b.String())); err == nil || !strings.Contains(err.Error(), "10001 tokens, more than the 10000") {
		t.Fatalf("%d tokens: %v", MaxTokens+1, err)
	}

	one := "[[token]]\nname = \"a\"\nsha256 = \"" + hashA + "\"\npermissions = [\"read\"]\n#"
	atLimit := one + strings.Repeat("x", MaxTokenFileBytes-len(one)) // a comment fills the rest
	if _, err := ParseTokenFile([]byte(atLimit)); err != nil {
		t.Fatalf("file of %d bytes: %v", len(atLimit), err)
	}
	if _, err := ParseTokenFile([]byte(atLimit + "x")); err == nil || !strings.Contains(err.Error(), "more than the 4194304") {
		t.Fatalf("file of %d bytes: %v", len(atLimit)+1, err)
	}
	path := filepath.Join(t.TempDir(), "tokens.toml")
	if err := os.WriteFile(path, []byte(atLimit+"x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTokenFile(path); err == nil || !strings.Contains(err.Error(), "larger than the 4194304 bytes") {
		t.Fatalf("load an oversized file: %v", err)
	}
}

func TestNewTokenAndEntry(t *testing.T) {
	tok, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, TokenPrefix) || len(tok) != len(TokenPrefix)+43 || strings.ContainsAny(tok, ".=+/") {
		t.Fatalf("token %q", tok)
	}
	entry, err := TokenEntry("app", tok, PermSubmit|PermRead)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := ParseTokenFile([]byte(entry))
	if err != nil || len(tokens) != 1 || tokens[0].Name != "app" || tokens[0].Permissions != PermRead|PermSubmit ||
		fmt.Sprintf("%x", tokens[0].Hash) != TokenHash(tok) {
		t.Fatalf("entry %q parsed to %+v, %v", entry, tokens, err)
	}
	if _, err := TokenEntry("a b", tok, PermRead); err == nil {
		t.Fatal("bad name accepted")
	}
	if _, err := TokenEntry("a", tok, 0); err == nil {
		t.Fatal("no permissions accepted")
	}
}
