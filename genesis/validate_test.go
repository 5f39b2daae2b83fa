package genesis

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bafomet/bafomet/chain/apps"
)

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(g *Genesis)
	}{
		{"defaults", func(g *Genesis) {}},
		{"pub_key without 0x and upper case", func(g *Genesis) {
			g.Validators[0].PubKey = strings.ToUpper(strings.TrimPrefix(g.Validators[0].PubKey, "0x"))
		}},
		{"dns and ip6 addresses", func(g *Genesis) {
			g.Validators[0].Address = "/dns/node0.example.com/tcp/26600"
			g.Validators[1].Address = "/ip6/::1/tcp/26600"
		}},
		{"chain_id at its length limit", func(g *Genesis) { g.ChainID = strings.Repeat("c", MaxChainIDLen) }},
		{"name at its length limit", func(g *Genesis) { g.Validators[0].Name = strings.Repeat("n", MaxValidatorNameLen) }},
		{"single validator", func(g *Genesis) { g.Validators = g.Validators[:1] }},
		{"every parameter at its limit", func(g *Genesis) {
			g.Consensus = Consensus{
				MaxBlockTxs: MaxBlockTxsLimit, MaxBlockBytes: MaxBlockBytesLimit, MaxTxBytes: MaxBlockBytesLimit,
				ViewChangeTimeoutMs: MaxTimeoutMsLimit, ViewChangeTimeoutMaxMs: MaxTimeoutMsLimit,
				MaxClockDriftMs: MaxClockDriftMsLimit, CheckpointInterval: MaxCheckpointInterval,
				PipelineWindow: MaxPipelineWindowLimit,
			}
		}},
		{"every parameter at its minimum", func(g *Genesis) {
			g.Consensus = Consensus{1, 1, 1, 1, 1, 1, 1, 1}
		}},
		{"kv app_state null", func(g *Genesis) { g.AppState = json.RawMessage("null") }},
		{"kv app_state entries", func(g *Genesis) {
			g.AppState = json.RawMessage(`{"entries":[{"key":"a","value":"1"}]}`)
		}},
		{"bank with funded accounts", func(g *Genesis) {
			g.App = "bank"
			g.AppState = json.RawMessage(`{"accounts":[{"address":"0x7e5f4552091a69125d5dfcb7b8c2659029395bdf","balance":"1000"}]}`)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := validGenesis(t, 4)
			tc.mutate(g)
			if err := g.Validate(apps.Builtin()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestValidateMaxValidators(t *testing.T) {
	g := validGenesis(t, MaxValidators)
	if err := g.Validate(apps.Builtin()); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	g = validGenesis(t, MaxValidators+1)
	want := fmt.Sprintf("genesis: validators: %d validators, at most %d allowed", MaxValidators+1, MaxValidators)
	if err := g.Validate(apps.Builtin()); err == nil || err.Error() != want {
		t.Fatalf("err = %v", err)
	}
}

func TestValidateRejects(t *testing.T) {
	notOnCurve := "0x02" + strings.Repeat("ff", 32)
	tests := []struct {
		name   string
		mutate func(g *Genesis)
		field  string
		want   string // exact problem, or a prefix when it ends in "…"
	}{
		{"zero validators", func(g *Genesis) { g.Validators = nil }, "validators", "no validators; at least one is required"},
		{"missing chain_id", func(g *Genesis) { g.ChainID = "" }, "chain_id", "missing"},
		{"long chain_id", func(g *Genesis) { g.ChainID = strings.Repeat("c", MaxChainIDLen+1) }, "chain_id", "longer than 64 bytes"},
		{"bad chain_id", func(g *Genesis) { g.ChainID = "my chain" }, "chain_id",
			`"my chain": use letters, digits, '.', '_' and '-', starting with a letter or digit`},
		{"missing genesis_time", func(g *Genesis) { g.GenesisTime = time.Time{} }, "genesis_time", "missing"},
		{"genesis_time before 1970", func(g *Genesis) { g.GenesisTime = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) },
			"genesis_time", "1969-12-31T00:00:00Z is before 1970-01-01T00:00:00Z"},
		{"genesis_time sub-millisecond", func(g *Genesis) { g.GenesisTime = g.GenesisTime.Add(time.Microsecond) },
			"genesis_time", "finer than a millisecond; block timestamps are unix milliseconds"},
		{"bad key hex", func(g *Genesis) { g.Validators[1].PubKey = "0xzz" }, "validators[1].pub_key",
			"bad hex: encoding/hex: invalid byte: U+007A 'z'"},
		{"missing key", func(g *Genesis) { g.Validators[1].PubKey = "" }, "validators[1].pub_key", "missing"},
		{"short key", func(g *Genesis) { g.Validators[1].PubKey = "0x0102" }, "validators[1].pub_key",
			"2 bytes, want a 33-byte compressed secp256k1 key"},
		{"uncompressed key", func(g *Genesis) { g.Validators[1].PubKey = "0x04" + strings.Repeat("11", 64) },
			"validators[1].pub_key", "uncompressed key (65 bytes); give the 33-byte compressed form"},
		{"key not on curve", func(g *Genesis) { g.Validators[1].PubKey = notOnCurve }, "validators[1].pub_key",
			"not a point on the secp256k1 curve"},
		{"duplicate key", func(g *Genesis) { g.Validators[2].PubKey = strings.TrimPrefix(g.Validators[0].PubKey, "0x") },
			"validators[2].pub_key", "same key as validators[0]"},
		{"duplicate name", func(g *Genesis) { g.Validators[3].Name = "node1" }, "validators[3].name",
			`"node1" is also the name of validators[1]`},
		{"missing name", func(g *Genesis) { g.Validators[0].Name = "" }, "validators[0].name", "missing"},
		{"long name", func(g *Genesis) { g.Validators[0].Name = strings.Repeat("n", MaxValidatorNameLen+1) },
			"validators[0].name", "longer than 64 bytes"},
		{"control character in name", func(g *Genesis) { g.Validators[0].Name = "a\nb" }, "validators[0].name",
			`"a\nb" contains a control character or invalid UTF-8`},
		{"duplicate address", func(g *Genesis) { g.Validators[2].Address = "/ip4/127.0.0.1/tcp/26600" },
			"validators[2].address", "/ip4/127.0.0.1/tcp/26600 is also the address of validators[0]"},
		{"missing address", func(g *Genesis) { g.Validators[0].Address = "" }, "validators[0].address", "missing"},
		{"host:port address", func(g *Genesis) { g.Validators[0].Address = "127.0.0.1:26600" }, "validators[0].address",
			`bad multiaddr "127.0.0.1:26600": …`},
		{"udp address", func(g *Genesis) { g.Validators[0].Address = "/ip4/127.0.0.1/udp/26600" }, "validators[0].address",
			`"/ip4/127.0.0.1/udp/26600": transport must be tcp, not udp`},
		{"address with peer id", func(g *Genesis) {
			g.Validators[0].Address = "/ip4/127.0.0.1/tcp/26600/p2p/16Uiu2HAm3cuhhRL2msUuLF62KRSfneFDx94RsuouyW25Ho42cFMq"
		}, "validators[0].address", `"/ip4/127.0.0.1/tcp/26600/p2p/16Uiu2HAm3cuhhRL2msUuLF62KRSfneFDx94RsuouyW25Ho42cFMq": want /ip4|ip6|dns|dns4|dns6/HOST/tcp/PORT`},
		{"unix address", func(g *Genesis) { g.Validators[0].Address = "/unix/tmp/sock" }, "validators[0].address",
			`"/unix/tmp/sock": want /ip4|ip6|dns|dns4|dns6/HOST/tcp/PORT`},
		{"dns name with a space", func(g *Genesis) { g.Validators[0].Address = "/dns/not a host!/tcp/26600" },
			"validators[0].address", `"/dns/not a host!/tcp/26600": "not a host!" is not a DNS name`},
		{"port zero", func(g *Genesis) { g.Validators[0].Address = "/ip4/127.0.0.1/tcp/0" }, "validators[0].address",
			`"/ip4/127.0.0.1/tcp/0": port 0 cannot be dialled`},
		{"zero checkpoint interval", func(g *Genesis) { g.Consensus.CheckpointInterval = 0 },
			"consensus.checkpoint_interval", "must be greater than 0"},
		{"zero pipeline window", func(g *Genesis) { g.Consensus.PipelineWindow = 0 },
			"consensus.pipeline_window", "must be greater than 0"},
		{"zero max_block_txs", func(g *Genesis) { g.Consensus.MaxBlockTxs = 0 }, "consensus.max_block_txs", "must be greater than 0"},
		{"zero max_block_bytes", func(g *Genesis) { g.Consensus.MaxBlockBytes = 0 }, "consensus.max_block_bytes", "must be greater than 0"},
		{"zero max_tx_bytes", func(g *Genesis) { g.Consensus.MaxTxBytes = 0 }, "consensus.max_tx_bytes", "must be greater than 0"},
		{"zero timeout", func(g *Genesis) { g.Consensus.ViewChangeTimeoutMs = 0 }, "consensus.view_change_timeout_ms", "must be greater than 0"},
		{"zero max timeout", func(g *Genesis) { g.Consensus.ViewChangeTimeoutMaxMs = 0 }, "consensus.view_change_timeout_max_ms", "must be greater than 0"},
		{"zero clock drift", func(g *Genesis) { g.Consensus.MaxClockDriftMs = 0 }, "consensus.max_clock_drift_ms", "must be greater than 0"},
		{"max_tx_bytes over max_block_bytes", func(g *Genesis) { g.Consensus.MaxTxBytes = g.Consensus.MaxBlockBytes + 1 },
			"consensus.max_tx_bytes", "2097153 is larger than consensus.max_block_bytes (2097152)"},
		{"max timeout below base", func(g *Genesis) { g.Consensus.ViewChangeTimeoutMaxMs = g.Consensus.ViewChangeTimeoutMs - 1 },
			"consensus.view_change_timeout_max_ms", "1999 is below consensus.view_change_timeout_ms (2000)"},
		{"pipeline window over checkpoint interval", func(g *Genesis) { g.Consensus.CheckpointInterval = 4; g.Consensus.PipelineWindow = 5 },
			"consensus.pipeline_window", "5 is larger than consensus.checkpoint_interval (4)"},
		{"max_block_txs over limit", func(g *Genesis) { g.Consensus.MaxBlockTxs = MaxBlockTxsLimit + 1 },
			"consensus.max_block_txs", "100001 is above the limit 100000"},
		{"max_block_bytes over limit", func(g *Genesis) { g.Consensus.MaxBlockBytes = MaxBlockBytesLimit + 1 },
			"consensus.max_block_bytes", "16777217 is above the limit 16777216"},
		{"timeout over limit", func(g *Genesis) { g.Consensus.ViewChangeTimeoutMaxMs = MaxTimeoutMsLimit + 1 },
			"consensus.view_change_timeout_max_ms", "3600001 is above the limit 3600000"},
		{"clock drift over limit", func(g *Genesis) { g.Consensus.MaxClockDriftMs = MaxClockDriftMsLimit + 1 },
			"consensus.max_clock_drift_ms", "3600001 is above the limit 3600000"},
		{"checkpoint interval over limit", func(g *Genesis) { g.Consensus.CheckpointInterval = MaxCheckpointInterval + 1 },
			"consensus.checkpoint_interval", "100001 is above the limit 100000"},
		{"pipeline window over limit", func(g *Genesis) { g.Consensus.PipelineWindow = MaxPipelineWindowLimit + 1 },
			"consensus.pipeline_window", "65 is above the limit 64"},
		{"missing app", func(g *Genesis) { g.App = "" }, "app", "missing (known: bank, kv)"},
		{"unknown app", func(g *Genesis) { g.App = "evm" }, "app", `unknown app "evm" (known: bank, kv)`},
		{"bad kv app_state", func(g *Genesis) { g.AppState = json.RawMessage(`{"entries":[{"key":"a=b","value":"1"}]}`) },
			"app_state", `rejected by app "kv": …`},
		{"bad bank app_state", func(g *Genesis) {
			g.App = "bank"
			g.AppState = json.RawMessage(`{"accounts":[{"address":"0x12","balance":"1"}]}`)
		}, "app_state", `rejected by app "bank": bank app_state: accounts[0].address: …`},
		{"app_state not an object for bank", func(g *Genesis) { g.App = "bank"; g.AppState = json.RawMessage(`[1]`) },
			"app_state", `rejected by app "bank": …`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := validGenesis(t, 4)
			tc.mutate(g)
			err := g.Validate(apps.Builtin())
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a *ValidationError", err)
			}
			if len(ve.Problems) != 1 {
				t.Fatalf("problems = %v, want exactly one", err)
			}
			p := ve.Problems[0]
			if p.Field != tc.field {
				t.Fatalf("field = %q, want %q (%v)", p.Field, tc.field, err)
			}
			if prefix, ok := strings.CutSuffix(tc.want, "…"); ok {
				if !strings.HasPrefix(p.Problem, prefix) {
					t.Fatalf("problem = %q, want prefix %q", p.Problem, prefix)
				}
			} else if p.Problem != tc.want {
				t.Fatalf("problem = %q\nwant      %q", p.Problem, tc.want)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	g := validGenesis(t, 2)
	g.ChainID = ""
	g.Validators[1].PubKey = g.Validators[0].PubKey
	g.Consensus.CheckpointInterval = 0
	g.App = "nope"
	err := g.Validate(apps.Builtin())
	want := "genesis: chain_id: missing; validators[1].pub_key: same key as validators[0]; " +
		"consensus.checkpoint_interval: must be greater than 0; app: unknown app \"nope\" (known: bank, kv)"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant  %s", err, want)
	}
}
