package cli

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// runAsMainEnv makes the test binary act as bafomet itself, so that
// `bench --local` can start validators with os.Executable() in tests.
const runAsMainEnv = "BAFOMET_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsMainEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestBenchUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"no mode", nil, "give exactly one of --testnet, --rpc and --local"},
		{"two modes", []string{"--local", "1", "--rpc", "http://x"}, "give exactly one of"},
		{"local above limit", []string{"--local", "17"}, "--local 17: want 1 to 16"},
		{"local negative", []string{"--local", "-1"}, "--local -1: want 1 to 16"},
		{"rate zero", []string{"--local", "1", "--rate", "0"}, `--rate "0": want max or a number`},
		{"rate word", []string{"--local", "1", "--rate", "fast"}, `--rate "fast"`},
		{"profile with rpc", []string{"--rpc", "http://x", "--profile", "p.out"}, "--profile needs --local or --testnet"},
		{"keep without local", []string{"--rpc", "http://x", "--keep"}, "--keep applies only to --local"},
		{"positional", []string{"--local", "1", "extra"}, "want 0 argument(s), got 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, append([]string{"bench"}, tt.args...)...)
			if code != exitUsage || out != "" || !strings.Contains(errOut, tt.msg) || !strings.Contains(errOut, "usage: bafomet bench") {
				t.Fatalf("code %d stdout %q stderr %q; want exit 1 with %q and usage", code, out, errOut, tt.msg)
			}
		})
	}
}

func TestBenchConfigErrorsFail(t *testing.T) {
	code, _, errOut := runCmd(t, "bench", "--rpc", "http://127.0.0.1:1", "--size", "5", "--duration", "1s")
	if code != exitFail || !strings.Contains(errOut, "size 5: want 24 to 60000 bytes") {
		t.Fatalf("code %d stderr %q", code, errOut)
	}
	code, _, errOut = runCmd(t, "bench", "--testnet", filepath.Join(t.TempDir(), "missing.json"))
	if code != exitFail || !strings.Contains(errOut, "read testnet manifest") {
		t.Fatalf("missing manifest: code %d stderr %q", code, errOut)
	}
}

func TestParseRate(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want float64
		ok   bool
	}{{"max", 0, true}, {"1", 1, true}, {"2500.5", 2500.5, true}, {"10000000", 1e7, true}, {"10000001", 0, false}, {"-5", 0, false}, {"0", 0, false}, {"", 0, false}} {
		got, err := parseRate(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseRate(%q) = %g, %v; want %g, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestManifestTargets(t *testing.T) {
	root := t.TempDir()
	home := "/nets/a/node1"
	dir := filepath.Join(root, "321")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cmdline"), []byte("bafomet\x00start\x00--home\x00"+home+"\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := &testnetManifest{Nodes: []testnetNode{
		{Name: "node0", Home: "/nets/a/node0", RPC: "http://127.0.0.1:26601"},
		{Name: "node1", Home: home, RPC: "http://127.0.0.1:26611"},
	}}
	got, err := manifestTargets(m, root)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].PID != 0 || got[0].URL != "http://127.0.0.1:26601" || got[1].PID != 321 || got[1].Name != "node1" {
		t.Fatalf("targets = %+v", got)
	}
}

// TestBenchLocal runs the whole harness against a real one-validator
// network started by --local, for 2 s of measured load.
func TestBenchLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a validator process and loads it for several seconds")
	}
	t.Setenv(runAsMainEnv, "1")
	prof := filepath.Join(t.TempDir(), "cpu.pprof")
	code, out, errOut := runCmd(t, "bench", "--local", "1", "--rate", "max", "--duration", "2s", "--warmup", "1s",
		"--drain", "5s", "--senders", "8", "--presign", "20000", "--json", "--profile", prof)
	if code != exitOK {
		t.Fatalf("exit %d\nstderr:\n%s", code, errOut)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	for _, key := range []string{"setup", "offered", "missed", "accepted", "committed", "accepted_tps", "committed_tps",
		"latency_ms", "rejections", "blocks", "uncommitted", "senders_exhausted", "resubscribed", "profile", "nodes", "bench_process"} {
		if _, ok := rep[key]; !ok {
			t.Errorf("report has no %q field", key)
		}
	}
	if c, _ := rep["committed"].(float64); c <= 0 {
		t.Errorf("committed = %v, want > 0", rep["committed"])
	}
	lat, _ := rep["latency_ms"].(map[string]any)
	for _, key := range []string{"samples", "p50", "p95", "p99", "max", "mean"} {
		if v, ok := lat[key].(float64); !ok || v <= 0 {
			t.Errorf("latency_ms.%s = %v, want > 0", key, lat[key])
		}
	}
	if rep["profile"] != prof {
		t.Errorf("profile = %v, want %s", rep["profile"], prof)
	}
	if st, err := os.Stat(prof); err != nil || st.Size() == 0 {
		t.Errorf("cpu profile: %v", err)
	}
	nodes, _ := rep["nodes"].([]any)
	if len(nodes) != 1 {
		t.Fatalf("nodes = %v, want one", rep["nodes"])
	}
	n0, _ := nodes[0].(map[string]any)
	if rss, _ := n0["rss_end_mb"].(float64); rss <= 0 || n0["error"] != nil {
		t.Errorf("node0 = %v, want its RSS and no error", n0)
	}
	pid, _ := n0["pid"].(float64)
	if err := syscall.Kill(int(pid), 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("validator pid %d still exists after bench returned (kill 0: %v)", int(pid), err)
	}
	if !strings.Contains(errOut, "[  1.0s measure]") && !strings.Contains(errOut, "measure]") {
		t.Errorf("no progress lines on stderr:\n%s", errOut)
	}
	t.Logf("committed %v tx/s, latency %v, pid %s", rep["committed_tps"], lat, strconv.Itoa(int(pid)))
}

func TestBenchFlagsCheckAtLimits(t *testing.T) {
	ok := []benchFlags{
		{local: maxBenchLocal, rate: "max"},
		{local: 1, rate: "10000000", keep: true, profile: "p.out"},
		{testnet: "t.json", rate: "1", profile: "p.out"},
		{rpcURLs: "http://a,http://b", rate: "max"},
	}
	for _, b := range ok {
		if err := b.check(); err != nil {
			t.Errorf("%+v: %v", b, err)
		}
	}
	b := benchFlags{local: 1, rate: "2500"}
	if err := b.check(); err != nil || b.cfg.Rate != 2500 {
		t.Errorf("rate not stored: %v, %g", err, b.cfg.Rate)
	}
}
