package sim

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bafomet/bafomet/ordering"
)

var rewrite = flag.Bool("rewrite", false, "rewrite testdata/scenarios transcripts with the actual output")

// Scripted interaction scenarios, in the style of etcd-io/raft's
// datadriven tests: each file in testdata/scenarios is a series of
// commands, each followed by "----" and its expected output. Run with
// -rewrite after an intended change of behaviour, and read the diff.
//
// Commands:
//
//	new nodes=N [seed=S]          a healthy network of N validators
//	drop type=T [from=I] [to=J] [view=V]  lose messages of type T (by validator index, view)
//	undrop                        stop losing messages
//	tick K                        run K ticks
//	run-until height=H [max=T]    tick until every running honest node reaches H
//	crash I / restart I           crash or restart validator I
//	partition G0 G1 …             put validator i in group Gi
//	heal                          one group again
//	status                        height, view and primary of every node
//	block H                       who proposed the block at H, in which view it was certified
//	check                         the invariant violations so far
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/scenarios/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runScenario(t, file) })
	}
}

type scriptCase struct {
	cmd, want string
}

func parseScenario(t *testing.T, text string) (header string, cases []scriptCase) {
	t.Helper()
	blocks := strings.Split(strings.TrimSpace(text), "\n\n")
	for _, b := range blocks {
		var cmdLines []string
		lines := strings.Split(b, "\n")
		i := 0
		for ; i < len(lines) && lines[i] != "----"; i++ {
			if strings.HasPrefix(lines[i], "#") && len(cases) == 0 && len(cmdLines) == 0 {
				header += lines[i] + "\n"
				continue
			}
			cmdLines = append(cmdLines, lines[i])
		}
		if len(cmdLines) == 0 && i == len(lines) {
			continue
		}
		if i == len(lines) || len(cmdLines) != 1 {
			t.Fatalf("block %q: want one command line then ----", b)
		}
		cases = append(cases, scriptCase{cmd: cmdLines[0], want: strings.Join(lines[i+1:], "\n")})
	}
	return header, cases
}

