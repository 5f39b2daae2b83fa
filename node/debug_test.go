package node

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	must(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// The metrics listener served /debug/pprof/ too, and `bafomet testnet
// --host NAME` binds it to 0.0.0.0: anyone could read profiles and the
// command line. Profiling is now off unless debug.listen is set, and then
// served there only.
func TestProfilerOnlyOnDebugListen(t *testing.T) {
	tn := newTestNet(t, 1)
	n := tn.start(0)
	metrics := "http://" + n.MetricsAddr().String()
	if n.DebugAddr() != nil {
		t.Fatalf("profiler on at %s by default", n.DebugAddr())
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap"} {
		if got := httpStatus(t, metrics+path); got != http.StatusNotFound {
			t.Fatalf("metrics listener serves %s: status %d", path, got)
		}
	}
	tn.stop(0)

	cfg, err := LoadConfig(tn.homes[0])
	must(t, err)
	cfg.Debug.Listen = "127.0.0.1:0"
	must(t, cfg.WriteConfig(filepath.Join(tn.homes[0], ConfigFile)))
	n = tn.start(0)
	if n.DebugAddr() == nil {
		t.Fatal("debug.listen set, no profiler")
	}
	if got := httpStatus(t, "http://"+n.DebugAddr().String()+"/debug/pprof/cmdline"); got != http.StatusOK {
		t.Fatalf("profiler on debug.listen: status %d", got)
	}
	if got := httpStatus(t, "http://"+n.MetricsAddr().String()+"/debug/pprof/"); got != http.StatusNotFound {
		t.Fatalf("metrics listener serves the profiler with debug.listen set: status %d", got)
	}
	if got := httpStatus(t, "http://"+n.DebugAddr().String()+"/metrics"); got != http.StatusNotFound {
		t.Fatalf("debug listener serves metrics: status %d", got)
	}
}

// The metrics (and debug) listener holds at most maxScrapeConns
// connections: clients that open more and idle get theirs closed at once,
// and a scrape still works once they leave.
func TestMetricsListenerConnectionCap(t *testing.T) {
	srv, err := startMetricsServer("127.0.0.1:0", prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	must(t, err)
	defer srv.Close()
	var conns []net.Conn
	for i := 0; i < maxScrapeConns+8; i++ {
		c, err := net.Dial("tcp", srv.Addr().String())
		must(t, err)
		defer c.Close()
		conns = append(conns, c)
	}
	closed := 0
	for _, c := range conns[maxScrapeConns:] { // past the cap: closed by the server
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			closed++
		}
	}
	if closed != 8 {
		t.Fatalf("%d of the 8 connections past the cap were closed", closed)
	}
	_ = conns[0].SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := conns[0].Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection within the cap was closed: %v", err)
	}
	for _, c := range conns[:maxScrapeConns] {
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for httpStatusErr("http://"+srv.Addr().String()+"/metrics") != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("no scrape after the idle connections left")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func httpStatusErr(url string) int {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
