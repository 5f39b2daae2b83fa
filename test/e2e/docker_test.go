package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
)

// dkReadyMax bounds the wait for the fresh network to connect and commit.
const dkReadyMax = 60 * time.Second

// dkResult is the outcome of one perturbation.
type dkResult struct {
	Step        dkStep
	Nodes       []int         // the nodes perturbed (the primary resolved)
	FaultFor    time.Duration // from the fault to the heal
	CommitAfter time.Duration // from the heal to the next commit
	CatchUp     time.Duration // from the heal until the perturbed nodes reached the others' height
	DuringFault int64         // blocks the unperturbed nodes committed while the fault lasted; -1 unknown
	Err         error
}

// dkRunner applies perturbations to a compose testnet under load.
type dkRunner struct {
	t    *testing.T
	d    *dkNet
	ck   *dkChecker
	load *dkLoad
}

// TestDockerFaults is the container fault-injection run of issue 9: a
// compose testnet under steady JSON-RPC load, perturbed one fault at a
// time, with the invariants checked after each recovery and at the end.
// It needs Docker, docker-compose and the image (make image); `make e2e`
// runs it. See docker_plan_test.go for the knobs.
func TestDockerFaults(t *testing.T) {
	if !dkEnabled() {
		t.Skip("docker e2e disabled; run `make e2e` or set " + dkEnvEnable + "=1")
	}
	cfg, err := dkParseConfig(os.Getenv, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := dkCheckDocker(); err != nil {
		t.Fatal(err)
	}
	if _, err := dkRun("docker", "image", "inspect", cfg.Image); err != nil {
		t.Fatalf("image %s missing (make image): %v", cfg.Image, err)
	}
	t.Logf("docker e2e: %s", dkReproduce(cfg))
	bin := dkBuildBinary(t)
	infra := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
	d := newDKNet(t, bin, cfg.Image, cfg.Validators, infra)
	r := &dkRunner{t: t, d: d}
	t.Cleanup(func() {
		if r.load != nil {
			r.load.stop()
		}
		if t.Failed() {
			r.dumpLogs()
			t.Logf("FAILED: reproduce with %s", dkReproduce(cfg))
		}
		d.down(cfg.Keep)
	})
	if r.load, err = newDKLoad(d); err != nil {
		t.Fatal(err)
	}
	r.ck = newDKChecker(r.load)
	r.load.start()
	if err := r.waitReady(); err != nil {
		t.Fatal(err)
	}
	results := r.runPlan(cfg)
	r.load.stop()
	final := r.finalCheck()
	t.Log("\n" + dkSummary(results, r.load, final))
	for _, res := range results {
		if res.Err != nil {
			t.Errorf("%s: %v", res.Step, res.Err)
		}
	}
	if final != nil {
		t.Errorf("final check: %v", final)
	}
}

// dkReproduce is the command that repeats this run.
func dkReproduce(cfg dkConfig) string {
	if cfg.Random {
		return fmt.Sprintf("make e2e SEED=%d DURATION=%s (random sequence, %d validators)", cfg.Seed, cfg.Duration, cfg.Validators)
	}
	kinds := make([]string, len(cfg.Sequence))
	for i, k := range cfg.Sequence {
		kinds[i] = string(k)
	}
	return fmt.Sprintf("%s=1 %s=%s go test ./test/e2e -run TestDockerFaults -v (fixed sequence, %d validators)",
		dkEnvEnable, dkEnvSequence, strings.Join(kinds, ","), cfg.Validators)
}

// waitReady waits until the load has committed a block on every node.
func (r *dkRunner) waitReady() error {
	start := time.Now()
	if _, err := r.ck.waitCatchUp(dkAll(len(r.d.m.Nodes)), 1, dkReadyMax); err != nil {
		return fmt.Errorf("network not committing %s after start: %w", dkReadyMax, err)
	}
	r.t.Logf("network committing after %s", time.Since(start).Round(time.Millisecond))
	return nil
}

func dkAll(n int) []int {
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	return all
}

// runPlan applies the fixed sequence, or random steps until the duration
// has passed. It stops early after a failed step, whose fault may still
// be in place.
func (r *dkRunner) runPlan(cfg dkConfig) []dkResult {
	p := newDKPlanner(cfg.Seed, cfg.Validators, cfg.Random)
	var results []dkResult
	deadline := time.Now().Add(cfg.Duration)
	for i := 0; ; i++ {
		var step dkStep
		switch {
		case cfg.Random && time.Now().After(deadline):
			return results
		case cfg.Random:
			step = p.next("")
		case i == len(cfg.Sequence):
			return results
		default:
			step = p.next(cfg.Sequence[i])
		}
		time.Sleep(dkSettle)
		res := r.apply(step)
		r.t.Logf("%-28s fault %6s  blocks during %4d  commit after heal %6s  caught up %6s  %v", step, dkRound(res.FaultFor),
			res.DuringFault, dkRound(res.CommitAfter), dkRound(res.CatchUp), dkErrText(res.Err))
		results = append(results, res)
		if res.Err != nil {
			return results
		}
	}
}

// apply runs one perturbation and its recovery check.
func (r *dkRunner) apply(s dkStep) dkResult {
	res := dkResult{Step: s, Nodes: s.Nodes}
	if s.Kind == dkIsolate {
		p, err := r.ck.primary(r.addrs())
		if err != nil {
			res.Err = err
			return res
		}
		res.Nodes = []int{p}
	}
	fault, heal := r.actions(s.Kind, res.Nodes)
	before := r.othersTop(res.Nodes)
	start := time.Now()
	if err := fault(); err != nil {
		res.Err = fmt.Errorf("apply: %w", err)
		return res
	}
	time.Sleep(s.Hold)
	res.DuringFault = -1
	if after := r.othersTop(res.Nodes); before >= 0 && after >= 0 {
		res.DuringFault = after - before
	}
	if err := heal(); err != nil {
		res.Err = fmt.Errorf("heal: %w", err)
		return res
	}
	res.FaultFor = time.Since(start)
	res.CommitAfter, res.CatchUp, res.Err = r.recover(res.Nodes)
	return res
}

// actions returns the fault and the heal of a kind on nodes.
func (r *dkRunner) actions(k dkKind, nodes []int) (fault, heal func() error) {
	each := func(f func(int) error) func() error {
		return func() error {
			for _, i := range nodes {
				if err := f(i); err != nil {
					return err
				}
			}
			return nil
		}
	}
	d := r.d
	switch k {
	case dkKill, dkOutage:
		return each(d.kill), each(d.start)
	case dkPause:
		return each(d.pause), each(d.unpause)
	case dkDisconnect, dkIsolate:
		return each(d.disconnect), each(d.connect)
	case dkRestart:
		return each(d.stop), each(d.start)
	case dkWipe:
		return each(func(i int) error {
			if err := d.stop(i); err != nil {
				return err
			}
			r.ck.reset(i)
			return d.wipe(i)
		}), each(d.start)
	case dkPartition:
		majority := slices.DeleteFunc(dkAll(len(d.m.Nodes)), func(i int) bool { return slices.Contains(nodes, i) })
		return each(func(i int) error { return d.partition(i, majority, true) }),
			each(func(i int) error { return d.partition(i, majority, false) })
	}
	bad := func() error { return fmt.Errorf("unknown perturbation %q", k) }
	return bad, bad
}

// othersTop is the highest height among the nodes not in nodes, -1 when
// none answers.
func (r *dkRunner) othersTop(nodes []int) int64 {
	hs, ok := r.ck.heights()
	top := int64(-1)
	for i, h := range hs {
		if ok[i] && !slices.Contains(nodes, i) {
			top = max(top, int64(h))
		}
	}
	return top
}

// recover waits for the network to commit again and the perturbed nodes
// to catch up, both timed from the heal, then checks the invariants.
func (r *dkRunner) recover(nodes []int) (commitAfter, catchUp time.Duration, err error) {
	healed := time.Now()
	hs, ok := r.ck.heights()
	var baseline, target uint64
	for i, h := range hs {
		if !ok[i] {
			continue
		}
		baseline = max(baseline, h)
		if !slices.Contains(nodes, i) {
			target = max(target, h)
		}
	}
	commitAfter, catchUp, err = r.ck.waitRecovery(healed, baseline, nodes, target)
	if err != nil {
		return commitAfter, catchUp, err
	}
	return commitAfter, catchUp, r.ck.check()
}

// finalCheck waits for every node to reach the highest height, then
// checks the invariants over the whole chain.
func (r *dkRunner) finalCheck() error {
	hs, ok := r.ck.heights()
	var top uint64
	for i, h := range hs {
		if ok[i] {
			top = max(top, h)
		}
	}
	if _, err := r.ck.waitCatchUp(dkAll(len(hs)), top, dkCatchUpMax); err != nil {
		return err
	}
	return r.ck.check()
}

func (r *dkRunner) addrs() []string {
	out := make([]string, len(r.d.m.Nodes))
	for i, n := range r.d.m.Nodes {
		out[i] = n.Address
	}
	return out
}

func (r *dkRunner) dumpLogs() {
	for i := range r.d.ids {
		r.t.Logf("--- node%d log (last %s lines) ---\n%s", i, dkLogTail, r.d.logs(i))
	}
}

func dkRound(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(100 * time.Millisecond).String()
}

func dkErrText(err error) string {
	if err == nil {
		return "ok"
	}
	return "FAIL: " + err.Error()
}

// dkSummary is the table of recovery times printed at the end of a run.
func dkSummary(results []dkResult, l *dkLoad, final error) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "#\tperturbation\tnodes\thold\tfault\tblocks during fault\tcommit after heal\tcaught up\tresult")
	for i, res := range results {
		nodes := make([]string, len(res.Nodes))
		for k, n := range res.Nodes {
			nodes[k] = fmt.Sprintf("node%d", n)
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", i+1, res.Step.Kind, strings.Join(nodes, "+"),
			dkRound(res.Step.Hold), dkRound(res.FaultFor), res.DuringFault, dkRound(res.CommitAfter), dkRound(res.CatchUp), dkErrText(res.Err))
	}
	w.Flush()
	committed := len(l.snapshot())
	fmt.Fprintf(&b, "transactions committed (seen by the client): %d; sends %d, failed sends %d, resends %d\n",
		committed, l.sent.Load(), l.sendFails.Load(), l.resends.Load())
	fmt.Fprintf(&b, "final invariants: %s\n", dkErrText(final))
	return b.String()
}
