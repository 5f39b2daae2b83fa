package rpc

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// FuzzParseTokenFile feeds arbitrary bytes to the token file parser: it
// never panics, and a file it accepts holds valid, distinct tokens that
// encode (as TOML) and parse back to the same tokens. Seeds are one entry
// each, not a whole file (see FuzzParseConfig on why).
func FuzzParseTokenFile(f *testing.F) {
	entry := "[[token]]\nname = \"a\"\nsha256 = \"" + hashA + "\"\npermissions = [\"read\"]\n"
	for _, s := range []string{
		entry, entry + "requests_per_sec = 5.5\nrequests_burst = 10\n", entry + "txs_per_sec = 1\ntxs_burst = 2\nmax_subscriptions = 3\n",
		strings.Replace(entry, `["read"]`, `["read", "submit", "admin"]`, 1), entry + entry, "", "[[token]]\n", "# c\n",
		strings.Replace(entry, "name", "nam", 1), entry + "x = 1\n", entry + "requests_per_sec = nan\n", "[token]\nname = \"a\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tokens, err := ParseTokenFile(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("error without a message")
			}
			return
		}
		if len(tokens) == 0 || len(tokens) > MaxTokens {
			t.Fatalf("accepted %d tokens", len(tokens))
		}
		var out tokenFileTOML
		names, hashes := map[string]bool{}, map[[sha256.Size]byte]bool{}
		for _, tk := range tokens {
			if names[tk.Name] || hashes[tk.Hash] || checkTokenName(tk.Name) != nil ||
				tk.Permissions == 0 || tk.Permissions&^permAll != 0 || tk.limits(RateLimit{}).validate("") != nil {
				t.Fatalf("accepted an invalid or repeated token %+v", tk)
			}
			names[tk.Name], hashes[tk.Hash] = true, true
			var perms []string
			for _, pn := range permissionNames {
				if tk.Permissions&pn.p != 0 {
					perms = append(perms, pn.name)
				}
			}
			out.Token = append(out.Token, tokenTOML{
				Name: tk.Name, SHA256: hex.EncodeToString(tk.Hash[:]), Permissions: perms,
				RequestsPerSec: tk.RequestsPerSec, RequestsBurst: tk.RequestsBurst, TxsPerSec: tk.TxsPerSec,
				TxsBurst: tk.TxsBurst, MaxSubscriptions: tk.MaxSubscriptions,
			})
		}
		var buf bytes.Buffer
		if err := toml.NewEncoder(&buf).Encode(out); err != nil {
			t.Fatalf("encode accepted tokens: %v", err)
		}
		again, err := ParseTokenFile(buf.Bytes())
		if err != nil {
			t.Fatalf("re-parse %q: %v", buf.Bytes(), err)
		}
		if !reflect.DeepEqual(tokens, again) {
			t.Fatalf("tokens changed through encode/parse:\n%+v\n%+v", tokens, again)
		}
	})
}

// fuzzNow is the clock of the JWT fuzz targets.
var fuzzNow = time.Unix(1_700_000_000, 0)

