package rpc

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
)

// JSON Web Tokens (RFC 7519) signed with HMAC-SHA256, as geth's and
// Besu's authenticated RPC use them: the client and the node share a
// 32-byte secret, and the client signs a fresh token for each request (or
// websocket connection) with an "iat" (issued-at) claim. The node accepts
// a token whose signature verifies, whose header says "alg":"HS256",
// whose iat is within the issued-at window of the node's clock (either
// way: clocks drift), whose "exp", when present, has not passed, and whose
// "nbf", when present, has. Other claims are ignored.

// JWTSecretBytes is the length of the shared secret (256 bits, the HS256
// key size RFC 7518 requires and the size geth and Besu use).
const JWTSecretBytes = 32

// DefaultJWTIssuedAtWindow is how far a token's iat may be from the node's
// clock (geth's value).
const DefaultJWTIssuedAtWindow = 60 * time.Second

// maxCredentialBytes bounds the bearer credential of a request, a JWT or
// a static token.
const maxCredentialBytes = 4096

// maxNumericDate bounds a claim's seconds (year 5138), so that converting
// it to a time cannot overflow.
const maxNumericDate = 1e11

// The ways a JWT is refused.
var (
	errJWTMalformed = errors.New("malformed JWT")
	errJWTAlg       = errors.New(`JWT alg is not "HS256"`)
	errJWTSignature = errors.New("JWT signature does not verify")
	errJWTNoIat     = errors.New(`JWT has no "iat" claim`)
	errJWTStale     = errors.New("JWT issued too long ago (iat outside rpc.jwt_iat_window)")
	errJWTFuture    = errors.New("JWT issued in the future (iat outside rpc.jwt_iat_window)")
	errJWTExpired   = errors.New("JWT expired (exp has passed)")
	errJWTNotYet    = errors.New("JWT not valid yet (nbf in the future)")
)

// ParseJWTSecret reads a JWT secret file's contents: 64 hex digits (32
// bytes), optionally 0x-prefixed, with surrounding whitespace ignored
// (the format of geth's and Besu's jwtsecret files).
func ParseJWTSecret(data []byte) ([]byte, error) {
	s := strings.TrimSpace(string(data))
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(s) != 2*JWTSecretBytes {
		return nil, fmt.Errorf("want %d hex digits (%d bytes), got %d characters", 2*JWTSecretBytes, JWTSecretBytes, len(s))
	}
	secret, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not hex: %w", err)
	}
	return secret, nil
}

// LoadJWTSecret reads and parses a JWT secret file.
func LoadJWTSecret(path string) ([]byte, error) {
	data, err := readSmallFile(path, 4096)
	if err != nil {
		return nil, err
	}
	secret, err := ParseJWTSecret(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return secret, nil
}

// jwtClaims are the claims the node checks.
type jwtClaims struct {
	issuedAt time.Time
	expires  time.Time // zero when the token has no exp
}

// verifyJWT checks token (the part after "Bearer ") against secret at
// time now.
func verifyJWT(token string, secret []byte, now time.Time, window time.Duration) (jwtClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return jwtClaims{}, fmt.Errorf("%w: want 3 dot-separated parts, got %d", errJWTMalformed, len(parts))
	}
	header, err := jwtObject(parts[0], "header")
	if err != nil {
		return jwtClaims{}, err
	}
	var alg string
	if err := json.Unmarshal(header["alg"], &alg); err != nil || alg != "HS256" {
		return jwtClaims{}, errJWTAlg
	}
	if _, ok := header["crit"]; ok {
		return jwtClaims{}, fmt.Errorf("%w: critical header extensions are not supported", errJWTMalformed)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return jwtClaims{}, fmt.Errorf("%w: signature: %v", errJWTMalformed, err)
	}
	if !hmac.Equal(sig, jwtMAC(secret, parts[0]+"."+parts[1])) {
		return jwtClaims{}, errJWTSignature
	}
	claims, err := jwtObject(parts[1], "claims")
	if err != nil {
		return jwtClaims{}, err
	}
	return checkClaims(claims, now, window)
}

// checkClaims applies the time claims.
func checkClaims(claims map[string]json.RawMessage, now time.Time, window time.Duration) (jwtClaims, error) {
	var out jwtClaims
	iat, ok, err := numericDate(claims, "iat")
	switch {
	case err != nil:
		return out, err
	case !ok:
		return out, errJWTNoIat
	case now.Sub(iat) > window:
		return out, errJWTStale
	case iat.Sub(now) > window:
		return out, errJWTFuture
	}
	out.issuedAt = iat
	exp, ok, err := numericDate(claims, "exp")
	if err != nil {
		return out, err
	}
	if ok {
		if !now.Before(exp) {
			return out, errJWTExpired
		}
		out.expires = exp
	}
	nbf, ok, err := numericDate(claims, "nbf")
	if err != nil {
		return out, err
	}
	if ok && now.Before(nbf) {
		return out, errJWTNotYet
	}
	return out, nil
}

// b64 is base64url without padding, rejecting non-canonical encodings.
var b64 = base64.RawURLEncoding.Strict()

// jwtObject decodes one base64url part holding a JSON object.
func jwtObject(part, what string) (map[string]json.RawMessage, error) {
	raw, err := b64.DecodeString(part)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errJWTMalformed, what, err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, fmt.Errorf("%w: %s is not a JSON object", errJWTMalformed, what)
	}
	return m, nil
}

// numericDate reads the claim key: absent, or a JSON number of seconds
// since 1970 (RFC 7519 NumericDate; a fraction is allowed).
func numericDate(claims map[string]json.RawMessage, key string) (time.Time, bool, error) {
	raw, ok := claims[key]
	if !ok {
		return time.Time{}, false, nil
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return time.Time{}, false, fmt.Errorf("%w: %q is not a number", errJWTMalformed, key)
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || math.Abs(f) > maxNumericDate {
		return time.Time{}, false, fmt.Errorf("%w: %q is not a date", errJWTMalformed, key)
	}
	sec := math.Floor(f)
	return time.Unix(int64(sec), int64((f-sec)*1e9)), true, nil
}

func jwtMAC(secret []byte, signingInput string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(signingInput))
	return m.Sum(nil)
}

// SignJWT returns an HS256 token with the claim iat and, when exp is not
// zero, exp.
func SignJWT(secret []byte, iat, exp time.Time) string {
	header := b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	claims := `{"iat":` + strconv.FormatInt(iat.Unix(), 10)
	if !exp.IsZero() {
		claims += `,"exp":` + strconv.FormatInt(exp.Unix(), 10)
	}
	input := header + "." + b64.EncodeToString([]byte(claims+"}"))
	return input + "." + b64.EncodeToString(jwtMAC(secret, input))
}

// JWTAuth is a geth client option's HTTPAuth (gethrpc.WithHTTPAuth) that
// sends a fresh token, issued now, with every HTTP request and websocket
// handshake.
func JWTAuth(secret []byte) gethrpc.HTTPAuth {
	secret = bytes.Clone(secret)
	return func(h http.Header) error {
		h.Set("Authorization", "Bearer "+SignJWT(secret, time.Now(), time.Time{}))
		return nil
	}
}

// readSmallFile reads a regular file of at most max bytes.
func readSmallFile(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s: larger than the %d bytes allowed", path, max)
	}
	return data, nil
}
