package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/bafomet/bafomet/ordering/sim"
)

func runSimArgs(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(append([]string{"sim"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestSimBadArgumentsExit2(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // substring of stderr
	}{
		{"B > f", []string{"--nodes", "4", "--byzantine", "2"}, "Byzantine"},
		{"N < 1", []string{"--nodes", "0"}, "nodes"},
		{"unknown fault", []string{"--faults", "net,meteor"}, "unknown fault"},
		{"malformed range", []string{"--seeds", "5"}, "not a range"},
		{"reversed range", []string{"--seeds", "9..3"}, "9 > 3"},
		{"non-numeric range", []string{"--seeds", "a..b"}, "integers"},
		{"range too long", []string{"--seeds", fmt.Sprintf("1..%d", MaxSeedRange+1)}, "more than"},
		{"seed and seeds", []string{"--seed", "1", "--seeds", "1..2"}, "exclusive"},
		{"zero blocks", []string{"--blocks", "0"}, "blocks"},
		{"unknown flag", []string{"--quorum", "1"}, "flag provided but not defined"},
		{"stray argument", []string{"extra"}, "unexpected argument"},
		{"byzantine without a byzantine fault", []string{"--byzantine", "1", "--faults", "net"}, "byzantine, withhold or twins"},
		{"zero parallel", []string{"--parallel", "0"}, "parallel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runSimArgs(tt.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2 (stdout %q, stderr %q)", code, out, errs)
			}
			if !strings.Contains(errs, tt.want) {
				t.Fatalf("stderr %q lacks %q", errs, tt.want)
			}
		})
	}
}

func TestSimHealthyExit0(t *testing.T) {
	code, out, errs := runSimArgs("--seed", "3", "--nodes", "4", "--byzantine", "1", "--blocks", "10", "--faults", "net,crash,byzantine")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	for _, want := range []string{"seed 3: nodes 4 byzantine 1", "faults net,crash,byzantine", "committed heights", "view changes", "messages sent", "violations: none"} {
		if !strings.Contains(out, want) {
			t.Fatalf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestSimJSONContract(t *testing.T) {
	code, out, errs := runSimArgs("--seeds", "1..2", "--nodes", "4", "--blocks", "5", "--json")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d JSON lines, want one per seed:\n%s", len(lines), out)
	}
	for i, line := range lines {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if got := string(obj["seed"]); got != fmt.Sprint(i+1) {
			t.Fatalf("line %d seed %s, want %d", i, got, i+1)
		}
		if got := string(obj["violations"]); got != "[]" {
			t.Fatalf("line %d violations %s, want []", i, got)
		}
		var minH uint64
		if err := json.Unmarshal(obj["min_committed_height"], &minH); err != nil || minH < 5 {
			t.Fatalf("line %d min_committed_height %s (%v), want ≥ 5", i, obj["min_committed_height"], err)
		}
	}
}

func TestSimSameSeedSameOutput(t *testing.T) {
	args := []string{"--seed", "21", "--nodes", "4", "--byzantine", "1", "--blocks", "10"}
	_, a, _ := runSimArgs(args...)
	_, b, _ := runSimArgs(args...)
	if a != b || a == "" {
		t.Fatalf("same seed, different output:\n%s\n%s", a, b)
	}
}

// TestSimViolationExit1 finds a seed the weakened quorum forks (through
// the package, so the test does not depend on which seed that is), then
// checks the command exits 1 naming the seed and the first violation.
func TestSimViolationExit1(t *testing.T) {
	var seed uint64
	for s := uint64(1); s <= 300 && seed == 0; s++ {
		r, err := sim.Run(sim.Config{Seed: s, Nodes: 4, Byzantine: 1, Blocks: 20, Faults: sim.DefaultFaults(1), WeakenQuorum: true}, sim.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK() {
			seed = s
		}
	}
	if seed == 0 {
		t.Fatal("no seed in 1..300 violates an invariant with a weakened quorum")
	}
	code, out, errs := runSimArgs("--seed", fmt.Sprint(seed), "--nodes", "4", "--byzantine", "1", "--blocks", "20", "--weaken-quorum", "--json")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (stderr %q)", code, errs)
	}
	if !strings.HasPrefix(errs, fmt.Sprintf("seed %d: ", seed)) || !strings.Contains(errs, "violation at seed") {
		t.Fatalf("stderr %q does not name the seed and the first violation", errs)
	}
	var r sim.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Violations) == 0 || !r.WeakenQuorum {
		t.Fatalf("JSON %s lacks the violation or the weakened flag", out)
	}
}

func TestParseSeedRangeLimits(t *testing.T) {
	tests := []struct {
		in          string
		first, last uint64
		ok          bool
	}{
		{"1..1", 1, 1, true},
		{"0..9", 0, 9, true},
		{fmt.Sprintf("1..%d", MaxSeedRange), 1, MaxSeedRange, true},
		{fmt.Sprintf("0..%d", MaxSeedRange), 0, 0, false},
		{"-1..3", 0, 0, false},
		{"1...3", 0, 0, false},
	}
	for _, tt := range tests {
		first, last, err := parseSeedRange(tt.in)
		if (err == nil) != tt.ok || first != tt.first || last != tt.last {
			t.Fatalf("parseSeedRange(%q) = %d, %d, %v", tt.in, first, last, err)
		}
	}
}

func TestSimRangeOutputIndependentOfParallelism(t *testing.T) {
	args := []string{"--seeds", "1..4", "--nodes", "4", "--byzantine", "1", "--blocks", "6", "--json"}
	c1, a, _ := runSimArgs(append(args, "--parallel", "1")...)
	c3, b, _ := runSimArgs(append(args, "--parallel", "3")...)
	if c1 != c3 || a != b || strings.Count(a, "\n") != 4 {
		t.Fatalf("parallel 1 (exit %d) and 3 (exit %d) differ:\n%s\n%s", c1, c3, a, b)
	}
}

// TestSimAllFaults runs `--faults all`, which names every fault class,
// exec among them.
func TestSimAllFaults(t *testing.T) {
	code, out, errs := runSimArgs("--seed", "2", "--nodes", "4", "--byzantine", "1", "--blocks", "8", "--faults", "all")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	if want := "faults " + sim.FaultAll.String(); !strings.Contains(out, want) || !strings.Contains(out, "exec") {
		t.Fatalf("summary lacks %q:\n%s", want, out)
	}
}
