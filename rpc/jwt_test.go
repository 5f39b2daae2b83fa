package rpc

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"
)

// jwtTestSecret is bytes 0, 1, …, 31.
func jwtTestSecret() []byte {
	s := make([]byte, JWTSecretBytes)
	for i := range s {
		s[i] = byte(i)
	}
	return s
}

// signRaw signs arbitrary header and claims JSON, for tokens SignJWT does
// not make.
func signRaw(secret []byte, header, claims string) string {
	input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(claims))
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(input))
	return input + "." + b64.EncodeToString(m.Sum(nil))
}

// Tokens signed elsewhere verify: the example of jwt.io (RFC 7519's HS256
// with a 19-byte secret) and one made with Python's hmac module, which
// has a fractional exp and header fields in another order.
func TestVerifyJWTForeignTokens(t *testing.T) {
	jwtIO := "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
	c, err := verifyJWT(jwtIO, []byte("your-256-bit-secret"), time.Unix(1516239022+30, 0), time.Minute)
	if err != nil || c.issuedAt.Unix() != 1516239022 || !c.expires.IsZero() {
		t.Fatalf("jwt.io example: %+v, %v", c, err)
	}
	python := "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMzYwMC41LCJzdWIiOiJhcHAifQ.UswaxkSyHZVGEy9XDH-POouRgBnLImkhzHHuU4-m48k"
	c, err = verifyJWT(python, jwtTestSecret(), time.Unix(1700000000, 0), time.Minute)
	if err != nil || c.expires != time.Unix(1700003600, 5e8) {
		t.Fatalf("python token: %+v, %v", c, err)
	}
}

func TestVerifyJWT(t *testing.T) {
	secret := jwtTestSecret()
	now := time.Unix(1_700_000_000, 0)
	const hdr = `{"alg":"HS256","typ":"JWT"}`
	other := append([]byte(nil), secret...)
	other[0] ^= 1
	good := SignJWT(secret, now, time.Time{})
	tests := []struct {
		name  string
		token string
		want  error // nil: accepted
	}{
		{"fresh", good, nil},
		{"iat at the window's old edge", SignJWT(secret, now.Add(-time.Minute), time.Time{}), nil},
		{"iat past the window's old edge", SignJWT(secret, now.Add(-time.Minute-time.Second), time.Time{}), errJWTStale},
		{"iat at the window's future edge", SignJWT(secret, now.Add(time.Minute), time.Time{}), nil},
		{"iat past the window's future edge", SignJWT(secret, now.Add(time.Minute+time.Second), time.Time{}), errJWTFuture},
		{"exp ahead", SignJWT(secret, now, now.Add(time.Second)), nil},
		{"exp now", SignJWT(secret, now, now), errJWTExpired},
		{"exp passed", SignJWT(secret, now, now.Add(-time.Second)), errJWTExpired},
		{"nbf passed", signRaw(secret, hdr, `{"iat":1700000000,"nbf":1700000000}`), nil},
		{"nbf ahead", signRaw(secret, hdr, `{"iat":1700000000,"nbf":1700000001}`), errJWTNotYet},
		{"fractional iat", signRaw(secret, hdr, `{"iat":1700000000.25}`), nil},
		{"other claims ignored", signRaw(secret, hdr, `{"iat":1700000000,"id":"app","sub":7}`), nil},
		{"no typ", signRaw(secret, `{"alg":"HS256"}`, `{"iat":1700000000}`), nil},
		{"other secret", SignJWT(other, now, time.Time{}), errJWTSignature},
		{"no iat", signRaw(secret, hdr, `{"exp":1800000000}`), errJWTNoIat},
		{"iat a string", signRaw(secret, hdr, `{"iat":"1700000000"}`), errJWTMalformed},
		{"iat huge", signRaw(secret, hdr, `{"iat":1e300}`), errJWTMalformed},
		{"iat wrong case", signRaw(secret, hdr, `{"IAT":1700000000}`), errJWTNoIat},
		{"exp a string", signRaw(secret, hdr, `{"iat":1700000000,"exp":"never"}`), errJWTMalformed},
		{"alg none", signRaw(secret, `{"alg":"none"}`, `{"iat":1700000000}`), errJWTAlg},
		{"alg HS512", signRaw(secret, `{"alg":"HS512"}`, `{"iat":1700000000}`), errJWTAlg},
		{"alg lower case", signRaw(secret, `{"alg":"hs256"}`, `{"iat":1700000000}`), errJWTAlg},
		{"no alg", signRaw(secret, `{"typ":"JWT"}`, `{"iat":1700000000}`), errJWTAlg},
		{"crit header", signRaw(secret, `{"alg":"HS256","crit":["b64"]}`, `{"iat":1700000000}`), errJWTMalformed},
		{"claims not an object", signRaw(secret, hdr, `[1700000000]`), errJWTMalformed},
		{"claims null", signRaw(secret, hdr, `null`), errJWTMalformed},
		{"header not JSON", signRaw(secret, `alg=HS256`, `{"iat":1700000000}`), errJWTMalformed},
		{"two parts", good[:strings.LastIndexByte(good, '.')], errJWTMalformed},
		{"four parts", good + ".x", errJWTMalformed},
		{"padded signature", good + "=", errJWTMalformed},
		{"unsigned", good[:strings.LastIndexByte(good, '.')+1], errJWTSignature},
		{"empty", "", errJWTMalformed},
	}
	for _, tc := range tests {
		_, err := verifyJWT(tc.token, secret, now, time.Minute)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

// Changing any one character of a valid token makes it invalid: the
// encoding is canonical (strict base64url) and every byte is signed.
func TestVerifyJWTTamperedByte(t *testing.T) {
	secret := jwtTestSecret()
	now := time.Unix(1_700_000_000, 0)
	tok := SignJWT(secret, now, now.Add(time.Hour))
	for i := range len(tok) {
		for _, c := range []byte{'A', 'Q', 'g', 'w', '_', '-', '.', '='} {
			if tok[i] == c {
				continue
			}
			bad := tok[:i] + string(c) + tok[i+1:]
			if _, err := verifyJWT(bad, secret, now, time.Minute); err == nil {
				t.Fatalf("byte %d changed to %q still verifies: %s", i, c, bad)
			}
		}
	}
}

func TestParseJWTSecret(t *testing.T) {
	hex64 := "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	for _, in := range []string{hex64, "0x" + hex64, "  0x" + hex64 + "\n", strings.ToUpper(hex64), "0X" + hex64} {
		s, err := ParseJWTSecret([]byte(in))
		if err != nil || string(s) != string(jwtTestSecret()) {
			t.Errorf("%q: %x, %v", in, s, err)
		}
	}
	for _, in := range []string{"", hex64[:62], hex64 + "00", "zz" + hex64[2:], "0x0x" + hex64[4:], hex64[:32] + " " + hex64[32:]} {
		if _, err := ParseJWTSecret([]byte(in)); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
