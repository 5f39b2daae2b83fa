package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The docker fault-injection run (docker_test.go) is configured through
// the environment, which `make e2e` sets:
//
//	BAFOMET_E2E_DOCKER=1          enable the run (otherwise it is skipped)
//	BAFOMET_E2E_IMAGE=bafomet:dev the node image
//	BAFOMET_E2E_SEED=N            random perturbation sequence from seed N
//	BAFOMET_E2E_DURATION=30m      run random perturbations for this long
//	BAFOMET_E2E_SEQUENCE=kill,wipe a fixed sequence of perturbation kinds
//	BAFOMET_E2E_VALIDATORS=4      validators in the compose testnet
//	BAFOMET_E2E_KEEP=1            leave the containers and files for debugging
//
// Without SEED, DURATION and SEQUENCE the run is the short fixed sequence
// dockerShortSequence.
const (
	dkEnvEnable     = "BAFOMET_E2E_DOCKER"
	dkEnvImage      = "BAFOMET_E2E_IMAGE"
	dkEnvSeed       = "BAFOMET_E2E_SEED"
	dkEnvDuration   = "BAFOMET_E2E_DURATION"
	dkEnvSequence   = "BAFOMET_E2E_SEQUENCE"
	dkEnvValidators = "BAFOMET_E2E_VALIDATORS"
	dkEnvKeep       = "BAFOMET_E2E_KEEP"

	dkDefaultImage      = "bafomet:dev"
	dkDefaultValidators = 4
	dkMaxValidators     = 16
	// dkDefaultRandomDuration is how long a seeded run lasts without DURATION.
	dkDefaultRandomDuration = 5 * time.Minute

	// dkFaultHold is how long pause, disconnect, isolate-primary and
	// partition last, and how long kill and wipe keep a node down.
	dkFaultHold = 10 * time.Second
	// dkOutageHold is how long the long outage keeps a node down.
	dkOutageHold = 45 * time.Second
	// dkRandomHoldMin and dkRandomHoldMax bound the hold the seeded
	// generator picks.
	dkRandomHoldMin = 5 * time.Second
	dkRandomHoldMax = 30 * time.Second
	// dkCommitAfterHealMax: the network commits again within this of a heal.
	dkCommitAfterHealMax = 30 * time.Second
	// dkCatchUpMax: a perturbed node catches up within this of the heal.
	dkCatchUpMax = 60 * time.Second
	// dkSettle is the load-only gap between perturbations.
	dkSettle = 3 * time.Second
)

// dkKind is a kind of perturbation.
type dkKind string

const (
	dkKill       dkKind = "kill"            // docker kill (SIGKILL), hold, docker start
	dkPause      dkKind = "pause"           // docker pause, hold, docker unpause
	dkDisconnect dkKind = "disconnect"      // docker network disconnect, hold, connect
	dkRestart    dkKind = "restart"         // SIGTERM (docker stop), docker start
	dkIsolate    dkKind = "isolate-primary" // disconnect the current primary, hold, connect
	dkWipe       dkKind = "wipe"            // stop, delete the data directory's contents, hold, start
	dkPartition  dkKind = "partition"       // cut a minority off from the majority, hold, heal
	dkOutage     dkKind = "outage"          // kill and stay down for dkOutageHold
)

// dkAllKinds is every kind, in the order of the short sequence then the
// long outage; the seeded generator draws from it.
var dkAllKinds = []dkKind{dkKill, dkPause, dkDisconnect, dkRestart, dkIsolate, dkPartition, dkWipe, dkOutage}

// dockerShortSequence is what `make e2e` runs: every kind the issue names
// once, wipe last because it depends most on block sync.
var dockerShortSequence = []dkKind{dkKill, dkPause, dkDisconnect, dkRestart, dkIsolate, dkPartition, dkWipe}

// dkStep is one planned perturbation. Nodes is empty for isolate-primary
// (the primary is found when the step runs).
type dkStep struct {
	Kind  dkKind
	Nodes []int
	Hold  time.Duration
}

func (s dkStep) String() string {
	nodes := "primary"
	if s.Kind != dkIsolate {
		parts := make([]string, len(s.Nodes))
		for i, n := range s.Nodes {
			parts[i] = "node" + strconv.Itoa(n)
		}
		nodes = strings.Join(parts, "+")
	}
	return fmt.Sprintf("%s %s %s", s.Kind, nodes, s.Hold)
}

