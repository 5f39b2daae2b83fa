package node

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
	"github.com/bafomet/bafomet/p2p"
)

// Why a consensus frame was dropped before the driver saw it.
type gateDrop int

const (
	dropRepeat       gateDrop = iota // the same frame was seen within p2p.seen_ttl
	dropUndecodable                  // not a well-formed consensus message
	dropTooManySigs                  // a view change or new view with more signatures than a valid one carries
	dropNotPrimary                   // a new view from a validator that is not its view's primary
	dropBadSignature                 // a signature, outer or nested, that does not verify
	numGateDrops
)

func (r gateDrop) String() string {
	switch r {
	case dropRepeat:
		return "repeat"
	case dropUndecodable:
		return "undecodable"
	case dropTooManySigs:
		return "too_many_signatures"
	case dropNotPrimary:
		return "not_primary"
	case dropBadSignature:
		return "bad_signature"
	}
	return fmt.Sprintf("gateDrop(%d)", int(r))
}

// invalid reports whether only a faulty sender sends such a frame.
func (r gateDrop) invalid() bool { return r != dropRepeat }

// Ban reasons, as logged and counted.
const (
	banInvalid = "invalid"
	banRepeats = "repeats"
)

// gateConfig is what the consensus gate checks against and its limits.
type gateConfig struct {
	ChainID    string
	Validators *chain.ValidatorSet
	// MaxFrame is the largest frame DecodeMessage accepts.
	MaxFrame int
	// LogWindow is the core's log window, which bounds what a view change
	// carries.
	LogWindow   uint64
	SeenFrames  int           // frames remembered per generation
	SeenTTL     time.Duration // how long a frame is remembered (one to two TTLs)
	ScoreWindow time.Duration // the window BanInvalid and BanRepeats count in
	BanInvalid  int           // invalid frames in a window that ban the peer
	BanRepeats  int           // repeated frames in a window that ban the peer
	BanDuration time.Duration
	// Ban disconnects and refuses a validator for a while (p2p.Host.Ban).
	Ban    func(index int, d time.Duration, reason string) bool
	Logger *slog.Logger
	Now    func() time.Time
}

// consensusGate checks consensus frames off the driver goroutine, in this
// order: a frame seen within SeenTTL is dropped before anything else is
// done with it; the frame is decoded; a view change or new view carrying
// more signatures than a valid one can is dropped before any is checked;
// then every signature the message carries, nested ones included, is
// verified against the same validator set the core uses, whose cache of
// verified signatures (and each certificate's own memo) makes the core's
// checks of the same message lookups. A peer whose invalid or repeated
// frames in one ScoreWindow reach BanInvalid or BanRepeats is banned for
// BanDuration. Its methods are safe for concurrent use.
type consensusGate struct {
	cfg    gateConfig
	vcSigs int // most signatures a valid view change carries
	nvSigs int // most signatures a valid new view carries
	seen   seenFrames

	mu     sync.Mutex
	scores map[int]*peerScore

	dropped   [numGateDrops]atomic.Uint64
	bans      [2]atomic.Uint64 // banInvalid, banRepeats
	sigChecks atomic.Uint64    // signatures verified (or found in the cache)
	passed    atomic.Uint64
}

// peerScore counts one peer's bad frames in the current window.
type peerScore struct {
	since            time.Time
	invalid, repeats int
}

func newConsensusGate(cfg gateConfig) *consensusGate {
	n := cfg.Validators.Size()
	vc, nv := maxSignatures(n, cfg.LogWindow)
	g := &consensusGate{cfg: cfg, vcSigs: vc, nvSigs: nv, scores: make(map[int]*peerScore)}
	g.seen.max, g.seen.ttl = cfg.SeenFrames, cfg.SeenTTL
	return g
}

