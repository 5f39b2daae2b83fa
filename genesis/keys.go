package genesis

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// keyOffset returns the byte offset of the first key whose path (indices
// as "[]") is generic.
func keyOffset(data []byte, generic string) (offset int, found bool) {
	walkKeys(data, func(_, g, _ string, off int) bool {
		if g == generic {
			offset, found = off, true
			return false
		}
		return true
	})
	return offset, found
}

// walkKeys calls fn for each object key in document order with its path,
// its path with indices as "[]", the key itself and its byte offset, until
// fn returns false or the tokens end.
func walkKeys(data []byte, fn func(path, generic, key string, off int) bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		path    string // path of the container, with indices
		generic string // path with indices as "[]"
		object  bool
		index   int
		wantKey bool
	}
	var stack []*frame
	var key, gkey string
	for {
		before := int(dec.InputOffset())
		tok, err := dec.Token()
		if err != nil {
			return
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			if _, isDelim := tok.(json.Delim); !isDelim {
				k, _ := tok.(string)
				key, gkey = join(top.path, k), join(top.generic, k)
				top.wantKey = false
				if !fn(key, gkey, k, keyStart(data, before)) {
					return
				}
				continue
			}
		}
		// tok is a value (scalar or container start) or a container end.
		if top != nil && !top.object {
			key = top.path + "[" + strconv.Itoa(top.index) + "]"
			gkey = top.generic + "[]"
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			stack = append(stack, &frame{path: key, generic: gkey, object: tok == json.Delim('{'), wantKey: true})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 {
			top = stack[len(stack)-1]
			top.wantKey = true
			if !top.object {
				top.index++
			}
		}
	}
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// keyStart skips the separator and whitespace that precede a key token.
func keyStart(data []byte, off int) int {
	for off < len(data) && strings.IndexByte(" \t\r\n,", data[off]) >= 0 {
		off++
	}
	return off
}
