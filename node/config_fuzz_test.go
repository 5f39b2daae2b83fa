package node

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/BurntSushi/toml"
)

// FuzzParseConfig feeds arbitrary TOML to ParseConfig: it never panics, and
// a configuration it accepts encodes (as WriteConfig does) and parses back
// to the same values.
//
// The default configuration is seeded one key at a time, not as one file:
// the engine minimizes every input that finds new coverage, its minimizer
// tries removing every span of bytes (quadratic in the input's length), and
// a seed of the whole file makes each of those minimizations run to its
// time limit.
func FuzzParseConfig(f *testing.F) {
	for _, seed := range defaultConfigLines(f) {
		f.Add(seed)
	}
	for _, s := range []string{
		``, "[node]\nname = \"a\"\n", "[rpc]\nlisten = \"127.0.0.1:0\"\n", "[p2p]\nlisten = \"/ip4/0.0.0.0/tcp/1\"\n",
		"[mempool]\nmax_txs = -1\n", "[consensus]\nview_change_timeout = \"1s\"\n", "[log]\nlevel = \"debug\"\n",
		"x = 1\n", "[node\n", "[rpc]\ncors_origins = [\"*\"]\n",
		"[rpc]\nmax_connections = 1\nmax_connections_per_ip = 0\nread_timeout = \"1ms\"\nidle_timeout = \"25h\"\n",
		"[rpc]\nmax_response_bytes = 1\nresponse_buffer_bytes = 2\nws_buffer_bytes = -1\nwrite_timeout = 5\n",
		"[debug]\nlisten = \"127.0.0.1:0\"\n", "[debug]\nlisten = \"0.0.0.0:6060\"\n",
		"[mempool]\nmax_txs = 8\nmax_queued = 8\n", "[mempool]\nmax_queued = 0\nmax_txs_per_sender = 1\n",
		"[rpc]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n", "[rpc]\ntls_cert = \"c.pem\"\n",
		"[rpc]\nauth = \"token\"\ntoken_file = \"t.toml\"\n", "[rpc]\nauth = \"token+jwt\"\njwt_secret_file = \"j\"\n",
		"[rpc]\nauth = \"jwt\"\njwt_secret_file = \"j\"\njwt_permissions = [\"admin\"]\njwt_iat_window = \"5s\"\n",
		"[rpc]\njwt_permissions = [\"read\", \"read\"]\n", "[rpc]\nauth = \"none\"\ntoken_file = \"t\"\n",
		"[rpc]\nip_requests_per_sec = 2.5\nip_requests_burst = 5\nip_txs_per_sec = 1\nip_max_subscriptions = 3\n",
		"[rpc]\ntoken_requests_per_sec = nan\ntoken_txs_burst = -1\ntoken_max_subscriptions = 1\n",
		"[rpc]\ntoken_txs_per_sec = 1e6\nip_txs_burst = 16777216\n",
		"[node]\nmin_free_disk = 0\n", "[node]\nmin_free_disk = -1\n", "[node]\nmin_free_disk = 1125899906842625\n", "[node]\nretain_blocks = 20\n", "[node]\nretain_blocks = -1\n",
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

// defaultConfigLines returns the default configuration as one small TOML
// document per key: its table header and the key's line.
func defaultConfigLines(f *testing.F) [][]byte {
	var def bytes.Buffer
	c := DefaultConfig()
	if err := toml.NewEncoder(&def).Encode(&c); err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	var table []byte
	for _, line := range bytes.Split(def.Bytes(), []byte("\n")) {
		line = bytes.TrimSpace(line)
		switch {
		case len(line) == 0:
		case line[0] == '[':
			table = line
		default:
			out = append(out, fmt.Appendf(nil, "%s\n%s\n", table, line))
		}
	}
	if len(out) == 0 {
		f.Fatal("the default configuration encodes to no keys")
	}
	return out
}
