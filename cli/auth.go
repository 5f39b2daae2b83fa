package cli

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bafomet/bafomet/rpc"
)

// Credentials for the RPC server's authentication (rpc.auth).

const authSummary = "make API tokens and JWT secrets for rpc.auth"

func init() {
	registerSub("auth", authSummary, &command{
		name: "new-token", summary: "make an API token and print its token file entry", run: runAuthNewToken,
	})
	registerSub("auth", authSummary, &command{
		name: "new-jwt-secret", summary: "make a JWT secret file (mode 0600)", run: runAuthNewJWTSecret,
	})
}

// runAuthNewToken implements `bafomet auth new-token`.
func runAuthNewToken(args []string, stdout, stderr io.Writer) int {
	f := newFlags("auth new-token", "--name NAME --permissions read,submit,admin --out FILE",
		"Make a random API token, write it to FILE (mode 0600; the client's --token-file), and print\n"+
			"the [[token]] entry for the node's rpc.token_file, which holds the token's SHA-256, not the\n"+
			"token: append it (>> config/rpc-tokens.toml) and restart the node.")
	name := f.String("name", "", "the token's name in the token file and the node's logs (A-Z a-z 0-9 . _ -)")
	perms := f.String("permissions", "", "comma-separated: read, submit, admin")
	out := f.String("out", "", "file to write the token to; must not exist")
	f.require("name", "permissions", "out")
	if _, code, ok := f.parse(args, 0, stdout, stderr); !ok {
		return code
	}
	p, err := rpc.ParsePermissions(strings.Split(*perms, ","))
	if err != nil {
		return f.usageError(stderr, "--permissions: "+err.Error())
	}
	tok, err := rpc.NewToken()
	if err != nil {
		return fail(stderr, f.name, err)
	}
	entry, err := rpc.TokenEntry(*name, tok, p)
	if err != nil {
		return f.usageError(stderr, "--name: "+err.Error())
	}
	if err := writeSecretFile(*out, tok+"\n"); err != nil {
		return fail(stderr, f.name, err)
	}
	fmt.Fprint(stdout, entry)
	return exitOK
}

// runAuthNewJWTSecret implements `bafomet auth new-jwt-secret`.
func runAuthNewJWTSecret(args []string, stdout, stderr io.Writer) int {
	f := newFlags("auth new-jwt-secret", "--out FILE",
		"Write a random 32-byte JWT secret as 64 hex digits to FILE (mode 0600), the format of the node's\n"+
			"rpc.jwt_secret_file and of the clients' --jwt-secret (and of geth's and Besu's jwtsecret).")
	out := f.String("out", "", "file to write; must not exist")
	f.require("out")
	if _, code, ok := f.parse(args, 0, stdout, stderr); !ok {
		return code
	}
	secret := make([]byte, rpc.JWTSecretBytes)
	if _, err := rand.Read(secret); err != nil {
		return fail(stderr, f.name, fmt.Errorf("random secret: %w", err))
	}
	if err := writeSecretFile(*out, hex.EncodeToString(secret)+"\n"); err != nil {
		return fail(stderr, f.name, err)
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return exitOK
}

// writeSecretFile writes content to a new file of mode 0600, refusing to
// replace an existing one.
func writeSecretFile(path, content string) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, keyFileMode)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("refusing to overwrite existing file %s", path)
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := fh.WriteString(content)
	serr := fh.Sync()
	cerr := fh.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
