package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// runCmd runs the CLI in-process and returns its exit code and output.
func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// writeFile writes content to name under dir with mode and returns its path.
func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTopLevel(t *testing.T) {
	code, out, errOut := runCmd(t)
	if code != exitUsage || !strings.HasPrefix(errOut, "usage: bafomet <command> [flags]") || out != "" {
		t.Fatalf("no args: code %d stdout %q stderr %q", code, out, errOut)
	}
	code, out, _ = runCmd(t, "--help")
	if code != exitOK || !strings.Contains(out, "\n  testnet    generate node homes") {
		t.Fatalf("--help: code %d stdout %q", code, out)
	}
	code, out, errOut = runCmd(t, "frobnicate")
	if code != exitUsage || out != "" || !strings.HasPrefix(errOut, "bafomet: unknown command \"frobnicate\"\n") {
		t.Fatalf("unknown: code %d stdout %q stderr %q", code, out, errOut)
	}
}

func TestGroups(t *testing.T) {
	code, out, errOut := runCmd(t, "keys")
	if code != exitUsage || out != "" || !strings.HasPrefix(errOut, "usage: bafomet keys <command> [flags]") {
		t.Fatalf("keys: code %d stdout %q stderr %q", code, out, errOut)
	}
	code, out, _ = runCmd(t, "tx", "--help")
	want := "usage: bafomet tx <command> [flags]\n\ncommands:\n" +
		"  decode     print a transaction's fields, hash and sender as JSON\n" +
		"  send       sign and submit a transaction over JSON-RPC\n" +
		"  sign       sign a transaction offline and print its wire hex\n"
	if code != exitOK || !strings.HasPrefix(out, want) {
		t.Fatalf("tx --help: code %d stdout %q", code, out)
	}
	code, out, errOut = runCmd(t, "genesis", "check")
	if code != exitUsage || out != "" || !strings.HasPrefix(errOut, "bafomet genesis: unknown command \"check\"\n") {
		t.Fatalf("genesis check: code %d stdout %q stderr %q", code, out, errOut)
	}
}

// TestEverySubcommandHasHelp runs --help and -h on every registered
// command and subcommand: each exits 0 with its usage. The commands this
// package's flag helpers build print "usage: bafomet …" on stdout; others
// (written with the flag package's default usage) may print to stderr.
func TestEverySubcommandHasHelp(t *testing.T) {
	var paths [][]string
	for name := range commands {
		if g, ok := groups[name]; ok {
			for sub := range g.subs {
				paths = append(paths, []string{name, sub})
			}
			continue
		}
		paths = append(paths, []string{name})
	}
	sort.Slice(paths, func(i, j int) bool { return strings.Join(paths[i], " ") < strings.Join(paths[j], " ") })
	strict := map[string]bool{"version": true, "init": true, "testnet": true, "keys new": true, "keys show": true,
		"genesis validate": true, "tx sign": true, "tx decode": true}
	if len(paths) < len(strict) {
		t.Fatalf("only %d commands registered: %v", len(paths), paths)
	}
	for _, p := range paths {
		name := strings.Join(p, " ")
		for _, h := range []string{"--help", "-h"} {
			code, out, errOut := runCmd(t, append(p, h)...)
			if strict[name] && (!strings.HasPrefix(out, "usage: bafomet "+name) || errOut != "") {
				t.Errorf("%s %s: stdout %q stderr %q", name, h, out, errOut)
			}
			if code != exitOK || out+errOut == "" || strings.Contains(out+errOut, "panic") {
				t.Errorf("%s %s: code %d stdout %q stderr %q", name, h, code, out, errOut)
			}
		}
	}
}

func TestUnknownFlag(t *testing.T) {
	for _, p := range [][]string{{"keys", "new"}, {"keys", "show"}, {"init"}, {"testnet"}, {"genesis", "validate"}, {"tx", "sign"}, {"tx", "decode"}, {"tx", "send"}, {"version"}, {"start"}, {"devnet"}, {"block", "get"}, {"status"}, {"subscribe"}} {
		code, out, errOut := runCmd(t, append(p, "--no-such-flag")...)
		want := "bafomet " + strings.Join(p, " ") + ": flag provided but not defined: -no-such-flag\n\nusage: bafomet " + strings.Join(p, " ")
		if code != exitUsage || out != "" || !strings.HasPrefix(errOut, want) {
			t.Errorf("%v: code %d stdout %q stderr %q", p, code, out, errOut)
		}
	}
}
