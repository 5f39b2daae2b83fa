package blocksync

import (
	"testing"
	"time"
)

func TestSharedChainBuilds(t *testing.T) {
	start := time.Now()
	c := getShared(t)
	h, err := c.store.Height()
	if err != nil || h != sharedHeight {
		t.Fatalf("height %d, %v", h, err)
	}
	t.Logf("built %d blocks in %s", h, time.Since(start))
}
