package chain

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

type strictInner struct {
	Name string `json:"name"`
	N    int    `json:"n,omitempty"`
}

type strictEmbedded struct {
	Extra string `json:"extra"`
}

type strictDoc struct {
	strictEmbedded
	ID      string            `json:"id"`
	When    time.Time         `json:"when"`
	Items   []strictInner     `json:"items"`
	One     *strictInner      `json:"one"`
	Labels  map[string]string `json:"labels"`
	Raw     json.RawMessage   `json:"raw"`
	Any     any               `json:"any"`
	Untaged string
	Skipped string `json:"-"`
}

func TestCheckJSONFields(t *testing.T) {
	tests := []struct {
		name, doc string
		path      string // "" means no error
		offset    int
		problem   string
	}{
		{"exact names", `{"id":"a","extra":"e","when":"2025-01-02T15:04:05Z","items":[{"name":"x"},{"name":"y","n":2}],` +
			`"one":{"name":"z"},"labels":{"A":"1","a":"2"},"raw":{"Q":1,"q":2},"any":{"k":[{"k":1}]},"Untaged":"u"}`, "", 0, ""},
		{"case variant", `{"ID":"a"}`, "ID", 1, `unknown field (names are case-sensitive: did you mean "id"?)`},
		{"unknown", `{"id":"a", "nope":1}`, "nope", 11, "unknown field"},
		{"skipped field is unknown", `{"Skipped":"x"}`, "Skipped", 1, "unknown field"},
		{"in a slice element", `{"items":[{"name":"x"},{"Name":"y"}]}`, "items[1].Name", 24,
			`unknown field (names are case-sensitive: did you mean "name"?)`},
		{"behind a pointer", `{"one":{"nAme":"x"}}`, "one.nAme", 8, `unknown field (names are case-sensitive: did you mean "name"?)`},
		{"embedded field case", `{"Extra":"x"}`, "Extra", 1, `unknown field (names are case-sensitive: did you mean "extra"?)`},
		{"duplicate", `{"id":"a","id":"b"}`, "id", 10, "field given twice"},
		{"duplicate in a map", `{"labels":{"a":"1","a":"2"}}`, "labels.a", 19, "field given twice"},
		{"duplicate in raw JSON", `{"raw":{"x":{"y":1,"y":2}}}`, "raw.x.y", 19, "field given twice"},
		{"duplicate in an interface", `{"any":[{"k":1},{"k":1,"k":2}]}`, "any[1].k", 23, "field given twice"},
		{"same name in two objects", `{"items":[{"name":"x"},{"name":"y"}]}`, "", 0, ""},
		{"malformed is left to the decoder", `{"id":"a",`, "", 0, ""},
		{"deep nesting is left to the decoder", strings.Repeat("[", 20000), "", 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckJSONFields([]byte(tc.doc), &strictDoc{})
			if tc.path == "" {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			var fe *JSONFieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a JSONFieldError", err)
			}
			if fe.Path != tc.path || fe.Offset != tc.offset || fe.Problem != tc.problem {
				t.Fatalf("got {%s %d %s}, want {%s %d %s}", fe.Path, fe.Offset, fe.Problem, tc.path, tc.offset, tc.problem)
			}
		})
	}
}

// TestCheckJSONFieldsAgreesWithDecoderOnExactNames: a document the checker accepts
// decodes as written, because
// each member named its field exactly once.
func TestCheckJSONFieldsAgreesWithDecoderOnExactNames(t *testing.T) {
	doc := `{"id":"a","items":[{"name":"x","n":3}],"labels":{"k":"v"}}`
	if err := CheckJSONFields([]byte(doc), &strictDoc{}); err != nil {
		t.Fatal(err)
	}
	var d strictDoc
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatal(err)
	}
	if d.ID != "a" || len(d.Items) != 1 || d.Items[0].N != 3 || d.Labels["k"] != "v" {
		t.Fatalf("decoded %+v", d)
	}
}
