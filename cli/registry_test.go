package cli

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/apps"
	"github.com/bafomet/bafomet/examples/counter"
)

func counterRegistry() chain.Apps {
	reg := apps.Builtin()
	reg[counter.Name] = counter.New
	return reg
}

// runReg runs the command line with reg and returns its exit code and
// output.
func runReg(reg chain.Apps, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := runWith(reg, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// The registry given to the command line is the one testnet takes --app
// from and genesis validate checks against; the built-in one knows no
// counter.
func TestRegistryReachesCommands(t *testing.T) {
	dir := t.TempDir()
	args := []string{"testnet", "--validators", "1", "--out", dir, "--app", "counter", "--accounts", "0"}
	if code, _, errOut := runReg(apps.Builtin(), args...); code != exitFail || !strings.Contains(errOut, `--app: unknown app "counter" (known: bank, kv)`) {
		t.Fatalf("builtin testnet --app counter: code %d stderr %q", code, errOut)
	}
	if code, _, errOut := runReg(counterRegistry(), args...); code != exitOK {
		t.Fatalf("counter testnet: code %d stderr %q", code, errOut)
	}
	gen := filepath.Join(dir, "node0", "config", "genesis.json")
	if code, out, errOut := runReg(counterRegistry(), "genesis", "validate", gen); code != exitOK || !strings.Contains(out, "counter") {
		t.Fatalf("counter genesis validate: code %d stdout %q stderr %q", code, out, errOut)
	}
	if code, _, errOut := runReg(apps.Builtin(), "genesis", "validate", gen); code != exitFail || !strings.Contains(errOut, `unknown app "counter"`) {
		t.Fatalf("builtin genesis validate of a counter genesis: code %d stderr %q", code, errOut)
	}
	if code, out, _ := runReg(counterRegistry(), "testnet", "--help"); code != exitOK || !strings.Contains(out, "application: one of bank, counter, kv") {
		t.Fatalf("counter testnet --help: %q", out)
	}
	if code, out, _ := runReg(apps.Builtin(), "testnet", "--help"); code != exitOK || !strings.Contains(out, "application: kv or bank") {
		t.Fatalf("builtin testnet --help: %q", out)
	}
}

func TestCheckRegistry(t *testing.T) {
	if err := checkRegistry(counterRegistry()); err != nil {
		t.Fatalf("counter registry: %v", err)
	}
	reg := apps.Builtin()
	reg["count"] = counter.New
	if err := checkRegistry(reg); err == nil || err.Error() != `application registry: "count" makes an application named "counter"` {
		t.Fatalf("misnamed entry: %v", err)
	}
	reg = apps.Builtin()
	reg["x"] = nil
	if err := checkRegistry(reg); err == nil || err.Error() != `application registry: "x" has no factory` {
		t.Fatalf("nil factory: %v", err)
	}
}
