// Package cli is the bafomet command line as a library: it runs
// validators, generates keys, genesis files and testnets, signs
// transactions, and runs the consensus simulator and benchmarks. The
// bafomet binary is Main with the built-in applications; a node binary with
// applications of its own calls Main with its registry
// (examples/counter/cmd/counterd, docs/applications.md).
package cli

import (
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/apps"
)

// command is one subcommand. run returns the process exit code: 0 on
// success, 1 on any error (bad command line included); bafomet sim alone
// returns 2 on bad arguments, as its contract says.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
	// runApps replaces run for the commands that need the application
	// registry.
	runApps func(reg chain.Apps, args []string, stdout, stderr io.Writer) int
}

func (c *command) exec(reg chain.Apps, args []string, stdout, stderr io.Writer) int {
	if c.runApps != nil {
		return c.runApps(reg, args, stdout, stderr)
	}
	return c.run(args, stdout, stderr)
}

var commands = map[string]*command{}

// register adds a subcommand; each subcommand's file calls it from init.
func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("bafomet: duplicate command " + c.name)
	}
	commands[c.name] = c
}

// Options configure Main.
type Options struct {
	// Apps is the application registry: genesis validate checks genesis
	// files against it, testnet and devnet take its names for --app, and
	// start runs validators with it. nil means apps.Builtin().
	Apps chain.Apps
}

// Main runs the command line args (without the program name) and returns
// the process exit code. A node binary with an application of its own
// calls it from main:
//
//	reg := apps.Builtin()
//	reg[counter.Name] = counter.New
//	os.Exit(cli.Main(os.Args[1:], cli.Options{Apps: reg}))
func Main(args []string, opts Options) int {
	reg := opts.Apps
	if reg == nil {
		reg = apps.Builtin()
	}
	if err := checkRegistry(reg); err != nil {
		fmt.Fprintf(os.Stderr, "bafomet: %v\n", err)
		return exitFail
	}
	return runWith(reg, args, os.Stdout, os.Stderr)
}

// checkRegistry refuses a registry entry without a factory or whose
// factory makes an application of another name.
func checkRegistry(reg chain.Apps) error {
	for _, name := range reg.Names() {
		if reg[name] == nil {
			return fmt.Errorf("application registry: %q has no factory", name)
		}
		if got := reg[name]().Name(); got != name {
			return fmt.Errorf("application registry: %q makes an application named %q", name, got)
		}
	}
	return nil
}

// run runs the command line with the built-in applications.
func run(args []string, stdout, stderr io.Writer) int {
	return runWith(apps.Builtin(), args, stdout, stderr)
}

func runWith(reg chain.Apps, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 { // an error: usage goes to stderr, like every other
		usage(stderr)
		return exitUsage
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "bafomet: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
	return c.exec(reg, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: bafomet <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'bafomet <command> --help' for a command's flags.")
}
