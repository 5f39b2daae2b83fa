package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat; it
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// procSample is one reading of a process's CPU time and resident memory.
type procSample struct {
	at       time.Time
	cpuTicks uint64 // utime + stime
	rssBytes uint64
	// anonBytes is the anonymous part of rssBytes (RssAnon: the Go heap,
	// stacks, C allocations); the rest is file-backed pages the process
	// has mapped, such as Badger's memory-mapped tables and logs, which
	// the kernel can reclaim. 0 when the kernel does not report it.
	anonBytes uint64
}

// readProc reads /proc/PID/stat and /proc/PID/status under root (normally
// "/proc").
func readProc(root string, pid int) (procSample, error) {
	dir := filepath.Join(root, strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return procSample{}, fmt.Errorf("read stat of pid %d: %w", pid, err)
	}
	ticks, err := parseStatCPU(stat)
	if err != nil {
		return procSample{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return procSample{}, fmt.Errorf("read status of pid %d: %w", pid, err)
	}
	rss, err := parseStatusKB(status, "VmRSS")
	if err != nil {
		return procSample{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	anon, err := parseStatusKB(status, "RssAnon")
	if err != nil && !errors.Is(err, errNoStatusLine) {
		return procSample{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	return procSample{at: time.Now(), cpuTicks: ticks, rssBytes: rss, anonBytes: anon}, nil
}

// parseStatCPU returns utime + stime (fields 14 and 15) of a
// /proc/PID/stat line. The command name (field 2) is in parentheses and may
// hold spaces, so fields are counted after its closing parenthesis.
func parseStatCPU(stat []byte) (uint64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat: no command name")
	}
	fields := strings.Fields(string(stat[i+1:])) // fields[0] is field 3 (state)
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("stat: %d fields after the command name, want at least %d", len(fields), stime+1)
	}
	u, err := strconv.ParseUint(fields[utime], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat utime: %w", err)
	}
	s, err := strconv.ParseUint(fields[stime], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat stime: %w", err)
	}
	return u + s, nil
}

// errNoStatusLine: /proc/PID/status has no line of that name (RssAnon
// needs Linux 4.5).
var errNoStatusLine = errors.New("status: no such line")

// parseStatusKB returns the named "<n> kB" value of /proc/PID/status (VmRSS,
// RssAnon) in bytes.
func parseStatusKB(status []byte, name string) (uint64, error) {
	for line := range strings.SplitSeq(string(status), "\n") {
		rest, ok := strings.CutPrefix(line, name+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("status: %s %q: want \"<n> kB\"", name, strings.TrimSpace(rest))
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("status %s: %w", name, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("%w: %s", errNoStatusLine, name)
}

// FindNodePID returns the id of the process under root (normally "/proc")
// whose command line is `… start --home HOME` (or --home=HOME) for the node
// home dir, or 0 when there is none.
func FindNodePID(root, home string) (int, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", root, err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !e.IsDir() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(root, e.Name(), "cmdline"))
		if err != nil {
			continue // gone, or not ours to read
		}
		if isStartOf(strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00"), home) {
			return pid, nil
		}
	}
	return 0, nil
}

// isStartOf reports whether args run the start command for home.
func isStartOf(args []string, home string) bool {
	start := false
	for i, a := range args {
		switch {
		case a == "start":
			start = true
		case start && (a == "--home" || a == "-home") && i+1 < len(args):
			return filepath.Clean(args[i+1]) == filepath.Clean(home)
		case start && (a == "--home="+home || a == "-home="+home):
			return true
		}
	}
	return false
}

// ProcStats is one process's resource use over the measured window. CPU is
// in percent of one core (200 = both cores of a 2-core machine busy).
type ProcStats struct {
	Name       string  `json:"name"`
	PID        int     `json:"pid"`
	CPUPercent float64 `json:"cpu_percent"`
	RSSStartMB float64 `json:"rss_start_mb"`
	RSSMidMB   float64 `json:"rss_mid_mb"`
	RSSEndMB   float64 `json:"rss_end_mb"`
	RSSMaxMB   float64 `json:"rss_max_mb"`
	// RSSAnonMaxMB and RSSFileMaxMB split the resident memory: the most
	// anonymous memory (Go heap, stacks, C allocations) and the most
	// file-backed pages (Badger's memory-mapped files, reclaimable by the
	// kernel) seen in any sample. Absent when the kernel does not report
	// RssAnon.
	RSSAnonMaxMB float64 `json:"rss_anon_max_mb,omitempty"`
	RSSFileMaxMB float64 `json:"rss_file_max_mb,omitempty"`
	Samples      int     `json:"samples"`
	Error        string  `json:"error,omitempty"`
}

// summarizeProc computes CPU and RSS over the samples taken in w (both
// ends included). It needs two samples for CPU.
func summarizeProc(name string, pid int, samples []procSample, w window) ProcStats {
	st := ProcStats{Name: name, PID: pid}
	var in []procSample
	for _, s := range samples {
		if !s.at.Before(w.start) && !s.at.After(w.end) {
			in = append(in, s)
		}
	}
	st.Samples = len(in)
	if len(in) == 0 {
		st.Error = "no samples in the measured window"
		return st
	}
	first, last := in[0], in[len(in)-1]
	if dt := last.at.Sub(first.at); dt > 0 {
		cpu := float64(last.cpuTicks-first.cpuTicks) / clockTicks
		st.CPUPercent = round3(100 * cpu / dt.Seconds())
	}
	mid := first.at.Add(last.at.Sub(first.at) / 2)
	midSample := in[0]
	for _, s := range in {
		if s.at.After(mid) {
			break
		}
		midSample = s
	}
	var peak, anon, file uint64
	for _, s := range in {
		peak = max(peak, s.rssBytes)
		if s.anonBytes > 0 {
			anon, file = max(anon, s.anonBytes), max(file, s.rssBytes-min(s.rssBytes, s.anonBytes))
		}
	}
	st.RSSStartMB, st.RSSMidMB, st.RSSEndMB, st.RSSMaxMB = mb(first.rssBytes), mb(midSample.rssBytes), mb(last.rssBytes), mb(peak)
	st.RSSAnonMaxMB, st.RSSFileMaxMB = mb(anon), mb(file)
	return st
}

func mb(b uint64) float64 { return round3(float64(b) / (1 << 20)) }

// procWatch samples a fixed set of processes; safe for concurrent use.
type procWatch struct {
	root    string
	names   []string
	pids    []int
	mu      sync.Mutex
	samples [][]procSample
	errs    []error
}

func newProcWatch(root string, names []string, pids []int) *procWatch {
	return &procWatch{root: root, names: names, pids: pids, samples: make([][]procSample, len(pids)), errs: make([]error, len(pids))}
}

// sample reads every process once; a process that cannot be read keeps
// its last error.
func (w *procWatch) sample() {
	for i, pid := range w.pids {
		if pid <= 0 {
			continue
		}
		s, err := readProc(w.root, pid)
		w.mu.Lock()
		if err != nil {
			w.errs[i] = err
		} else {
			w.samples[i] = append(w.samples[i], s)
		}
		w.mu.Unlock()
	}
}

// stats summarises every process over win.
func (w *procWatch) stats(win window) []ProcStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]ProcStats, len(w.pids))
	for i, pid := range w.pids {
		if pid <= 0 {
			out[i] = ProcStats{Name: w.names[i], Error: "process id unknown"}
			continue
		}
		out[i] = summarizeProc(w.names[i], pid, w.samples[i], win)
		if w.errs[i] != nil && out[i].Samples < 2 {
			out[i].Error = w.errs[i].Error()
		}
	}
	return out
}
