package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Exit codes of every subcommand.
const (
	exitOK    = 0 // success
	exitFail  = 1 // the command ran and failed: bad input file, invalid data, I/O error
	exitUsage = 1 // the command line itself is wrong: unknown flag, missing argument (issue 2: every error exits 1; only bafomet sim uses 2)
)

// cmdFlags is the flag set of one subcommand with its usage text.
type cmdFlags struct {
	*flag.FlagSet
	name     string // "keys new"
	synopsis string // "--out FILE"
	desc     string // what the command does, one paragraph
	required []string
}

func newFlags(name, synopsis, desc string) *cmdFlags {
	fs := flag.NewFlagSet("bafomet "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &cmdFlags{FlagSet: fs, name: name, synopsis: synopsis, desc: desc}
}

// require marks flags that must be given.
func (f *cmdFlags) require(names ...string) { f.required = append(f.required, names...) }

func (f *cmdFlags) printUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: bafomet %s %s\n\n%s\n", f.name, f.synopsis, f.desc)
	var lines []string
	f.VisitAll(func(fl *flag.Flag) {
		arg, usage := flag.UnquoteUsage(fl)
		line := "  --" + fl.Name
		if arg != "" {
			line += " " + arg
		}
		line += "\n        " + usage
		if fl.DefValue != "" && fl.DefValue != "0" && fl.DefValue != "false" {
			line += " (default " + fl.DefValue + ")"
		}
		lines = append(lines, line)
	})
	if len(lines) > 0 {
		sort.Strings(lines)
		fmt.Fprintf(w, "\nflags:\n%s\n", strings.Join(lines, "\n"))
	}
}

// parse parses args, in which flags and positional arguments may be mixed,
// and checks that exactly nargs positional arguments (any number when nargs
// is negative) and every required flag were given. When it returns ok ==
// false the caller returns code: exitOK after --help (usage on stdout),
// exitUsage otherwise (message and usage on stderr).
func (f *cmdFlags) parse(args []string, nargs int, stdout, stderr io.Writer) (pos []string, code int, ok bool) {
	for {
		if err := f.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				f.printUsage(stdout)
				return nil, exitOK, false
			}
			return nil, f.usageError(stderr, err.Error()), false
		}
		rest := f.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > 0 && len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if nargs >= 0 && len(pos) != nargs {
		return nil, f.usageError(stderr, fmt.Sprintf("want %d argument(s), got %d", nargs, len(pos))), false
	}
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	for _, name := range f.required {
		if !set[name] {
			return nil, f.usageError(stderr, "missing --"+name), false
		}
	}
	return pos, exitOK, true
}

func (f *cmdFlags) usageError(stderr io.Writer, msg string) int {
	fmt.Fprintf(stderr, "bafomet %s: %s\n\n", f.name, msg)
	f.printUsage(stderr)
	return exitUsage
}

// fail reports a runtime error of command name and returns exitFail.
func fail(stderr io.Writer, name string, err error) int {
	fmt.Fprintf(stderr, "bafomet %s: %v\n", name, err)
	return exitFail
}