// dkConfig is the run's configuration, read from the environment.
type dkConfig struct {
	Image      string
	Validators int
	Seed       uint64
	Random     bool          // random sequence from Seed
	Duration   time.Duration // random: run until this has passed
	Sequence   []dkKind      // fixed: these kinds in order
	Keep       bool
}

// dkParseConfig reads the configuration; getenv is os.Getenv in the test.
// now seeds a random run that names a duration but no seed.
func dkParseConfig(getenv func(string) string, now time.Time) (dkConfig, error) {
	c := dkConfig{Image: dkDefaultImage, Validators: dkDefaultValidators, Keep: getenv(dkEnvKeep) == "1"}
	if v := getenv(dkEnvImage); v != "" {
		c.Image = v
	}
	if v := getenv(dkEnvValidators); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 4 || n > dkMaxValidators {
			return c, fmt.Errorf("%s=%q: want 4 to %d (a perturbation needs f ≥ 1)", dkEnvValidators, v, dkMaxValidators)
		}
		c.Validators = n
	}
	seed, dur, seq := getenv(dkEnvSeed), getenv(dkEnvDuration), getenv(dkEnvSequence)
	if seq != "" && (seed != "" || dur != "") {
		return c, fmt.Errorf("%s is a fixed sequence; do not combine it with %s or %s", dkEnvSequence, dkEnvSeed, dkEnvDuration)
	}
	if seed != "" {
		s, err := strconv.ParseUint(seed, 10, 64)
		if err != nil {
			return c, fmt.Errorf("%s=%q: %w", dkEnvSeed, seed, err)
		}
		c.Seed, c.Random, c.Duration = s, true, dkDefaultRandomDuration
	}
	if dur != "" {
		d, err := time.ParseDuration(dur)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("%s=%q: want a positive duration such as 30m", dkEnvDuration, dur)
		}
		if !c.Random {
			c.Seed, c.Random = uint64(now.UnixNano()), true
		}
		c.Duration = d
	}
	if c.Random {
		return c, nil
	}
	c.Sequence = dockerShortSequence
	if seq != "" {
		kinds, err := dkParseKinds(seq)
		if err != nil {
			return c, err
		}
		c.Sequence = kinds
	}
	return c, nil
}

func dkParseKinds(s string) ([]dkKind, error) {
	var out []dkKind
	for _, name := range strings.Split(s, ",") {
		k := dkKind(strings.TrimSpace(name))
		known := false
		for _, a := range dkAllKinds {
			known = known || a == k
		}
		if !known {
			return nil, fmt.Errorf("%s: unknown perturbation %q (known: %v)", dkEnvSequence, k, dkAllKinds)
		}
		out = append(out, k)
	}
	return out, nil
}

// dkPlanner turns kinds into steps: which nodes, how long. A fixed
// sequence uses the standard holds; a random one draws kind, nodes and
// hold from the seed, so a run is reproduced by its seed.
type dkPlanner struct {
	rng    *rand.Rand
	n      int
	random bool
}

func newDKPlanner(seed uint64, validators int, random bool) *dkPlanner {
	return &dkPlanner{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), n: validators, random: random}
}

// next plans a step of kind k; in a random run k is ignored and drawn.
func (p *dkPlanner) next(k dkKind) dkStep {
	if p.random {
		k = dkAllKinds[p.rng.IntN(len(dkAllKinds))]
	}
	s := dkStep{Kind: k, Hold: dkFaultHold}
	if p.random {
		s.Hold = dkRandomHoldMin + time.Duration(p.rng.Int64N(int64(dkRandomHoldMax-dkRandomHoldMin)+1))
		s.Hold = s.Hold.Round(time.Second)
	}
	switch k {
	case dkIsolate:
	case dkRestart:
		s.Hold = 0 // SIGTERM, wait for the exit, start at once
		s.Nodes = []int{p.rng.IntN(p.n)}
	case dkPartition:
		s.Nodes = p.rng.Perm(p.n)[:(p.n-1)/3] // a minority of f nodes
		slices.Sort(s.Nodes)
	case dkOutage:
		s.Hold = dkOutageHold
		s.Nodes = []int{p.rng.IntN(p.n)}
	default:
		s.Nodes = []int{p.rng.IntN(p.n)}
	}
	return s
}

// dkEnabled says whether the docker run was asked for.
func dkEnabled() bool { return os.Getenv(dkEnvEnable) == "1" }
