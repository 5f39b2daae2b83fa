package rpc

import (
	"embed"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// explorerPath is where the explorer is served when Config.Explorer is on.
const explorerPath = "/explorer/"

//go:embed explorer
var explorerFiles embed.FS

// explorerCSP lets the explorer's pages run only their own script and
// styles and talk only to this origin: what the node returns is shown as
// text, and a policy that forbids inline script keeps it that way.
const explorerCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// newExplorerHandler serves the embedded explorer under explorerPath. The
// files hold no chain data, so they are served without authentication;
// the page reads the chain through the JSON-RPC methods, which check
// credentials as usual.
func newExplorerHandler() http.Handler {
	sub, err := fs.Sub(explorerFiles, "explorer")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix(explorerPath, http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == strings.TrimSuffix(explorerPath, "/") {
			http.Redirect(w, r, explorerPath, http.StatusMovedPermanently)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", explorerCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

// isExplorerRequest reports whether r asks for the explorer's files.
func isExplorerRequest(r *http.Request) bool {
	return r.URL.Path == strings.TrimSuffix(explorerPath, "/") || strings.HasPrefix(r.URL.Path, explorerPath)
}

// sameLocalOrigin reports whether a browser request comes from a page of
// this server reached by an IP address or localhost: its Origin names the
// host the request was sent to. A DNS name is not trusted this way (a page
// of another site could rebind its name to this address); add such an
// origin to Config.CORSOrigins.
func sameLocalOrigin(r *http.Request) bool {
	u, err := url.Parse(r.Header.Get("Origin"))
	if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
		return false
	}
	host := u.Hostname()
	return strings.EqualFold(host, "localhost") || net.ParseIP(host) != nil
}
