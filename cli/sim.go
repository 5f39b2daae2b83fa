package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/bafomet/bafomet/ordering/sim"
)

func init() {
	register(&command{
		name:    "sim",
		summary: "run the seeded PBFT simulator and check its invariants",
		run:     runSim,
	})
}

// MaxSeedRange bounds how many seeds one --seeds range may name.
const MaxSeedRange = 1_000_000

// simArgs are the parsed flags of `bafomet sim`.
type simArgs struct {
	cfg      sim.Config
	first    uint64
	last     uint64
	json     bool
	parallel int
}

var errSimUsage = errors.New("bad arguments")

func parseSimArgs(args []string, stderr io.Writer) (*simArgs, error) {
	fs := flag.NewFlagSet("bafomet sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Uint64("seed", 1, "the seed of a single run")
	seeds := fs.String("seeds", "", "an inclusive range of seeds A..B (instead of --seed)")
	nodes := fs.Int("nodes", 4, "number of validators n")
	byz := fs.Int("byzantine", 0, "number of Byzantine validators (at most f = ⌊(n-1)/3⌋)")
	blocks := fs.Uint64("blocks", 20, "height every honest node must reach")
	faults := fs.String("faults", "", "comma-separated faults: "+strings.Join(sim.FaultNames(), ", ")+"; all (every one) or none\n(default: net,crash,skew,slow plus byzantine when --byzantine > 0)")
	asJSON := fs.Bool("json", false, "print one JSON object per seed")
	weaken := fs.Bool("weaken-quorum", false, "TEST ONLY: lower the quorum to f+1 to show the checkers catch a fork")
	revert := fs.String("revert", "", "TEST ONLY: switch fixes off to show the checkers catch their defects: "+strings.Join(sim.RevertNames(), ", "))
	parallel := fs.Int("parallel", runtime.NumCPU(), "seeds run at once in a range")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%w: %w", errSimUsage, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q", errSimUsage, fs.Arg(0))
	}
	a := &simArgs{json: *asJSON, parallel: *parallel, first: *seed, last: *seed}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["seeds"] {
		if set["seed"] {
			return nil, fmt.Errorf("%w: --seed and --seeds are exclusive", errSimUsage)
		}
		first, last, err := parseSeedRange(*seeds)
		if err != nil {
			return nil, err
		}
		a.first, a.last = first, last
	}
	if a.parallel < 1 {
		return nil, fmt.Errorf("%w: --parallel %d (want ≥ 1)", errSimUsage, a.parallel)
	}
	f := sim.DefaultFaults(*byz)
	if set["faults"] {
		var err error
		if f, err = sim.ParseFaults(*faults); err != nil {
			return nil, fmt.Errorf("%w: %w", errSimUsage, err)
		}
	}
	reverts, err := sim.ParseReverts(*revert)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errSimUsage, err)
	}
	a.cfg = sim.Config{Nodes: *nodes, Byzantine: *byz, Blocks: *blocks, Faults: f, WeakenQuorum: *weaken, Revert: reverts}
	if err := a.cfg.WithDefaults().Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", errSimUsage, err)
	}
	return a, nil
}

// parseSeedRange parses "A..B" with A ≤ B and at most MaxSeedRange seeds.
func parseSeedRange(s string) (uint64, uint64, error) {
	lo, hi, ok := strings.Cut(s, "..")
	if !ok {
		return 0, 0, fmt.Errorf("%w: --seeds %q is not a range A..B", errSimUsage, s)
	}
	first, err1 := strconv.ParseUint(lo, 10, 64)
	last, err2 := strconv.ParseUint(hi, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("%w: --seeds %q: bounds must be non-negative integers", errSimUsage, s)
	}
	if first > last {
		return 0, 0, fmt.Errorf("%w: --seeds %q: %d > %d", errSimUsage, s, first, last)
	}
	if last-first >= MaxSeedRange {
		return 0, 0, fmt.Errorf("%w: --seeds %q names more than %d seeds", errSimUsage, s, MaxSeedRange)
	}
	return first, last, nil
}

// runSim is `bafomet sim`: exit 0 when every invariant holds for every
// seed, 1 when one is violated (or the simulator fails), 2 on bad
// arguments.
func runSim(args []string, stdout, stderr io.Writer) int {
	a, err := parseSimArgs(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "bafomet sim: %v\n", err)
		}
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	failing := 0
	single := a.first == a.last
	runSeeds(a, func(seed uint64, r *sim.Result, err error) {
		if err != nil {
			failing++
			fmt.Fprintf(stderr, "seed %d: simulator failure: %v\n", seed, err)
			return
		}
		printResult(a, single, r, stdout)
		if !r.OK() {
			failing++
			fmt.Fprintf(stderr, "seed %d: %s\n", seed, r.Violations[0])
		}
	})
	if !single && !a.json {
		fmt.Fprintf(stdout, "%d seeds (%d..%d), %d failing\n", a.last-a.first+1, a.first, a.last, failing)
	}
	if failing > 0 {
		return 1
	}
	return 0
}

func printResult(a *simArgs, single bool, r *sim.Result, w io.Writer) {
	switch {
	case a.json:
		_ = r.WriteJSON(w)
	case single || !r.OK():
		_ = r.WriteText(w)
	default:
		fmt.Fprintf(w, "seed %d: ok, heights %v, view changes %d, ticks %d\n", r.Seed, r.CommittedHeights, r.ViewChanges, r.Ticks)
	}
}

// runSeeds runs every seed of the range on a.parallel workers and reports
// the results in seed order, so output does not depend on scheduling.
func runSeeds(a *simArgs, report func(uint64, *sim.Result, error)) {
	type outcome struct {
		r   *sim.Result
		err error
	}
	count := a.last - a.first + 1
	window := uint64(4 * a.parallel) // results held at once, bounding memory
	for base := uint64(0); base < count; base += window {
		n := min(window, count-base)
		out := make([]outcome, n)
		var wg sync.WaitGroup
		next := make(chan uint64)
		for range min(uint64(a.parallel), n) {
			wg.Go(func() {
				for i := range next {
					cfg := a.cfg
					cfg.Seed = a.first + base + i
					r, err := sim.Run(cfg, sim.Options{})
					out[i] = outcome{r, err}
				}
			})
		}
		for i := range n {
			next <- i
		}
		close(next)
		wg.Wait()
		for i, o := range out {
			report(a.first+base+uint64(i), o.r, o.err)
		}
	}
}
