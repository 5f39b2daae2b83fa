package node

import (
	"io"
	"net/http"
	"path/filepath"
	"testing"
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