// maxSignatures returns the most signatures a view change and a new view
// that the core accepts can carry, with n validators and the given log
// window: a view change has its own, a checkpoint proof of at most n, and
// for each height of the window either a commit certificate (at most n)
// or a prepared certificate (a pre-prepare and at most n prepares); a new
// view has its own, at most n view changes and a pre-prepare for each
// height of the window.
func maxSignatures(n int, logWindow uint64) (viewChange, newView int) {
	vc := uint64(1+n) + logWindow*uint64(n+1)
	nv := 1 + uint64(n)*vc + logWindow
	return int(min(vc, 1<<40)), int(min(nv, 1<<40))
}

// admit checks one frame from peer in.From and returns the message to give
// the driver, or nil when it was dropped.
func (g *consensusGate) admit(in p2p.Inbound) *ordering.Message {
	now := g.cfg.Now()
	key := sha256.Sum256(in.Data)
	if first, seen := g.seen.check(key, in.From, now); seen {
		g.drop(in.From, dropRepeat, first == in.From, now, nil)
		return nil
	}
	m, reason, err := g.check(in.Data)
	if err != nil {
		g.drop(in.From, reason, true, now, err)
		return nil
	}
	g.passed.Add(1)
	return m
}

// check decodes a frame and verifies every signature in it.
func (g *consensusGate) check(frame []byte) (*ordering.Message, gateDrop, error) {
	m, err := ordering.DecodeMessage(frame, g.cfg.MaxFrame)
	if err != nil {
		return nil, dropUndecodable, err
	}
	switch sigs := countSignatures(m); {
	case m.Type == ordering.MsgViewChange && sigs > g.vcSigs:
		return nil, dropTooManySigs, fmt.Errorf("view change carries %d signatures, limit %d", sigs, g.vcSigs)
	case m.Type == ordering.MsgNewView && sigs > g.nvSigs:
		return nil, dropTooManySigs, fmt.Errorf("new view carries %d signatures, limit %d", sigs, g.nvSigs)
	case m.Type == ordering.MsgNewView && uint64(m.From) != m.View%uint64(g.cfg.Validators.Size()):
		return nil, dropNotPrimary, fmt.Errorf("new view %d from %d", m.View, m.From)
	}
	if err := g.verify(m); err != nil {
		return nil, dropBadSignature, err
	}
	return m, 0, nil
}

// countSignatures counts the signatures m carries, nested ones included,
// without checking any.
func countSignatures(m *ordering.Message) int {
	n := 1
	if vc := m.ViewChange; vc != nil {
		if vc.Checkpoint != nil {
			n += len(vc.Checkpoint.Checkpoints)
		}
		for _, p := range vc.Prepared {
			n += 1 + len(p.Prepares)
		}
		for _, c := range vc.Committed {
			n += len(c.Signatures)
		}
	}
	if nv := m.NewView; nv != nil {
		for _, vc := range nv.ViewChanges {
			n += countSignatures(vc)
		}
		n += len(nv.PrePrepares)
	}
	return n
}

// verify checks m's signature and every nested one: checkpoint proofs,
// prepared certificates, commit certificates and, in a new view, its view
// changes and pre-prepares.
func (g *consensusGate) verify(m *ordering.Message) error {
	if err := g.verifyOne(m); err != nil {
		return err
	}
	if vc := m.ViewChange; vc != nil {
		if vc.Checkpoint != nil {
			if err := g.verifyAll(vc.Checkpoint.Checkpoints); err != nil {
				return err
			}
		}
		for _, p := range vc.Prepared {
			if err := g.verifyOne(p.PrePrepare); err != nil {
				return err
			}
			if err := g.verifyAll(p.Prepares); err != nil {
				return err
			}
		}
		for _, c := range vc.Committed {
			g.sigChecks.Add(uint64(len(c.Signatures)))
			if err := c.Verify(g.cfg.ChainID, g.cfg.Validators); err != nil {
				return fmt.Errorf("commit certificate at %d: %w", c.Height, err)
			}
		}
	}
	if nv := m.NewView; nv != nil {
		for _, vc := range nv.ViewChanges {
			if err := g.verify(vc); err != nil {
				return err
			}
		}
		return g.verifyAll(nv.PrePrepares)
	}
	return nil
}

