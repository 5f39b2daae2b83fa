package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestDockerConfig(t *testing.T) {
	now := time.Unix(0, 42)
	tests := []struct {
		name string
		env  map[string]string
		want string // fmt of the config, or the error
	}{
		{"short", nil, "image=bafomet:dev n=4 random=false seed=0 dur=0s seq=[kill pause disconnect restart isolate-primary partition wipe] keep=false"},
		{"seed", map[string]string{dkEnvSeed: "7"}, "image=bafomet:dev n=4 random=true seed=7 dur=5m0s seq=[] keep=false"},
		{"seed+duration", map[string]string{dkEnvSeed: "7", dkEnvDuration: "30m"}, "image=bafomet:dev n=4 random=true seed=7 dur=30m0s seq=[] keep=false"},
		{"duration only", map[string]string{dkEnvDuration: "1m"}, "image=bafomet:dev n=4 random=true seed=42 dur=1m0s seq=[] keep=false"},
		{"sequence", map[string]string{dkEnvSequence: "wipe, kill", dkEnvValidators: "7", dkEnvImage: "x:y", dkEnvKeep: "1"},
			"image=x:y n=7 random=false seed=0 dur=0s seq=[wipe kill] keep=true"},
		{"validators at max", map[string]string{dkEnvValidators: "16"}, "image=bafomet:dev n=16 random=false seed=0 dur=0s seq=[kill pause disconnect restart isolate-primary partition wipe] keep=false"},
		{"validators above max", map[string]string{dkEnvValidators: "17"}, `error: BAFOMET_E2E_VALIDATORS="17": want 4 to 16 (a perturbation needs f ≥ 1)`},
		{"validators below min", map[string]string{dkEnvValidators: "3"}, `error: BAFOMET_E2E_VALIDATORS="3": want 4 to 16 (a perturbation needs f ≥ 1)`},
		{"bad seed", map[string]string{dkEnvSeed: "x"}, `error: BAFOMET_E2E_SEED="x": strconv.ParseUint: parsing "x": invalid syntax`},
		{"bad duration", map[string]string{dkEnvDuration: "-1s"}, `error: BAFOMET_E2E_DURATION="-1s": want a positive duration such as 30m`},
		{"unknown kind", map[string]string{dkEnvSequence: "kill,nuke"}, `error: BAFOMET_E2E_SEQUENCE: unknown perturbation "nuke" (known: [kill pause disconnect restart isolate-primary partition wipe outage])`},
		{"sequence and seed", map[string]string{dkEnvSequence: "kill", dkEnvSeed: "1"}, "error: BAFOMET_E2E_SEQUENCE is a fixed sequence; do not combine it with BAFOMET_E2E_SEED or BAFOMET_E2E_DURATION"},
	}
	for _, tc := range tests {
		c, err := dkParseConfig(func(k string) string { return tc.env[k] }, now)
		got := fmt.Sprintf("image=%s n=%d random=%v seed=%d dur=%s seq=%v keep=%v", c.Image, c.Validators, c.Random, c.Seed, c.Duration, c.Sequence, c.Keep)
		if err != nil {
			got = "error: " + err.Error()
		}
		if got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestDockerPlanFixed(t *testing.T) {
	p := newDKPlanner(1, 4, false)
	var got []string
	for _, k := range dkAllKinds {
		got = append(got, p.next(k).String())
	}
	want := []string{"kill node3 10s", "pause node0 10s", "disconnect node2 10s", "restart node2 0s",
		"isolate-primary primary 10s", "partition node1 10s", "wipe node0 10s", "outage node2 45s"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("plan\n got %q\nwant %q", got, want)
	}
}

func TestDockerPlanRandom(t *testing.T) {
	plan := func(seed uint64, n int) []dkStep {
		p := newDKPlanner(seed, n, true)
		steps := make([]dkStep, 200)
		for i := range steps {
			steps[i] = p.next("")
		}
		return steps
	}
	a, b := plan(99, 7), plan(99, 7)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatal("same seed, different plans")
	}
	if fmt.Sprint(a) == fmt.Sprint(plan(100, 7)) {
		t.Fatal("different seeds, same plan")
	}
	kinds := map[dkKind]int{}
	for _, s := range a {
		kinds[s.Kind]++
		switch s.Kind {
		case dkIsolate:
			if len(s.Nodes) != 0 {
				t.Errorf("%s: nodes chosen before the primary is known", s)
			}
		case dkPartition:
			if len(s.Nodes) != 2 || s.Nodes[0] >= s.Nodes[1] || s.Nodes[1] >= 7 {
				t.Errorf("%s: want a sorted minority of f=2 of 7", s)
			}
		default:
			if len(s.Nodes) != 1 || s.Nodes[0] < 0 || s.Nodes[0] >= 7 {
				t.Errorf("%s: want one node of 7", s)
			}
		}
		switch {
		case s.Kind == dkOutage && s.Hold != dkOutageHold,
			s.Kind == dkRestart && s.Hold != 0,
			s.Kind != dkOutage && s.Kind != dkRestart && (s.Hold < dkRandomHoldMin || s.Hold > dkRandomHoldMax || s.Hold%time.Second != 0):
			t.Errorf("%s: hold out of range", s)
		}
	}
	if len(kinds) != len(dkAllKinds) {
		t.Errorf("200 random steps drew only %v", kinds)
	}
}
