package rpc

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// TLS: with rpc.tls_cert and rpc.tls_key the RPC port serves HTTPS and
// WSS only, HTTP/1.1 (websockets need it, and the connection limits count
// one request at a time per connection), TLS 1.2 or later. The server
// reads the two files again when either changes (checked at most every
// certCheckInterval, on a handshake), so a renewed certificate is served
// without a restart; a pair that does not load is logged and the previous
// one kept.

// certCheckInterval is how often a handshake looks at the files' change
// times.
const certCheckInterval = 10 * time.Second

// certReloader serves the certificate in certFile and keyFile.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	every             time.Duration

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]fileStamp // of certFile and keyFile, when cert was loaded
	checked time.Time
	failed  [2]fileStamp // the stamps of the last pair that failed to load
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log, every: certCheckInterval}
	stamp, err := r.stamps()
	if err != nil {
		return nil, err
	}
	if err := r.load(stamp, time.Now()); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) stamps() ([2]fileStamp, error) {
	var out [2]fileStamp
	for i, f := range []string{r.certFile, r.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return out, err
		}
		out[i] = fileStamp{st.ModTime(), st.Size()}
	}
	return out, nil
}

// load reads the pair; callers hold r.mu (or own r alone).
func (r *certReloader) load(stamp [2]fileStamp, now time.Time) error {
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("load %s and %s: %w", r.certFile, r.keyFile, err)
	}
	if cert.Leaf != nil && now.After(cert.Leaf.NotAfter) {
		r.log.Warn("rpc.tls_cert has expired: clients will refuse it", "file", r.certFile, "not_after", cert.Leaf.NotAfter)
	}
	r.cert, r.stamp = &cert, stamp
	return nil
}

// getCertificate is the tls.Config hook.
func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if now.Sub(r.checked) < r.every {
		return r.cert, nil
	}
	r.checked = now
	stamp, err := r.stamps()
	if err != nil || stamp == r.stamp || stamp == r.failed {
		return r.cert, nil // a file being replaced: keep serving the loaded pair
	}
	if err := r.load(stamp, now); err != nil {
		r.failed = stamp
		r.log.Warn("rpc TLS certificate changed but does not load; still serving the previous one", "err", err)
		return r.cert, nil
	}
	r.log.Info("rpc TLS certificate reloaded", "file", r.certFile)
	return r.cert, nil
}

func (r *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"http/1.1"},
		GetCertificate: r.getCertificate,
	}
}
