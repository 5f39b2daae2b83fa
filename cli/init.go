package cli

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bafomet/bafomet/node"
)

// homeDirMode is the mode of a node home's config and data directories:
// the config directory holds the validator key.
const homeDirMode os.FileMode = 0o700

func init() {
	register(&command{name: "init", summary: "create a node home: key, config.toml, data directory", run: runInit})
}

// initResult describes a node home that initHome created.
type initResult struct {
	Home       string
	Name       string
	Key        keyInfo
	KeptConfig bool // config.toml existed and was left as it was
}

// initHome creates HOME/config/validator.key (from r), HOME/config/config.toml
// (unless present), and HOME/data. It refuses to replace an existing key.
func initHome(home, name string, r io.Reader) (*initResult, error) {
	abs, err := filepath.Abs(home)
	if err != nil {
		return nil, fmt.Errorf("home %s: %w", home, err)
	}
	if name == "" {
		name = filepath.Base(abs)
	}
	keyPath := filepath.Join(abs, node.DefaultKeyFile)
	if _, err := os.Lstat(keyPath); err == nil {
		return nil, fmt.Errorf("refusing to overwrite existing key %s", keyPath)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("check key %s: %w", keyPath, err)
	}
	cfg := node.DefaultConfig()
	cfg.Node.Name = name
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, dir := range []string{filepath.Dir(keyPath), filepath.Join(abs, node.DefaultDataDir), filepath.Join(abs, node.DefaultWALDir)} {
		if err := os.MkdirAll(dir, homeDirMode); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
	}
	key, err := genKey(r)
	if err != nil {
		return nil, err
	}
	info, err := describeKey(key)
	if err != nil {
		return nil, err
	}
	if err := writeKeyFile(keyPath, key); err != nil {
		return nil, err
	}
	res := &initResult{Home: abs, Name: name, Key: info}
	cfgPath := filepath.Join(abs, node.ConfigFile)
	if _, err := os.Stat(cfgPath); err == nil {
		res.KeptConfig = true
		return res, nil
	}
	if err := cfg.WriteConfig(cfgPath); err != nil {
		return nil, err
	}
	return res, nil
}

func runInit(args []string, stdout, stderr io.Writer) int {
	f := newFlags("init", "--home DIR [--name NAME]",
		"Create a node home in DIR: a new validator key (config/validator.key, mode 0600), a default\n"+
			"config/config.toml and the data directory. Never replaces an existing key; keeps an\n"+
			"existing config.toml. The chain's genesis.json goes to DIR/config/genesis.json.")
	home := f.String("home", "", "node home directory")
	name := f.String("name", "", "node name for config.toml (default: the home directory's name)")
	f.require("home")
	if _, code, ok := f.parse(args, 0, stdout, stderr); !ok {
		return code
	}
	res, err := initHome(*home, *name, rand.Reader)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	cfgNote := "wrote"
	if res.KeptConfig {
		cfgNote = "kept existing"
	}
	fmt.Fprintf(stdout, "initialized node home %s\n", res.Home)
	fmt.Fprintf(stdout, "name:    %s\n", res.Name)
	if err := printKeyInfo(stdout, res.Key, false); err != nil {
		return fail(stderr, f.name, err)
	}
	fmt.Fprintf(stdout, "config:  %s %s\n", cfgNote, filepath.Join(res.Home, node.ConfigFile))
	fmt.Fprintf(stdout, "next:    put the chain's genesis file at %s\n", filepath.Join(res.Home, node.DefaultGenesisFile))
	return exitOK
}
