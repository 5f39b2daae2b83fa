package blocksync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/bafomet/bafomet/chain"
)

// Fetcher defaults.
const (
	DefaultRangeBlocks        = 64
	DefaultMaxResponseBytes   = 16 << 20 // p2p's DefaultSyncResponseMax; the server's DefaultServeMaxBytes
	DefaultMaxInFlight        = 4
	DefaultMaxPerPeer         = 2
	DefaultWindowBlocks       = 1024
	DefaultMaxBufferedBytes   = 128 << 20
	DefaultDeliverQueue       = 256
	DefaultMaxCheckpointBytes = 64 << 10
	DefaultRequestTimeout     = 15 * time.Second
	DefaultPeerCooldown       = 10 * time.Second
	DefaultBehindRetry        = 2 * time.Second
	DefaultProgressInterval   = 3 * time.Second
)

// Requester sends one sync request to validator to and returns its
// response. It must return once ctx ends. *p2p.Host implements it.
type Requester interface {
	Request(ctx context.Context, to int, req []byte) ([]byte, error)
}

// Limits bounds the fetcher's requests, memory and waits. Zero fields take
// the Default* values.
type Limits struct {
	RangeBlocks      int // blocks asked for in one request
	MaxResponseBytes int // largest response accepted; must exceed the largest block
	MaxInFlight      int // requests outstanding at once, over all peers
	MaxPerPeer       int // requests outstanding at once to one peer
	// WindowBlocks bounds how far above the next height to deliver a
	// range may start: fetched-but-undelivered blocks stay below it.
	WindowBlocks int
	// MaxBufferedBytes bounds the bytes of fetched-but-undelivered
	// responses plus MaxResponseBytes per request in flight. The request
	// for the lowest missing range is always allowed, so the true bound
	// is MaxBufferedBytes + MaxResponseBytes.
	MaxBufferedBytes   int
	DeliverQueue       int // verified blocks queued in Blocks() for the node
	MaxCheckpointBytes int // one encoded checkpoint proof
	VerifyParallelism  int // goroutines verifying one response; default GOMAXPROCS

	RequestTimeout   time.Duration // one request, end to end
	PeerCooldown     time.Duration // how long a faulty peer is left out
	BehindRetry      time.Duration // how long a peer below the wanted height is left out
	ProgressInterval time.Duration // progress logging and rate sampling
}

func (l Limits) withDefaults() (Limits, error) {
	ints := []struct {
		name string
		v    *int
		def  int
	}{
		{"RangeBlocks", &l.RangeBlocks, DefaultRangeBlocks},
		{"MaxResponseBytes", &l.MaxResponseBytes, DefaultMaxResponseBytes},
		{"MaxInFlight", &l.MaxInFlight, DefaultMaxInFlight},
		{"MaxPerPeer", &l.MaxPerPeer, DefaultMaxPerPeer},
		{"WindowBlocks", &l.WindowBlocks, DefaultWindowBlocks},
		{"MaxBufferedBytes", &l.MaxBufferedBytes, DefaultMaxBufferedBytes},
		{"DeliverQueue", &l.DeliverQueue, DefaultDeliverQueue},
		{"MaxCheckpointBytes", &l.MaxCheckpointBytes, DefaultMaxCheckpointBytes},
		{"VerifyParallelism", &l.VerifyParallelism, runtime.GOMAXPROCS(0)},
	}
	for _, f := range ints {
		if *f.v < 0 {
			return l, fmt.Errorf("blocksync: limit %s is negative (%d)", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	durs := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"RequestTimeout", &l.RequestTimeout, DefaultRequestTimeout},
		{"PeerCooldown", &l.PeerCooldown, DefaultPeerCooldown},
		{"BehindRetry", &l.BehindRetry, DefaultBehindRetry},
		{"ProgressInterval", &l.ProgressInterval, DefaultProgressInterval},
	}
	for _, f := range durs {
		if *f.v < 0 {
			return l, fmt.Errorf("blocksync: limit %s is negative (%s)", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if l.WindowBlocks < l.RangeBlocks {
		return l, fmt.Errorf("blocksync: WindowBlocks %d is below RangeBlocks %d", l.WindowBlocks, l.RangeBlocks)
	}
	if l.MaxBufferedBytes < l.MaxResponseBytes {
		return l, fmt.Errorf("blocksync: MaxBufferedBytes %d is below MaxResponseBytes %d", l.MaxBufferedBytes, l.MaxResponseBytes)
	}
	return l, nil
}

// Config configures one sync: from the node's latest block (Start,
// StartHash) up to Target, from Peers.
type Config struct {
	ChainID    string
	Validators *chain.ValidatorSet
	// CheckpointInterval, when non-zero, is the chain's checkpoint
	// interval; proofs at other heights are rejected.
	CheckpointInterval uint64
	Requester          Requester
	Peers              []int      // validator indexes to fetch from (not this node)
	Start              uint64     // the node's latest height
	StartHash          chain.Hash // the hash of that block (the genesis hash at 0)
	Target             uint64     // the height to reach; SetTarget may raise it
	Limits             Limits
	Log                *slog.Logger // nil means slog.Default()
}

func (c *Config) check() error {
	switch {
	case c.Validators == nil:
		return errors.New("blocksync: no validator set")
	case c.Requester == nil:
		return errors.New("blocksync: no requester")
	case len(c.Peers) == 0:
		return errors.New("blocksync: no peers")
	}
	seen := make(map[int]bool, len(c.Peers))
	for _, p := range c.Peers {
		if p < 0 || p >= c.Validators.Size() || seen[p] {
			return fmt.Errorf("blocksync: peer %d is not a distinct validator index below %d", p, c.Validators.Size())
		}
		seen[p] = true
	}
	return nil
}
