package genesis

import (
	"testing"

	"github.com/bafomet/bafomet/chain/apps"
)

// FuzzParse feeds arbitrary bytes to Parse and Validate. Neither panics; a
// document that parses and validates survives Marshal and Parse again with
// the same hash, so the file the tools write is the chain the operator
// checked.
func FuzzParse(f *testing.F) {
	f.Add([]byte(sampleDoc))
	valid, err := validGenesis(f, 4).Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	for _, s := range []string{``, `{}`, `{"chain_id":"a"}`, `{"validators":[{}]}`, `{"consensus":{"max_block_txs":0}}`, `[]`, `null`, `{"genesis_time":"x"}`} {
		f.Add([]byte(s))
	}
	registry := apps.Builtin()
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Parse(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("parse error without a message")
			}
			return
		}
		if err := g.Validate(registry); err != nil {
			if err.Error() == "" {
				t.Fatal("validation error without a message")
			}
			return
		}
		h1, err := g.Hash()
		if err != nil {
			t.Fatalf("hash of a valid genesis: %v", err)
		}
		out, err := g.Marshal()
		if err != nil {
			t.Fatalf("marshal a valid genesis: %v", err)
		}
		g2, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse %q: %v", out, err)
		}
		if err := g2.Validate(registry); err != nil {
			t.Fatalf("re-parsed genesis invalid: %v", err)
		}
		if h2, err := g2.Hash(); err != nil || h2 != h1 {
			t.Fatalf("hash changed through Marshal/Parse: %s -> %s (%v)", h1, h2, err)
		}
	})
}
