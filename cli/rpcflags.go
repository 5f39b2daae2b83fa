package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/bafomet/bafomet/client"
	"github.com/bafomet/bafomet/rpc"
)

// Connection flags of the client commands: which node, which CA to trust
// for https:// and wss://, and which credential to send (docs/rpc.md,
// "Authentication").

// maxClientFileBytes bounds the CA and token files a client reads.
const maxClientFileBytes = 1 << 20

// rpcFlags are the flags of a command that talks to a node over JSON-RPC.
type rpcFlags struct {
	url, ca, tokenFile, jwtSecret *string
}

// addRPCFlags adds --rpc (default def) and the connection flags to f.
func addRPCFlags(f *cmdFlags, def, urlUsage string) *rpcFlags {
	return &rpcFlags{
		url: f.String("rpc", def, urlUsage),
		ca: f.String("ca", "", "PEM file of the CA that signed the node's certificate; trusted instead of the system's CAs "+
			"(https:// and wss:// URLs only)"),
		tokenFile: f.String("token-file", "", `file holding an API token, sent as "Authorization: Bearer TOKEN"`),
		jwtSecret: f.String("jwt-secret", "", "the node's JWT secret file (64 hex digits): each request carries a fresh HS256 token"),
	}
}

// dial connects to the --rpc URL with the CA and credential the flags
// name.
func (r *rpcFlags) dial(ctx context.Context) (*client.Client, error) {
	opts, err := r.options(*r.url)
	if err != nil {
		return nil, err
	}
	return client.Dial(ctx, *r.url, opts)
}

func (r *rpcFlags) options(endpoint string) (client.Options, error) {
	var opts client.Options
	if *r.ca != "" {
		u, err := url.Parse(endpoint)
		if err != nil {
			return opts, fmt.Errorf("--rpc %q: %w", endpoint, err)
		}
		if u.Scheme != "https" && u.Scheme != "wss" {
			return opts, fmt.Errorf("--ca applies to https:// and wss:// URLs, not %s://", u.Scheme)
		}
		cfg, err := caTLSConfig(*r.ca)
		if err != nil {
			return opts, err
		}
		opts.TLSConfig = cfg
	}
	switch {
	case *r.tokenFile != "" && *r.jwtSecret != "":
		return opts, errors.New("give --token-file or --jwt-secret, not both")
	case *r.tokenFile != "":
		tok, err := readToken(*r.tokenFile)
		if err != nil {
			return opts, err
		}
		opts.Token = tok
	case *r.jwtSecret != "":
		secret, err := rpc.LoadJWTSecret(*r.jwtSecret)
		if err != nil {
			return opts, fmt.Errorf("--jwt-secret: %w", err)
		}
		opts.JWTSecret = secret
	}
	return opts, nil
}

// caTLSConfig trusts the certificates in the PEM file path, and no others.
func caTLSConfig(path string) (*tls.Config, error) {
	data, err := readClientFile(path)
	if err != nil {
		return nil, fmt.Errorf("--ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("--ca: %s holds no PEM certificate", path)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// readToken reads a token file: the token, with surrounding whitespace
// (a final newline) ignored.
func readToken(path string) (string, error) {
	data, err := readClientFile(path)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("--token-file: %s must hold one token, without spaces", path)
	}
	return tok, nil
}

func readClientFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxClientFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxClientFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxClientFileBytes)
	}
	return data, nil
}
