package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const statLine = "4242 (bafo met) x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 1000 123456 789 18446744073709551615\n"

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name, stat string
		want       uint64
		err        string
	}{
		{"name with spaces and parentheses", statLine, 300, ""},
		{"no name", "4242 S 1", 0, "no command name"},
		{"too short", "1 (a) S 1 2 3 4 5 6 7 8 9 10 11", 0, "12 fields after the command name, want at least 13"},
		{"bad utime", "1 (a) S 1 1 1 0 -1 0 0 0 0 0 x 50 0", 0, "stat utime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.stat))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseStatCPU = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestParseStatusKB(t *testing.T) {
	const status = "Name:\tbafomet\nVmPeak:\t  999 kB\nVmRSS:\t   12345 kB\nRssAnon:\t    10000 kB\nThreads: 9\n"
	tests := []struct {
		name, status, line string
		want               uint64
		err                string
	}{
		{"rss", status, "VmRSS", 12345 * 1024, ""},
		{"anon", status, "RssAnon", 10000 * 1024, ""},
		{"prefix of another name", "VmRSSx:\t1 kB\n", "VmRSS", 0, "no such line: VmRSS"},
		{"missing", "Name:\tbafomet\n", "VmRSS", 0, "no such line: VmRSS"},
		{"bad unit", "VmRSS:\t12 MB\n", "VmRSS", 0, `want "<n> kB"`},
		{"bad number", "RssAnon:\t1x kB\n", "RssAnon", 0, "status RssAnon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatusKB([]byte(tt.status), tt.line)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseStatusKB(%s) = %d, %v; want %d", tt.line, got, err, tt.want)
			}
		})
	}
}

// fakeProc writes a /proc-like tree: pid → cmdline args, with stat and
// status files.
func fakeProc(t *testing.T, procs map[int][]string) string {
	t.Helper()
	root := t.TempDir()
	for pid, args := range procs {
		dir := filepath.Join(root, strconv.Itoa(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		files := map[string]string{
			"cmdline": strings.Join(args, "\x00") + "\x00",
			"stat":    statLine,
			"status":  "Name:\tx\nVmRSS:\t2048 kB\nRssAnon:\t1536 kB\n",
		}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestFindNodePIDAndReadProc(t *testing.T) {
	root := fakeProc(t, map[int][]string{
		10: {"/usr/bin/bafomet", "start", "--home", "/net/node0"},
		11: {"bafomet", "start", "--home=/net/node1"},
		12: {"bafomet", "devnet", "--home", "/net/node2"},
		13: {"bafomet", "start", "--home", "/net/node3/"},
	})
	for _, tt := range []struct {
		home string
		want int
	}{{"/net/node0", 10}, {"/net/node1", 11}, {"/net/node2", 0}, {"/net/node3", 13}, {"/elsewhere", 0}} {
		got, err := FindNodePID(root, tt.home)
		if err != nil || got != tt.want {
			t.Errorf("FindNodePID(%s) = %d, %v; want %d", tt.home, got, err, tt.want)
		}
	}
	if _, err := FindNodePID(filepath.Join(root, "absent"), "/x"); err == nil {
		t.Error("FindNodePID on a missing root: no error")
	}
	s, err := readProc(root, 10)
	if err != nil || s.cpuTicks != 300 || s.rssBytes != 2048*1024 || s.anonBytes != 1536*1024 {
		t.Fatalf("readProc = %+v, %v; want 300 ticks, 2 MiB resident, 1.5 MiB anonymous", s, err)
	}
	if _, err := readProc(root, 99); err == nil {
		t.Fatal("readProc of a missing pid: no error")
	}
}

func TestSummarizeProc(t *testing.T) {
	const mib = 1 << 20
	w := window{start: at(0), end: at(2000)}
	samples := []procSample{
		{at(-1000), 0, 1 * mib, 1 * mib}, // before the window: ignored
		{at(0), 100, 10 * mib, 8 * mib},
		{at(1000), 150, 40 * mib, 12 * mib},
		{at(2000), 300, 30 * mib, 25 * mib},
		{at(3000), 900, 99 * mib, 90 * mib}, // after: ignored
	}
	got := summarizeProc("node0", 7, samples, w)
	want := ProcStats{Name: "node0", PID: 7, CPUPercent: 100, RSSStartMB: 10, RSSMidMB: 40, RSSEndMB: 30, RSSMaxMB: 40,
		RSSAnonMaxMB: 25, RSSFileMaxMB: 28, Samples: 3}
	if got != want {
		t.Fatalf("summarizeProc = %+v\nwant %+v", got, want)
	}
	none := summarizeProc("node1", 8, samples[:1], w)
	if none.Error != "no samples in the measured window" || none.Samples != 0 {
		t.Fatalf("no samples: %+v", none)
	}
}

func TestProcWatch(t *testing.T) {
	root := fakeProc(t, map[int][]string{10: {"bafomet", "start", "--home", "/n"}})
	w := newProcWatch(root, []string{"node0", "node1", "gone"}, []int{10, 0, 77})
	w.sample()
	time.Sleep(5 * time.Millisecond)
	w.sample()
	stats := w.stats(window{start: time.Now().Add(-time.Minute), end: time.Now().Add(time.Minute)})
	if stats[0].Samples != 2 || stats[0].Error != "" || stats[0].RSSEndMB != 2 || stats[0].CPUPercent != 0 {
		t.Errorf("node0 = %+v; want 2 samples, 2 MB, 0%% CPU (ticks unchanged)", stats[0])
	}
	if stats[1].Error != "process id unknown" {
		t.Errorf("node1 = %+v; want process id unknown", stats[1])
	}
	if !strings.Contains(stats[2].Error, "read stat of pid 77") {
		t.Errorf("gone = %+v; want a read error", stats[2])
	}
}

func TestIsStartOf(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want bool
	}{
		{[]string{"bafomet", "start", "--home", "/h"}, true},
		{[]string{"bafomet", "start", "-home", "/h"}, true},
		{[]string{"bafomet", "start", "--home"}, false},
		{[]string{"bafomet", "--home", "/h", "start"}, false},
		{[]string{"bafomet", "start", "--home", "/h2"}, false},
	} {
		if got := isStartOf(tt.args, "/h"); got != tt.want {
			t.Errorf("isStartOf(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}