func (g *consensusGate) verifyAll(ms []*ordering.Message) error {
	for _, m := range ms {
		if err := g.verifyOne(m); err != nil {
			return err
		}
	}
	return nil
}

func (g *consensusGate) verifyOne(m *ordering.Message) error {
	g.sigChecks.Add(1)
	return ordering.VerifyMessage(g.cfg.ChainID, g.cfg.Validators, m)
}

// drop counts a dropped frame and, when it is invalid or a repeat from the
// peer that sent it first (own), scores the peer, banning it at a
// threshold.
func (g *consensusGate) drop(from int, r gateDrop, own bool, now time.Time, err error) {
	g.dropped[r].Add(1)
	if r.invalid() {
		g.cfg.Logger.Debug("consensus frame dropped", "from", from, "reason", r, "err", err)
	}
	if from < 0 || !own {
		return
	}
	g.mu.Lock()
	s := g.scores[from]
	if s == nil || now.Sub(s.since) >= g.cfg.ScoreWindow {
		s = &peerScore{since: now}
		g.scores[from] = s
	}
	reason := ""
	if r.invalid() {
		if s.invalid++; s.invalid >= g.cfg.BanInvalid {
			reason = banInvalid
		}
	} else if s.repeats++; s.repeats >= g.cfg.BanRepeats {
		reason = banRepeats
	}
	invalid, repeats := s.invalid, s.repeats
	if reason != "" {
		delete(g.scores, from)
	}
	g.mu.Unlock()
	if reason == "" {
		return
	}
	if reason == banInvalid {
		g.bans[0].Add(1)
	} else {
		g.bans[1].Add(1)
	}
	g.cfg.Logger.Warn("banning validator for invalid or repeated consensus messages", "peer", from, "reason", reason,
		"invalid", invalid, "repeats", repeats, "window", g.cfg.ScoreWindow, "for", g.cfg.BanDuration, "last_err", err)
	g.cfg.Ban(from, g.cfg.BanDuration, fmt.Sprintf("%s: %d invalid and %d repeated consensus frames within %s", reason, invalid, repeats, g.cfg.ScoreWindow))
}

// seenFrames remembers frame hashes, and which peer sent each first, for
// at least ttl and at most 3×ttl, or less when more than max arrive within
// a ttl: two generations, the current one becoming the previous one when
// it is ttl old or full.
type seenFrames struct {
	max int
	ttl time.Duration

	mu        sync.Mutex
	cur, prev map[[32]byte]int
	curSince  time.Time
}

// check reports whether key was seen, and from whom first; if not, it
// remembers key as sent by from.
func (s *seenFrames) check(key [32]byte, from int, now time.Time) (first int, seen bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch age := now.Sub(s.curSince); {
	case s.cur == nil || age >= 2*s.ttl:
		s.prev, s.cur, s.curSince = nil, make(map[[32]byte]int), now
	case age >= s.ttl:
		s.prev, s.cur, s.curSince = s.cur, make(map[[32]byte]int), now
	}
	if first, ok := s.cur[key]; ok {
		return first, true
	}
	if first, ok := s.prev[key]; ok {
		return first, true
	}
	if len(s.cur) >= s.max {
		s.prev, s.cur, s.curSince = s.cur, make(map[[32]byte]int), now
	}
	s.cur[key] = from
	return 0, false
}

// checkConsensus runs one of the p2p.verify_workers goroutines: it takes
// frames from the p2p host's fair merge, checks them through the gate and
// queues what passes for the driver, until ctx ends or the host closes.
func (n *Node) checkConsensus(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case in, ok := <-n.host.Inbound():
			if !ok {
				return
			}
			m := n.gate.admit(in)
			if m == nil {
				continue
			}
			select {
			case n.consensusIn <- m:
			case <-ctx.Done():
				return
			}
		}
	}
}
