package ordering

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Scripted interaction tests in the style of etcd-io/raft's datadriven
// tests. Each file in testdata/ is a sequence of blocks:
//
//	command args...
//	----
//	expected output (no blank lines)
//	<blank line>
//
// Lines starting with # before a command are comments. Run with -rewrite to
// regenerate the expected output after an intended behaviour change.
var rewrite = flag.Bool("rewrite", false, "rewrite testdata/*.txt with the actual output")

func TestInteraction(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runScript(t, file) })
	}
}

type scriptBlock struct {
	comments []string
	cmd      string
	expected string
	line     int
}

func parseScript(t *testing.T, text string) []scriptBlock {
	var blocks []scriptBlock
	lines := strings.Split(text, "\n")
	var cur scriptBlock
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case l == "":
		case strings.HasPrefix(l, "#"):
			cur.comments = append(cur.comments, l)
		case cur.cmd == "":
			cur.cmd, cur.line = l, i+1
			if i+1 >= len(lines) || lines[i+1] != "----" {
				t.Fatalf("line %d: command %q without ----", i+1, l)
			}
			i++
			var out []string
			for i+1 < len(lines) && lines[i+1] != "" {
				i++
				out = append(out, lines[i])
			}
			cur.expected = strings.Join(out, "\n")
			blocks = append(blocks, cur)
			cur = scriptBlock{}
		}
	}
	return blocks
}

func runScript(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blocks := parseScript(t, string(data))
	var cl *cluster
	var rewritten strings.Builder
	for _, b := range blocks {
		var out strings.Builder
		if cl != nil {
			cl.out = &out
		}
		cl = runCommand(t, cl, b.cmd, &out)
		got := strings.TrimRight(out.String(), "\n")
		if got == "" {
			got = "ok"
		}
		for _, c := range b.comments {
			rewritten.WriteString(c + "\n")
		}
		fmt.Fprintf(&rewritten, "%s\n----\n%s\n\n", b.cmd, got)
		if !*rewrite && got != b.expected {
			t.Fatalf("%s:%d: %s\n--- got:\n%s\n--- want:\n%s", file, b.line, b.cmd, got, b.expected)
		}
	}
	if *rewrite {
		if err := os.WriteFile(file, []byte(strings.TrimRight(rewritten.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// runCommand executes one script command, writing its transcript to out.
func runCommand(t *testing.T, cl *cluster, cmd string, out *strings.Builder) *cluster {
	f := strings.Fields(cmd)
	arg := func(i int) int {
		if i >= len(f) {
			t.Fatalf("%q: missing argument %d", cmd, i)
		}
		v, err := strconv.Atoi(f[i])
		if err != nil {
			t.Fatalf("%q: %v", cmd, err)
		}
		return v
	}
	nodes := func(i int) []int {
		if i < len(f) && f[i] == "all" {
			var all []int
			for j := range cl.nodes {
				all = append(all, j)
			}
			return all
		}
		return []int{arg(i)}
	}
	switch f[0] {
	case "new":
		w := uint64(1)
		if len(f) > 2 {
			w = uint64(arg(2))
		}
		cl = newCluster(t, arg(1), func(c *Config) { c.PipelineWindow = w })
		cl.out = out
	case "propose":
		count := 1
		if len(f) > 2 {
			count = arg(2)
		}
		cl.propose(arg(1), count)
	case "deliver-all":
		cl.deliverAll()
	case "tick":
		for k := 0; k < arg(2); k++ {
			cl.nowMs += 10
			for _, i := range nodes(1) {
				cl.tick(i, 1)
			}
		}
	case "pending":
		for _, i := range nodes(1) {
			cl.nodes[i].core.NotePending(f[2] == "true")
		}
	case "drop":
		var a, b int
		if _, err := fmt.Sscanf(f[1], "%d->%d", &a, &b); err != nil {
			t.Fatalf("%q: %v", cmd, err)
		}
		cl.cut[[2]int{a, b}] = true
	case "drop-type":
		cl.filter = func(e envelope) bool { return e.msg.Type.String() == f[1] }
	case "isolate":
		cl.isolate(arg(1))
	case "heal":
		cl.heal()
		cl.filter = nil
	case "crash":
		cl.nodes[arg(1)].down = true
	case "restart":
		cl.restart(arg(1))
	case "sync":
		cl.syncFrom(arg(1), arg(2), out)
	case "status":
		out.WriteString(cl.status())
	default:
		t.Fatalf("unknown command %q", cmd)
	}
	cl.checkAgreement()
	return cl
}

// syncFrom block-syncs node dst from node src up to dst's Behind height.
func (cl *cluster) syncFrom(dst, src int, out *strings.Builder) {
	c := cl.nodes[dst].core
	target := c.SoftState().Behind
	for _, cm := range cl.nodes[src].committed {
		h := cm.Block.Header.Height
		if h > c.committed && h <= target {
			if err := c.StepCertified(cm.Block, cm.Certificate); err != nil {
				fmt.Fprintf(out, "sync %d: %v\n", h, err)
			}
			cl.process(dst)
		}
	}
}
