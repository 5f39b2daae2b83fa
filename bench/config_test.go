package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/bafomet/bafomet/chain"
)

func validConfig() Config {
	return Config{Targets: []Target{{Name: "n0", URL: "http://127.0.0.1:1"}}}.WithDefaults()
}

func TestWithDefaults(t *testing.T) {
	c := validConfig()
	if c.Duration != DefaultDuration || c.Warmup != DefaultWarmup || c.Drain != DefaultDrain || c.Senders != DefaultSenders ||
		c.PayloadBytes != DefaultPayloadBytes || c.Window != DefaultWindow || c.Batch != DefaultBatch ||
		c.MaxRateEstimate != DefaultMaxRateEstimate || c.RetryDelay != DefaultRetryDelay ||
		c.RequestTimeout != DefaultRequestTimeout || c.Burst != DefaultBurst || c.ProgressInterval != DefaultProgressInterval || c.Logger == nil {
		t.Fatalf("defaults not applied: %+v", c)
	}
	noWarmup := Config{WarmupSet: true}.WithDefaults()
	if noWarmup.Warmup != 0 {
		t.Fatalf("explicit zero warmup became %s", noWarmup.Warmup)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
}

func TestValidateLimits(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		err    string // "" = valid
	}{
		{"payload at minimum", func(c *Config) { c.PayloadBytes = MinPayloadBytes }, ""},
		{"keys at maximum", func(c *Config) { c.Keys = MaxKeys }, ""},
		{"keys above maximum", func(c *Config) { c.Keys = MaxKeys + 1 }, "keys 1000000001"},
		{"keys negative", func(c *Config) { c.Keys = -1 }, "keys -1"},
		{"payload below minimum", func(c *Config) { c.PayloadBytes = MinPayloadBytes - 1 }, "size 23"},
		{"payload at maximum", func(c *Config) { c.PayloadBytes = MaxPayloadBytes }, ""},
		{"payload above maximum", func(c *Config) { c.PayloadBytes = MaxPayloadBytes + 1 }, "size 60001"},
		{"batch equal to window", func(c *Config) { c.Batch, c.Window = 8, 8 }, ""},
		{"batch above window", func(c *Config) { c.Batch, c.Window = 9, 8 }, "batch 9"},
		{"batch at maximum", func(c *Config) { c.Batch, c.Window = MaxBatch, MaxBatch }, ""},
		{"batch above maximum", func(c *Config) { c.Batch, c.Window = MaxBatch+1, MaxBatch+1 }, "batch 101"},
		{"presign at maximum", func(c *Config) { c.Presign = MaxPresigned }, ""},
		{"presign above maximum", func(c *Config) { c.Presign = MaxPresigned + 1 }, "presign 1500001"},
		{"no targets", func(c *Config) { c.Targets = nil }, "no target nodes"},
		{"observer out of range", func(c *Config) { c.Observer = 1 }, "observer 1"},
		{"negative rate", func(c *Config) { c.Rate = -1 }, "rate -1"},
		{"zero senders", func(c *Config) { c.Senders = -1 }, "senders -1"},
		{"negative warmup", func(c *Config) { c.Warmup = -time.Second }, "warmup -1s"},
		{"zero window", func(c *Config) { c.Window = -1 }, "window -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.modify(&c)
			err := c.Validate()
			if tt.err == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err = %v, want one containing %q", err, tt.err)
			}
		})
	}
}

func TestPoolSize(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		want int
	}{
		{"open loop", Config{Rate: 1000, Warmup: time.Second, Duration: 9 * time.Second, Senders: 4, Window: 8}, 11_001},
		{"closed loop uses the estimate", Config{MaxRateEstimate: 100, Duration: 10 * time.Second, Senders: 1, Window: 1}, 1_101},
		{"at least one window per sender", Config{Rate: 1, Duration: time.Second, Senders: 10, Window: 32}, 320},
		{"explicit", Config{Presign: 77, Rate: 1000, Duration: time.Hour}, 77},
		{"capped", Config{Rate: 1e6, Duration: time.Hour, Senders: 1, Window: 1}, MaxPresigned},
	}
	for _, tt := range tests {
		if got := tt.c.PoolSize(); got != tt.want {
			t.Errorf("%s: PoolSize = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestKVPayloadAndSplit(t *testing.T) {
	if got := string(kvPayload(3, 8, 0, 17, 12)); got != "s3n17=xxxxxx" {
		t.Fatalf("kvPayload = %q", got)
	}
	if got := string(kvPayload(3, 8, 100, 17, 12)); got != "k39=xxxxxxxx" { // (17×8+3) mod 100
		t.Fatalf("bounded key payload %q", got)
	}
	if got := len(kvPayload(MaxKeys-1, MaxKeys, MaxKeys, 1_000_000_000, MinPayloadBytes)); got != MinPayloadBytes {
		t.Fatalf("bounded-key payload at the limits is %d bytes, want %d", got, MinPayloadBytes)
	}
	if got := len(kvPayload(999, 1000, 0, 1_000_000_000, MinPayloadBytes)); got != MinPayloadBytes {
		t.Fatalf("minimum payload is %d bytes, want %d", got, MinPayloadBytes)
	}
	var counts []int
	for i := range 3 {
		counts = append(counts, perSender(10, 3, i))
	}
	if counts[0] != 4 || counts[1] != 3 || counts[2] != 3 {
		t.Fatalf("perSender(10, 3) = %v, want [4 3 3]", counts)
	}
}

func TestMakeSenders(t *testing.T) {
	cfg := Config{Targets: []Target{{URL: "a"}, {URL: "b"}}, Presign: 5, Senders: 3, Window: 2, PayloadBytes: DefaultPayloadBytes}
	senders, err := makeSenders(cfg, "bafomet-testnet")
	if err != nil {
		t.Fatal(err)
	}
	wantCounts, wantTargets := []int{2, 2, 1}, []int{0, 1, 0}
	for i, s := range senders {
		if len(s.txs) != wantCounts[i] || s.target != wantTargets[i] || cap(s.slots) != 2 {
			t.Fatalf("sender %d: %d txs to target %d, %d slots; want %d txs to %d, 2 slots", i, len(s.txs), s.target, cap(s.slots), wantCounts[i], wantTargets[i])
		}
		for n, stx := range s.txs {
			tx, err := chain.DecodeTx(stx.raw, 0)
			if err != nil {
				t.Fatal(err)
			}
			from, err := tx.Sender()
			if err != nil || from != s.addr || tx.Nonce != uint64(n) || tx.Hash() != stx.hash || len(tx.Payload) != DefaultPayloadBytes {
				t.Fatalf("sender %d tx %d: from %s (%v), nonce %d, %d-byte payload", i, n, from, err, tx.Nonce, len(tx.Payload))
			}
		}
	}
	// The default payload makes a transaction of about 200 bytes.
	if size := len(senders[0].txs[1].raw); size < 190 || size > 210 {
		t.Fatalf("default transaction is %d bytes, want about 200", size)
	}
}
