package sim

import (
	"errors"
	"testing"
)

func TestParseFaults(t *testing.T) {
	tests := []struct {
		in      string
		want    Fault
		str     string
		wantErr error
	}{
		{"", 0, "none", nil},
		{"none", 0, "none", nil},
		{"net", FaultNet, "net", nil},
		{"net,crash,byzantine", FaultNet | FaultCrash | FaultByzantine, "net,crash,byzantine", nil},
		{"byzantine, net", FaultNet | FaultByzantine, "net,byzantine", nil},
		{"twins,skew,slow", FaultTwins | FaultSkew | FaultSlow, "twins,skew,slow", nil},
		{"net,net", FaultNet, "net", nil},
		{"exec,crash", FaultCrash | FaultExec, "crash,exec", nil},
		{"all", FaultAll, "net,crash,byzantine,twins,skew,slow,exec,partition,withhold,bigblocks,params", nil},
		{"net,all", FaultAll, "net,crash,byzantine,twins,skew,slow,exec,partition,withhold,bigblocks,params", nil},
		{"partition,withhold,bigblocks", FaultPartition | FaultWithhold | FaultBigBlocks, "partition,withhold,bigblocks", nil},
		{"nett", 0, "", ErrUnknownFault},
		{"net,", 0, "", ErrUnknownFault},
	}
	for _, tt := range tests {
		got, err := ParseFaults(tt.in)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Fatalf("ParseFaults(%q) err %v, want %v", tt.in, err, tt.wantErr)
		}
		if err == nil && (got != tt.want || got.String() != tt.str) {
			t.Fatalf("ParseFaults(%q) = %v (%s), want %v (%s)", tt.in, got, got, tt.want, tt.str)
		}
	}
}

func TestDefaultFaults(t *testing.T) {
	if got := DefaultFaults(0).String(); got != "net,crash,skew,slow" {
		t.Fatalf("DefaultFaults(0) = %s", got)
	}
	if got := DefaultFaults(1).String(); got != "net,crash,byzantine,skew,slow" {
		t.Fatalf("DefaultFaults(1) = %s", got)
	}
}

func TestConfigValidate(t *testing.T) {
	base := Config{Nodes: 4, Byzantine: 1, Blocks: 10, Faults: FaultByzantine}
	tests := []struct {
		name string
		mod  func(c *Config)
		want error
	}{
		{"valid", func(c *Config) {}, nil},
		{"one node", func(c *Config) { c.Nodes, c.Byzantine, c.Faults = 1, 0, 0 }, nil},
		{"zero nodes", func(c *Config) { c.Nodes, c.Byzantine = 0, 0 }, ErrNodes},
		{"MaxNodes", func(c *Config) { c.Nodes = MaxNodes }, nil},
		{"above MaxNodes", func(c *Config) { c.Nodes = MaxNodes + 1 }, ErrNodes},
		{"B = f for n = 7", func(c *Config) { c.Nodes, c.Byzantine = 7, 2 }, nil},
		{"B = f+1 for n = 7", func(c *Config) { c.Nodes, c.Byzantine = 7, 3 }, ErrByzantine},
		{"B = f+1 allowed for the negative test", func(c *Config) { c.Byzantine, c.AllowExcessByzantine = 2, true }, nil},
		{"B = f+2 never", func(c *Config) { c.Byzantine, c.AllowExcessByzantine = 3, true }, ErrByzantine},
		{"negative B", func(c *Config) { c.Byzantine = -1 }, ErrByzantine},
		{"B without a Byzantine fault", func(c *Config) { c.Faults = FaultNet }, ErrByzantine},
		{"B as twins", func(c *Config) { c.Faults = FaultTwins }, nil},
		{"zero blocks", func(c *Config) { c.Blocks = 0 }, ErrBlocks},
		{"skew just below drift", func(c *Config) { c.Faults |= FaultSkew; c.MaxSkewMs, c.MaxClockDriftMs = 999, 2000 }, nil},
		{"skew at drift", func(c *Config) { c.Faults |= FaultSkew; c.MaxSkewMs, c.MaxClockDriftMs = 1000, 2000 }, ErrSkew},
		{"partition script of the wrong width", func(c *Config) { c.Partitions = [][]int{{0, 1, 0}} }, ErrPartition},
		{"partition script with twin slots", func(c *Config) { c.Faults = FaultTwins; c.Partitions = [][]int{{0, 1, 0, 1, 1}} }, nil},
		{"ByzantineIDs", func(c *Config) { c.ByzantineIDs = []int{3} }, nil},
		{"ByzantineIDs out of range", func(c *Config) { c.ByzantineIDs = []int{4} }, ErrByzantine},
		{"ByzantineIDs of the wrong length", func(c *Config) { c.ByzantineIDs = []int{1, 2} }, ErrByzantine},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.mod(&c)
			err := c.WithDefaults().Validate()
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Validate() = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDeriveKeyIsDeterministicAndDistinct(t *testing.T) {
	a, b := ValidatorKeys(5, 4), ValidatorKeys(5, 4)
	seen := map[string]bool{}
	for i := range a {
		if a[i].D.Cmp(b[i].D) != 0 {
			t.Fatalf("key %d differs between derivations", i)
		}
		seen[a[i].D.String()] = true
	}
	if len(seen) != 4 {
		t.Fatalf("%d distinct keys of 4", len(seen))
	}
	if ValidatorKeys(6, 1)[0].D.Cmp(a[0].D) == 0 {
		t.Fatal("different seeds derived the same key")
	}
	if DeriveKey(domainClientKey, 5, 0).D.Cmp(a[0].D) == 0 {
		t.Fatal("client and validator domains derived the same key")
	}
}
