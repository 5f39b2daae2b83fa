package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/genesis"
)

func init() {
	registerSub("genesis", "work with genesis files", &command{
		name: "validate", summary: "check a genesis file and print its summary", runApps: runGenesisValidate,
	})
}

// validateGenesisFile loads, validates and hashes the genesis at path and
// returns its one-line summary.
func validateGenesisFile(reg chain.Apps, path string) (string, error) {
	g, err := genesis.Load(path)
	if err != nil {
		return "", err
	}
	if err := g.Validate(reg); err != nil {
		return "", err
	}
	h, err := g.Hash()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s: valid: chain_id %s, %d validators, f=%d, app %s, hash %s",
		path, g.ChainID, len(g.Validators), g.F(), g.App, h.Hex()), nil
}

func runGenesisValidate(reg chain.Apps, args []string, stdout, stderr io.Writer) int {
	f := newFlags("genesis validate", "FILE",
		"Check a genesis file: JSON syntax, every field, the consensus parameters and the app_state\n"+
			"for its app. Prints a one-line summary and exits 0 when valid; otherwise names each field\n"+
			"and its problem on stderr and exits 1.")
	pos, code, ok := f.parse(args, 1, stdout, stderr)
	if !ok {
		return code
	}
	summary, err := validateGenesisFile(reg, pos[0])
	var ve *genesis.ValidationError
	switch {
	case errors.As(err, &ve):
		for _, p := range ve.Problems {
			fmt.Fprintf(stderr, "bafomet genesis validate: %s: %s: %s\n", pos[0], p.Field, p.Problem)
		}
		return exitFail
	case err != nil:
		return fail(stderr, f.name, err)
	}
	fmt.Fprintln(stdout, summary)
	return exitOK
}