// FuzzVerifyJWT feeds arbitrary strings to the JWT verifier: it never
// panics, and what it accepts is exactly signed: three parts, the third
// the canonical encoding of the HMAC of the first two under the secret,
// an HS256 header, and an iat within the window.
func FuzzVerifyJWT(f *testing.F) {
	secret := jwtTestSecret()
	const hdr = `{"alg":"HS256","typ":"JWT"}`
	for _, s := range []string{
		SignJWT(secret, fuzzNow, time.Time{}), SignJWT(secret, fuzzNow, fuzzNow.Add(time.Hour)),
		SignJWT(secret, fuzzNow.Add(-time.Hour), time.Time{}), signRaw(secret, hdr, `{"iat":1700000000,"nbf":1700000001}`),
		signRaw(secret, `{"alg":"none"}`, `{"iat":1700000000}`), signRaw(secret, hdr, `{"iat":"1"}`),
		signRaw(secret, hdr, `{"iat":1.7e9,"exp":1e300}`), "a.b.c", "..", "", "eyJ.eyJ.",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := verifyJWT(token, secret, fuzzNow, time.Minute)
		if err != nil {
			return
		}
		parts := strings.Split(token, ".")
		if len(parts) != 3 || parts[2] != b64.EncodeToString(jwtMAC(secret, parts[0]+"."+parts[1])) {
			t.Fatalf("accepted a token not signed with the secret: %q", token)
		}
		header, err := jwtObject(parts[0], "header")
		if err != nil || string(bytes.TrimSpace(header["alg"])) != `"HS256"` {
			t.Fatalf("accepted a header without alg HS256: %q", token)
		}
		if d := c.issuedAt.Sub(fuzzNow); d > time.Minute || d < -time.Minute {
			t.Fatalf("accepted iat %s, outside the window", c.issuedAt)
		}
		if !c.expires.IsZero() && !fuzzNow.Before(c.expires) {
			t.Fatalf("accepted an expired token (exp %s)", c.expires)
		}
	})
}

// FuzzParseJWTSecret feeds arbitrary secret files: what is accepted is 32
// bytes that read back the same from their hex.
func FuzzParseJWTSecret(f *testing.F) {
	for _, s := range []string{
		hex.EncodeToString(jwtTestSecret()), "0x" + hex.EncodeToString(jwtTestSecret()) + "\n", "", "0x", "zz",
		strings.Repeat("0", 63), strings.Repeat("f", 66),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseJWTSecret(data)
		if err != nil {
			return
		}
		if len(s) != JWTSecretBytes {
			t.Fatalf("accepted a %d-byte secret", len(s))
		}
		again, err := ParseJWTSecret([]byte(hex.EncodeToString(s)))
		if err != nil || !bytes.Equal(s, again) {
			t.Fatalf("secret %x does not read back: %x %v", s, again, err)
		}
	})
}

// FuzzAuthenticate feeds arbitrary Authorization header values to the
// authenticator (static tokens and JWTs both on): it never panics, accepts
// only the one listed token or a JWT signed with the secret, and says why
// it refuses.
func FuzzAuthenticate(f *testing.F) {
	secret := jwtTestSecret()
	const known = "bft_known-token_0123456789"
	a := &authenticator{
		mode:   AuthTokenOrJWT,
		tokens: map[[sha256.Size]byte]*principal{sha256.Sum256([]byte(known)): {name: "known", perms: PermRead}},
		secret: secret, jwt: &principal{name: jwtPrincipalName, perms: PermRead}, window: time.Minute,
	}
	for _, s := range []string{
		"Bearer " + known, "bearer  " + known + " ", "Bearer " + SignJWT(secret, fuzzNow, time.Time{}), "Basic " + known,
		"Bearer", "Bearer ", "", "Bearer a.b.c", "Bearer " + known + "x", "BEARER " + SignJWT(secret, fuzzNow, fuzzNow),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		h := http.Header{}
		if value != "" {
			h.Set("Authorization", value)
		}
		p, fail := a.authenticate(h, fuzzNow)
		if fail != nil {
			if p != nil || fail.msg == "" || (fail.reason != "missing" && fail.reason != "invalid" && fail.reason != "expired") {
				t.Fatalf("%q: refusal %+v with principal %v", value, fail, p)
			}
			return
		}
		_, cred, _ := strings.Cut(strings.TrimSpace(value), " ")
		cred = strings.TrimSpace(cred)
		if cred == known {
			if p.name != "known" {
				t.Fatalf("%q: the known token gave %q", value, p.name)
			}
			return
		}
		if _, err := verifyJWT(cred, secret, fuzzNow, time.Minute); err != nil || p.name != jwtPrincipalName {
			t.Fatalf("%q accepted as %q: %v", value, p.name, err)
		}
	})
}
