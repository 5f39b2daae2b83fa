package node

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/BurntSushi/toml"
)

// FuzzParseConfig feeds arbitrary TOML to ParseConfig: it never panics, and
// a configuration it accepts encodes (as WriteConfig does) and parses back
// to the same values.
func FuzzParseConfig(f *testing.F) {
	var def bytes.Buffer
	c := DefaultConfig()
	if err := toml.NewEncoder(&def).Encode(&c); err != nil {
		f.Fatal(err)
	}
	f.Add(def.Bytes())
	for _, s := range []string{
		``, "[node]\nname = \"a\"\n", "[rpc]\nlisten = \"127.0.0.1:0\"\n", "[p2p]\nlisten = \"/ip4/0.0.0.0/tcp/1\"\n",
		"[mempool]\nmax_txs = -1\n", "[consensus]\nview_change_timeout = \"1s\"\n", "[log]\nlevel = \"debug\"\n",
		"x = 1\n", "[node\n", "[rpc]\ncors_origins = [\"*\"]\n",
		"[rpc]\nmax_connections = 1\nmax_connections_per_ip = 0\nread_timeout = \"1ms\"\nidle_timeout = \"25h\"\n",
		"[rpc]\nmax_response_bytes = 1\nresponse_buffer_bytes = 2\nws_buffer_bytes = -1\nwrite_timeout = 5\n",
		"[debug]\nlisten = \"127.0.0.1:0\"\n", "[debug]\nlisten = \"0.0.0.0:6060\"\n",
		"[mempool]\nmax_txs = 8\nmax_queued = 8\n", "[mempool]\nmax_queued = 0\nmax_txs_per_sender = 1\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("error without a message")
			}
			return
		}
		var out bytes.Buffer
		if err := toml.NewEncoder(&out).Encode(c); err != nil {
			t.Fatalf("encode an accepted config: %v", err)
		}
		c2, err := ParseConfig(out.Bytes())
		if err != nil {
			t.Fatalf("re-parse %q: %v", out.Bytes(), err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("config changed through encode/parse:\n%+v\n%+v", c, c2)
		}
	})
}
