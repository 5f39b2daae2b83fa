package chain

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// JSONFieldError reports an object member that a strict JSON format
// refuses: a name that no field has, or a name given twice in one object.
type JSONFieldError struct {
	Path    string // the member's path, e.g. "validators[1].pub_key"
	Offset  int    // byte offset of the member's name in the document
	Problem string
}

func (e *JSONFieldError) Error() string { return e.Path + ": " + e.Problem }

// CheckJSONFields checks the member names of data, a JSON document to be
// decoded into a value of v's type. encoding/json matches member names to
// fields without regard to case and keeps the last of duplicate members, so
// two readers can take different values from one document; a format that
// is hashed or signed must not allow that. CheckJSONFields requires every
// member of an object decoded into a struct to name a field exactly, and
// no object anywhere (maps, json.RawMessage and values with their own
// UnmarshalJSON included) to give a name twice. It reports the first
// problem in document order. Malformed JSON is left to the decoder:
// CheckJSONFields returns nil for it.
func CheckJSONFields(data []byte, v any) error {
	w := &fieldWalker{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	err := w.value(reflect.TypeOf(v), "", 0)
	if fe, ok := err.(*JSONFieldError); ok {
		return fe
	}
	return nil
}

// maxJSONDepth bounds the walk; encoding/json refuses deeper documents
// (10,000 levels) on its own.
const maxJSONDepth = 10000

var (
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textType        = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// errMalformed stops the walk on input the decoder will reject anyway.
var errMalformed = fmt.Errorf("malformed JSON")

type fieldWalker struct {
	data []byte
	dec  *json.Decoder
}

// value walks one JSON value that decodes into t (nil: unknown schema).
func (w *fieldWalker) value(t reflect.Type, path string, depth int) error {
	if depth > maxJSONDepth {
		return errMalformed
	}
	t = schemaOf(t)
	tok, err := w.dec.Token()
	if err != nil {
		return errMalformed
	}
	switch tok {
	case json.Delim('{'):
		return w.object(t, path, depth)
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; w.dec.More(); i++ {
			if err := w.value(elem, path+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
				return err
			}
		}
		if _, err := w.dec.Token(); err != nil {
			return errMalformed
		}
	}
	return nil
}

// object walks the members of an object that decodes into t.
func (w *fieldWalker) object(t reflect.Type, path string, depth int) error {
	var fields map[string]reflect.Type
	var elem reflect.Type
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			fields = structFields(t, map[string]reflect.Type{})
		case reflect.Map:
			elem = t.Elem()
		}
	}
	seen := make(map[string]bool)
	for w.dec.More() {
		off := memberStart(w.data, int(w.dec.InputOffset()))
		tok, err := w.dec.Token()
		if err != nil {
			return errMalformed
		}
		name, _ := tok.(string)
		p := name
		if path != "" {
			p = path + "." + name
		}
		if seen[name] {
			return &JSONFieldError{Path: p, Offset: off, Problem: "field given twice"}
		}
		seen[name] = true
		ft := elem
		if fields != nil {
			var ok bool
			if ft, ok = fields[name]; !ok {
				return &JSONFieldError{Path: p, Offset: off, Problem: unknownFieldProblem(name, fields)}
			}
		}
		if err := w.value(ft, p, depth+1); err != nil {
			return err
		}
	}
	if _, err := w.dec.Token(); err != nil {
		return errMalformed
	}
	return nil
}

// schemaOf is the type whose member names are checked for values decoded
// into t: pointers are followed; a type that decodes itself, and
// json.RawMessage, have no schema (nil).
func schemaOf(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t == rawMessageType || t.Kind() == reflect.Interface ||
		reflect.PointerTo(t).Implements(unmarshalerType) || reflect.PointerTo(t).Implements(textType) {
		return nil
	}
	return t
}

// structFields maps the JSON names encoding/json gives t's fields to their
// types, embedded structs' fields included.
func structFields(t reflect.Type, out map[string]reflect.Type) map[string]reflect.Type {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" && f.Tag.Get("json") == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				structFields(ft, out)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// unknownFieldProblem says a name is unknown, suggesting the field it
// matches but for case.
func unknownFieldProblem(name string, fields map[string]reflect.Type) string {
	for f := range fields {
		if strings.EqualFold(f, name) {
			return fmt.Sprintf("unknown field (names are case-sensitive: did you mean %q?)", f)
		}
	}
	return "unknown field"
}

// memberStart skips the separator and whitespace before a member name.
func memberStart(data []byte, off int) int {
	for off < len(data) && strings.IndexByte(" \t\r\n,", data[off]) >= 0 {
		off++
	}
	return off
}