func runScenario(t *testing.T, file string) {
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	header, cases := parseScenario(t, string(text))
	sc := &scenario{t: t}
	var out strings.Builder
	out.WriteString(header)
	for i, c := range cases {
		got := strings.TrimRight(sc.exec(c.cmd), "\n")
		if i > 0 || header != "" {
			out.WriteString("\n")
		}
		fmt.Fprintf(&out, "%s\n----\n%s\n", c.cmd, got)
		if !*rewrite && got != c.want {
			t.Fatalf("%s: %q:\n got:\n%s\nwant:\n%s", file, c.cmd, got, c.want)
		}
	}
	if *rewrite {
		if err := os.WriteFile(file, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type dropRule struct {
	typ            ordering.MsgType
	from, to, view int // -1 = any
}

type scenario struct {
	t     *testing.T
	s     *Sim
	rules []dropRule
}

func scriptArgs(fields []string) map[string]string {
	args := map[string]string{}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		args[k] = v
	}
	return args
}

func (sc *scenario) num(s string, def int) int {
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		sc.t.Fatalf("bad number %q", s)
	}
	return n
}

func (sc *scenario) exec(line string) string {
	fields := strings.Fields(line)
	args := scriptArgs(fields[1:])
	switch fields[0] {
	case "new":
		return sc.newSim(args)
	case "drop":
		return sc.addDrop(args)
	case "undrop":
		sc.rules = nil
		return "ok"
	case "tick":
		for range sc.num(fields[1], 1) {
			if !sc.s.Tick() {
				return "run stopped"
			}
		}
		return "ok"
	case "run-until":
		return sc.runUntil(uint64(sc.num(args["height"], 1)), sc.num(args["max"], 1000))
	case "crash", "restart":
		n := sc.s.nodes[sc.num(fields[1], 0)]
		if fields[0] == "crash" {
			sc.s.crash(n)
		} else {
			sc.s.restart(n)
		}
		return "ok"
	case "partition":
		groups := make([]int, len(sc.s.nodes))
		for i, g := range fields[1:] {
			groups[i] = sc.num(g, 0)
		}
		sc.s.net.partition(groups)
		return "ok"
	case "heal":
		sc.s.net.partition(make([]int, len(sc.s.nodes)))
		return "ok"
	case "status":
		return sc.status()
	case "block":
		return sc.block(uint64(sc.num(fields[1], 1)))
	case "check":
		return sc.check()
	}
	sc.t.Fatalf("unknown command %q", line)
	return ""
}

func (sc *scenario) newSim(args map[string]string) string {
	cfg := Config{Seed: uint64(sc.num(args["seed"], 1)), Nodes: sc.num(args["nodes"], 4), Blocks: 1 << 20, LivenessTicks: 1 << 30}
	s, err := New(cfg, Options{})
	if err != nil {
		sc.t.Fatal(err)
	}
	s.drop = func(from, to int, m *ordering.Message) bool {
		for _, r := range sc.rules {
			if r.typ == m.Type && (r.from < 0 || r.from == s.nodes[from].id) && (r.to < 0 || r.to == s.nodes[to].id) &&
				(r.view < 0 || uint64(r.view) == m.View) {
				return true
			}
		}
		return false
	}
	s.heal() // no phased faults: the script alone partitions and crashes
	sc.s = s
	return "ok"
}

func (sc *scenario) addDrop(args map[string]string) string {
	r := dropRule{from: sc.num(args["from"], -1), to: sc.num(args["to"], -1), view: sc.num(args["view"], -1)}
	for t := ordering.MsgPrePrepare; t <= ordering.MsgNewView; t++ {
		if t.String() == args["type"] {
			r.typ = t
		}
	}
	if r.typ == 0 {
		sc.t.Fatalf("unknown message type %q", args["type"])
	}
	sc.rules = append(sc.rules, r)
	return "ok"
}

func (sc *scenario) runUntil(h uint64, maxTicks int) string {
	for range maxTicks {
		low := true
		for _, n := range sc.s.nodes {
			if n.up && n.honest && n.store.height() < h {
				low = false
			}
		}
		if low {
			return fmt.Sprintf("reached %d", h)
		}
		if !sc.s.Tick() {
			return "run stopped"
		}
	}
	return fmt.Sprintf("not reached within %d ticks", maxTicks)
}

func (sc *scenario) status() string {
	var b strings.Builder
	for _, n := range sc.s.nodes {
		fmt.Fprintf(&b, "v%d: height %d", n.id, n.store.height())
		if !n.up {
			b.WriteString(" down\n")
			continue
		}
		fmt.Fprintf(&b, " view %d primary v%d", n.soft.View, n.soft.Primary)
		if n.soft.InViewChange {
			b.WriteString(" changing-view")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func (sc *scenario) block(h uint64) string {
	var b strings.Builder
	holders := 0
	for _, n := range sc.s.nodes {
		if n.store.height() < h {
			continue
		}
		blk, cert := n.store.blocks[h-1], n.store.certs[h-1]
		if holders == 0 {
			id, _ := sc.s.vs.IndexOf(blk.Header.Proposer)
			fmt.Fprintf(&b, "height %d proposed by v%d, certified in view %d", h, id, cert.View)
		}
		holders++
	}
	if holders == 0 {
		return fmt.Sprintf("height %d committed nowhere", h)
	}
	fmt.Fprintf(&b, ", held by %d", holders)
	return b.String()
}

func (sc *scenario) check() string {
	if len(sc.s.check.violations) == 0 {
		return "no violations"
	}
	var b strings.Builder
	for _, v := range sc.s.check.violations {
		fmt.Fprintf(&b, "%s: %s\n", v.Kind, v.Description)
	}
	return b.String()
}
