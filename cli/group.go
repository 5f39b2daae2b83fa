package cli

import (
	"fmt"
	"io"
	"sort"

	"github.com/bafomet/bafomet/chain"
)

// group is a command with subcommands ("keys new", "keys show").
type group struct {
	name string
	subs map[string]*command
}

var groups = map[string]*group{}

// registerSub adds c as a subcommand of the group name, registering the
// group itself on first use. Any file may add to a group from init (for
// example "tx send" beside "tx sign").
func registerSub(name, summary string, c *command) {
	g, ok := groups[name]
	if !ok {
		g = &group{name: name, subs: map[string]*command{}}
		groups[name] = g
		register(&command{name: name, summary: summary, runApps: g.run})
	}
	if _, dup := g.subs[c.name]; dup {
		panic("bafomet: duplicate command " + name + " " + c.name)
	}
	g.subs[c.name] = c
}

func (g *group) run(reg chain.Apps, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		g.usage(stderr)
		return exitUsage
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		g.usage(stdout)
		return exitOK
	}
	c, ok := g.subs[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "bafomet %s: unknown command %q\n\n", g.name, args[0])
		g.usage(stderr)
		return exitUsage
	}
	return c.exec(reg, args[1:], stdout, stderr)
}

func (g *group) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: bafomet %s <command> [flags]\n\ncommands:\n", g.name)
	names := make([]string, 0, len(g.subs))
	for n := range g.subs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, g.subs[n].summary)
	}
	fmt.Fprintf(w, "\nRun 'bafomet %s <command> --help' for a command's flags.\n", g.name)
}
