package rpc

import (
	"bytes"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bafomet/bafomet/internal/testca"
)

func writeTestFile(t testing.TB, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func postWith(t testing.TB, c *http.Client, url, authz, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(out)
}

// With rpc.tls_cert and rpc.tls_key the port speaks HTTPS only: a client
// trusting the CA is served, plain HTTP and a client that does not trust
// the CA are not, and the connection limits still count the connections.
func TestTLSServesHTTPSOnly(t *testing.T) {
	ca := testca.New(t)
	cert, key := ca.Issue(t, t.TempDir(), 2)
	f := newFakeBackend(t)
	f.commit(t)
	s := startServer(t, Config{TLSCertFile: cert, TLSKeyFile: key}, f)
	url := "https://" + s.Addr().String()
	cl := ca.Client()
	status, _, body := postWith(t, cl, url, "", blockNumberReq)
	if status != http.StatusOK || !strings.Contains(body, `"result":1`) {
		t.Fatalf("https: %d %s", status, body)
	}
	if _, err := http.Post(url, "application/json", strings.NewReader(blockNumberReq)); err == nil ||
		!strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client without the CA: %v", err)
	}
	resp, err := http.Post("http://"+s.Addr().String(), "application/json", strings.NewReader(blockNumberReq))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP served on the TLS port")
		}
	}
	resp, err = cl.Get(url) // the transport would take HTTP/2 if offered
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 1 || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("served %s over %+v", resp.Proto, resp.TLS)
	}
	if n := s.ln.count(); n < 1 {
		t.Fatalf("%d connections counted with a keep-alive TLS connection open", n)
	}
	cl.CloseIdleConnections()
	waitFor(t, "the connections to be released", func() bool { return s.ln.count() == 0 })
}

// A certificate that has expired is served (clients refuse it) and logged
// at start.
func TestTLSExpiredCertificateLogged(t *testing.T) {
	ca := testca.New(t)
	cert, key := ca.IssueValid(t, t.TempDir(), 2, time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
	var logs bytes.Buffer
	s, err := New(Config{ListenAddr: "127.0.0.1:0", TLSCertFile: cert, TLSKeyFile: key}, newFakeBackend(t),
		slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.Contains(logs.String(), "rpc.tls_cert has expired") {
		t.Fatalf("log: %s", logs.String())
	}
}

// Both files or neither; files that do not load are a start-up error
// naming the keys.
func TestTLSConfigErrors(t *testing.T) {
	ca := testca.New(t)
	dir := t.TempDir()
	cert, key := ca.Issue(t, dir, 2)
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{TLSCertFile: cert}, "set both (HTTPS and WSS) or neither"},
		{Config{TLSKeyFile: key}, "set both (HTTPS and WSS) or neither"},
		{Config{TLSCertFile: filepath.Join(dir, "missing.crt"), TLSKeyFile: key}, "rpc.tls_cert and rpc.tls_key: stat"},
		{Config{TLSCertFile: key, TLSKeyFile: cert}, "rpc.tls_cert and rpc.tls_key: load"},
		{Config{TLSCertFile: cert, TLSKeyFile: writeTestFile(t, filepath.Join(dir, "junk.key"), "junk")}, "rpc.tls_cert and rpc.tls_key: load"},
	} {
		tc.cfg.ListenAddr = "127.0.0.1:0"
		if _, err := New(tc.cfg, newFakeBackend(t), nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// A renewed certificate is served without a restart; a pair that does not
// load leaves the previous one in service.
func TestTLSCertificateReload(t *testing.T) {
	ca := testca.New(t)
	dir := t.TempDir()
	cert, key := ca.Issue(t, dir, 2)
	var logs bytes.Buffer
	s, err := New(Config{ListenAddr: "127.0.0.1:0", TLSCertFile: cert, TLSKeyFile: key}, newFakeBackend(t),
		slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.certs.every = 0 // look at the files on every handshake
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	serial := func() int64 {
		t.Helper()
		conn, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if got := serial(); got != 2 {
		t.Fatalf("serial %d, want 2", got)
	}
	ca.Issue(t, dir, 3)
	later := time.Now().Add(time.Second) // a change time the files cannot already have
	for _, f := range []string{cert, key} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	if got := serial(); got != 3 {
		t.Fatalf("after renewal: serial %d, want 3", got)
	}
	writeTestFile(t, key, "not a key")
	if got := serial(); got != 3 || !strings.Contains(logs.String(), "does not load") {
		t.Fatalf("after a broken key: serial %d, log %s", got, logs.String())
	}
}
