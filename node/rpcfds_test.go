package node

import "testing"

func TestRPCConnBudget(t *testing.T) {
	for _, tc := range []struct {
		configured int
		nofile     uint64
		want       int
	}{
		{1024, 0, 1024},       // unknown or unlimited
		{1024, 1 << 20, 1024}, // well below half
		{1024, 2048, 1024},    // exactly half
		{1024, 2047, 1023},    // one under: lowered
		{1024, 1024, 512},     // a common soft limit
		{1024, 20000, 1024},   // the review's machine
		{30000, 20000, 10000}, // an operator asking for too much
		{1, 1, 1},             // never zero
	} {
		if got := rpcConnBudget(tc.configured, tc.nofile); got != tc.want {
			t.Errorf("rpcConnBudget(%d, %d) = %d, want %d", tc.configured, tc.nofile, got, tc.want)
		}
	}
}
