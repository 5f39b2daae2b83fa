package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bafomet/bafomet/node"
)

func TestInit(t *testing.T) {
	home := filepath.Join(t.TempDir(), "alpha")
	code, out, errOut := runCmd(t, "init", "--home", home)
	if code != exitOK || errOut != "" {
		t.Fatalf("code %d stderr %q", code, errOut)
	}
	keyPath := filepath.Join(home, "config", "validator.key")
	_, shown, _ := runCmd(t, "keys", "show", keyPath)
	want := "initialized node home " + home + "\nname:    alpha\n" + shown +
		"config:  wrote " + filepath.Join(home, "config", "config.toml") + "\n" +
		"next:    put the chain's genesis file at " + filepath.Join(home, "config", "genesis.json") + "\n"
	if out != want {
		t.Fatalf("stdout\n%s\nwant\n%s", out, want)
	}
	for path, mode := range map[string]os.FileMode{keyPath: 0o600, filepath.Join(home, "config"): 0o700 | os.ModeDir,
		filepath.Join(home, "data"): 0o700 | os.ModeDir, filepath.Join(home, "wal"): 0o700 | os.ModeDir,
		filepath.Join(home, "config", "config.toml"): 0o644} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v (%v)", path, fi.Mode(), mode, err)
		}
	}
	cfg, err := node.LoadConfig(home)
	if err != nil || cfg.Node.Name != "alpha" || cfg.KeyPath() != keyPath {
		t.Fatalf("config %+v (%v)", cfg, err)
	}
	// A second init refuses and changes nothing.
	key, _ := os.ReadFile(keyPath)
	code, out, errOut = runCmd(t, "init", "--home", home, "--name", "beta")
	if code != exitFail || out != "" || errOut != "bafomet init: refusing to overwrite existing key "+keyPath+"\n" {
		t.Fatalf("second init: code %d stdout %q stderr %q", code, out, errOut)
	}
	if again, _ := os.ReadFile(keyPath); !bytes.Equal(again, key) {
		t.Fatal("key changed")
	}
}

func TestInitKeepsExistingConfig(t *testing.T) {
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, "config"), 0o700); err != nil {
		t.Fatal(err)
	}
	custom := "[node]\nname = \"custom\"\n"
	cfgPath := writeFile(t, filepath.Join(home, "config"), "config.toml", custom, 0o644)
	code, out, errOut := runCmd(t, "init", "--home", home, "--name", "other")
	if code != exitOK || errOut != "" || !strings.Contains(out, "\nconfig:  kept existing "+cfgPath+"\n") {
		t.Fatalf("code %d stdout %q stderr %q", code, out, errOut)
	}
	if b, _ := os.ReadFile(cfgPath); string(b) != custom {
		t.Fatalf("config.toml changed: %q", b)
	}
}

func TestInitErrors(t *testing.T) {
	dir := t.TempDir()
	blocker := writeFile(t, dir, "file", "x", 0o644)
	tests := []struct {
		name    string
		args    []string
		code    int
		wantErr string
	}{
		{"missing --home", nil, exitUsage, "bafomet init: missing --home\n"},
		{"home is a file", []string{"--home", blocker}, exitFail, "bafomet init: check key " + blocker + "/config/validator.key: lstat " + blocker + "/config/validator.key: not a directory\n"},
		{"name too long", []string{"--home", filepath.Join(dir, "h"), "--name", strings.Repeat("n", 65)}, exitFail,
			"bafomet init: config: node.name: longer than 64 bytes\n"},
	}
	for _, tc := range tests {
		code, out, errOut := runCmd(t, append([]string{"init"}, tc.args...)...)
		if code != tc.code || out != "" || errOut != tc.wantErr && !strings.HasPrefix(errOut, tc.wantErr) {
			t.Errorf("%s: code %d stdout %q stderr %q", tc.name, code, out, errOut)
		}
	}
}
