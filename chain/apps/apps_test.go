package apps

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/bafomet/bafomet/chain"
)

func TestBuiltin(t *testing.T) {
	reg := Builtin()
	if got := reg.Names(); !reflect.DeepEqual(got, []string{"bank", "kv"}) {
		t.Fatalf("names = %v", got)
	}
	for _, name := range reg.Names() {
		app, err := reg.New(name)
		if err != nil {
			t.Fatal(err)
		}
		if app.Name() != name {
			t.Fatalf("app %q reports name %q", name, app.Name())
		}
		if err := app.InitState(json.RawMessage("null"), chain.NewMemState()); err != nil {
			t.Fatalf("%s: null app_state: %v", name, err)
		}
	}
	if _, err := reg.New("evm"); err == nil || err.Error() != `unknown app "evm" (known: bank, kv)` {
		t.Fatalf("unknown app err = %v", err)
	}
	// Each call returns a fresh registry that callers may extend.
	reg["x"] = nil
	if _, ok := Builtin()["x"]; ok {
		t.Fatal("Builtin returned a shared map")
	}
}
