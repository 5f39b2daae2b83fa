package sim

import (
	"errors"
	"fmt"
	"math/bits"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
)

// Violation kinds.
const (
	KindAgreement   = "agreement"    // two honest nodes committed different blocks at one height
	KindValidity    = "validity"     // a committed block was not proposed by its view's primary, or holds an unsubmitted tx
	KindCertificate = "certificate"  // a commit certificate does not verify or does not match its block
	KindLiveness    = "liveness"     // an honest node missed the target height within the bound after healing
	KindOrder       = "order"        // a core delivered committed blocks out of height order
	KindEquivocate  = "equivocation" // an honest node signed two different digests for one (type, view, height)
	KindViewRegress = "view-regress" // an honest node voted in a view below one it had sent a view change for
)

// Violation is a broken invariant. Seed and Step reproduce it; Height,
// View and Nodes (node slots) say where it showed, where they apply.
type Violation struct {
	Kind        string `json:"kind"`
	Seed        uint64 `json:"seed"`
	Step        uint64 `json:"step"`
	Tick        uint64 `json:"tick"`
	Height      uint64 `json:"height"`
	View        uint64 `json:"view"`
	Nodes       []int  `json:"nodes"`
	Description string `json:"description"`
}

func (v Violation) String() string {
	return fmt.Sprintf("%s violation at seed %d step %d tick %d (height %d, view %d, nodes %v): %s",
		v.Kind, v.Seed, v.Step, v.Tick, v.Height, v.View, v.Nodes, v.Description)
}

// where locates a violation.
type where struct {
	height, view uint64
	nodes        []int
}

// MaxViolations bounds how many violations one run records; the first is
// the one that matters, the rest are context.
const MaxViolations = 32

type viewHash struct {
	view uint64
	hash chain.Hash
}

type voteKey struct {
	from   uint32
	typ    ordering.MsgType
	view   uint64
	height uint64
}

type firstCommit struct {
	hash chain.Hash
	slot int
}

// checker holds the invariants and the history they are checked against.
// The simulator feeds it every event as it happens, so each invariant is
// checked in the step that could break it.
type checker struct {
	seed       uint64
	chainID    string
	vs         *chain.ValidatorSet
	quorum     int    // the quorum the cores run with
	honest     []bool // by validator index
	step       uint64
	tick       uint64
	committed  map[uint64]firstCommit               // height → first honest commit
	proposed   map[viewHash]struct{}                // (view, hash) pre-prepared by primary(view)
	submitted  map[chain.Hash]chain.Address         // tx hash → sender
	certOK     map[chain.Hash]struct{}              // certificates already verified, by hash of their encoding
	votes      map[voteKey]chain.Hash               // honest signed votes
	vcView     map[uint32]uint64                    // highest view each honest validator sent a view change for
	commits    map[commitSlot]map[chain.Hash]uint64 // signers (a bit per validator) of the commits seen, by height and view
	certified  map[uint64]chain.Hash                // height → the block a quorum of commits certified there
	txHash     func(tx []byte) chain.Hash           // the workload's transaction hash
	txsIn      map[chain.Hash]struct{}              // transactions in the blocks of committed
	violations []Violation
}

func newChecker(seed uint64, chainID string, vs *chain.ValidatorSet, quorum int, honest []bool, txHash func([]byte) chain.Hash) *checker {
	return &checker{
		txHash:    txHash,
		seed:      seed,
		chainID:   chainID,
		vs:        vs,
		quorum:    quorum,
		honest:    honest,
		committed: make(map[uint64]firstCommit),
		proposed:  make(map[viewHash]struct{}),
		submitted: make(map[chain.Hash]chain.Address),
		certOK:    make(map[chain.Hash]struct{}),
		votes:     make(map[voteKey]chain.Hash),
		vcView:    make(map[uint32]uint64),
		commits:   make(map[commitSlot]map[chain.Hash]uint64),
		certified: make(map[uint64]chain.Hash),
		txsIn:     make(map[chain.Hash]struct{}),
	}
}

func (c *checker) violate(kind string, at where, format string, args ...any) {
	if len(c.violations) >= MaxViolations {
		return
	}
	nodes := at.nodes
	if nodes == nil {
		nodes = []int{}
	}
	v := Violation{
		Kind: kind, Seed: c.seed, Step: c.step, Tick: c.tick, Height: at.height, View: at.view, Nodes: nodes,
		Description: fmt.Sprintf(format, args...),
	}
	for _, seen := range c.violations {
		if seen.Step == v.Step && seen.Kind == v.Kind && seen.Description == v.Description {
			return // the same finding, seen again by another message of this step
		}
	}
	c.violations = append(c.violations, v)
}

// primary returns the validator index that leads view.
func (c *checker) primary(view uint64) uint32 { return uint32(view % uint64(c.vs.Size())) }

// submit records a transaction a client submitted.
func (c *checker) submit(txHash chain.Hash, sender chain.Address) { c.submitted[txHash] = sender }

// observe records a validly signed message as it enters the network. It
// learns proposals (pre-prepares by their view's primary, alone or inside a
// NewView) and, for honest signers, checks that no (type, view, height) is
// ever signed with two digests — the persist-before-send guarantee across
// crashes.
func (c *checker) observe(m *ordering.Message) {
	switch m.Type {
	case ordering.MsgPrePrepare:
		c.learnProposal(m)
	case ordering.MsgCommit:
		c.countCommit(m)
	case ordering.MsgNewView:
		if m.NewView != nil {
			for _, pp := range m.NewView.PrePrepares {
				if pp != nil && pp.From == m.From {
					c.learnProposal(pp)
				}
			}
		}
	}
	if int(m.From) >= len(c.honest) || !c.honest[m.From] {
		return
	}
	switch m.Type {
	case ordering.MsgPrePrepare, ordering.MsgPrepare, ordering.MsgCommit:
	case ordering.MsgViewChange:
		c.vcView[m.From] = max(c.vcView[m.From], m.View)
		return
	default:
		return
	}
	k := voteKey{m.From, m.Type, m.View, m.Height}
	prev, resent := c.votes[k]
	if resent && prev != m.Digest {
		c.violate(KindEquivocate, where{m.Height, m.View, []int{int(m.From)}}, "honest validator %d signed type %d at view %d height %d for %s and %s",
			m.From, m.Type, m.View, m.Height, short(prev), short(m.Digest))
		return
	}
	if vc := c.vcView[m.From]; !resent && m.View < vc {
		c.violate(KindViewRegress, where{m.Height, m.View, []int{int(m.From)}},
			"honest validator %d signed type %d in view %d after a view change to %d", m.From, m.Type, m.View, vc)
	}
	c.votes[k] = m.Digest
}

type commitSlot struct{ height, view uint64 }

// countCommit counts a commit by any validator, honest or not. Once a
// quorum of one view signed one block at a height, that block has a
// certificate: a certificate for another block at that height, in any
// view, is a fork even if no node executed either.
func (c *checker) countCommit(m *ordering.Message) {
	if int(m.From) >= c.vs.Size() || m.From >= 64 {
		return
	}
	k := commitSlot{m.Height, m.View}
	byDigest := c.commits[k]
	if byDigest == nil {
		byDigest = make(map[chain.Hash]uint64)
		c.commits[k] = byDigest
	}
	byDigest[m.Digest] |= 1 << m.From
	if bits.OnesCount64(byDigest[m.Digest]) < c.quorum {
		return
	}
	if prev, ok := c.certified[m.Height]; ok && prev != m.Digest {
		c.violate(KindAgreement, where{m.Height, m.View, nil}, "height %d certified for %s and, in view %d, for %s",
			m.Height, short(prev), m.View, short(m.Digest))
		return
	}
	c.certified[m.Height] = m.Digest
}

func (c *checker) learnProposal(pp *ordering.Message) {
	if pp.Type == ordering.MsgPrePrepare && pp.From == c.primary(pp.View) {
		c.proposed[viewHash{pp.View, pp.Digest}] = struct{}{}
	}
}

// commit checks one block a node in slot committed and executed. honest
// says whether the node's identity is honest.
func (c *checker) commit(slot int, honest bool, b *chain.Block, cert *chain.Certificate) {
	h := b.Header.Height
	hash := b.Hash()
	c.checkCertificate(slot, b, hash, cert)
	if !honest {
		return
	}
	c.checkValidity(slot, b, hash, cert)
	if first, ok := c.committed[h]; ok {
		if first.hash != hash {
			c.violate(KindAgreement, where{h, certView(cert), []int{first.slot, slot}}, "height %d: slot %d committed %s but slot %d committed %s",
				h, first.slot, short(first.hash), slot, short(hash))
		}
		return
	}
	c.committed[h] = firstCommit{hash, slot}
	for _, tx := range b.Txs {
		c.txsIn[c.txHash(tx)] = struct{}{}
	}
}

func (c *checker) checkCertificate(slot int, b *chain.Block, hash chain.Hash, cert *chain.Certificate) {
	if cert == nil {
		c.violate(KindCertificate, where{b.Header.Height, 0, []int{slot}}, "slot %d committed height %d without a certificate", slot, b.Header.Height)
		return
	}
	if cert.Height != b.Header.Height || cert.BlockHash != hash {
		c.violate(KindCertificate, where{b.Header.Height, cert.View, []int{slot}}, "slot %d: certificate for height %d %s does not match block at height %d %s",
			slot, cert.Height, short(cert.BlockHash), b.Header.Height, short(hash))
		return
	}
	key := certKey(cert)
	if _, ok := c.certOK[key]; ok {
		return
	}
	if err := verifyCertificate(c.chainID, c.vs, c.quorum, cert); err != nil {
		c.violate(KindCertificate, where{cert.Height, cert.View, []int{slot}}, "slot %d: certificate for height %d: %v", slot, cert.Height, err)
		return
	}
	c.certOK[key] = struct{}{}
}

// verifyCertificate is chain.Certificate.Verify, except that with a
// weakened quorum (below the validator set's) a certificate holding at
// least quorum valid signatures is accepted: the weakened mode exists to
// show that the agreement checker, not this one, catches the fork.
func verifyCertificate(chainID string, vs *chain.ValidatorSet, quorum int, cert *chain.Certificate) error {
	err := cert.Verify(chainID, vs)
	if err != nil && quorum < vs.Quorum() && errors.Is(err, chain.ErrCertNoQuorum) && len(cert.Signatures) >= quorum {
		return nil
	}
	return err
}

func (c *checker) checkValidity(slot int, b *chain.Block, hash chain.Hash, cert *chain.Certificate) {
	if cert != nil {
		if _, ok := c.proposed[viewHash{cert.View, hash}]; !ok {
			c.violate(KindValidity, where{b.Header.Height, cert.View, []int{slot}}, "slot %d committed height %d %s in view %d, never pre-prepared by that view's primary %d",
				slot, b.Header.Height, short(hash), cert.View, c.primary(cert.View))
		}
	}
	if err := b.CheckTxRoot(); err != nil {
		c.violate(KindValidity, where{b.Header.Height, certView(cert), []int{slot}}, "slot %d committed height %d: %v", slot, b.Header.Height, err)
		return
	}
	for i, tx := range b.Txs {
		th := c.txHash(tx)
		sender, ok := c.submitted[th]
		if !ok {
			c.violate(KindValidity, where{b.Header.Height, certView(cert), []int{slot}}, "slot %d committed height %d with tx %d %s that was never submitted",
				slot, b.Header.Height, i, short(th))
			return
		}
		if sender != b.Senders[i] {
			c.violate(KindValidity, where{b.Header.Height, certView(cert), []int{slot}}, "slot %d committed height %d with tx %d attributed to %s, submitted by %s",
				slot, b.Header.Height, i, b.Senders[i], sender)
			return
		}
	}
}

// order records that a core delivered height got when want was next.
func (c *checker) order(slot int, got, want uint64) {
	c.violate(KindOrder, where{got, 0, []int{slot}}, "slot %d: core delivered committed height %d, expected %d", slot, got, want)
}

// liveness records that the honest slots reached only the heights given
// (the lowest is height), in view at most, of target within bound ticks
// after the last fault healed.
func (c *checker) liveness(slots []int, height, view, target, bound uint64) {
	c.violate(KindLiveness, where{height, view, slots}, "honest slots %v stayed below height %d (lowest %d) within %d ticks after the last fault healed",
		slots, target, height, bound)
}

// certView is the view of a certificate, or 0 without one.
func certView(cert *chain.Certificate) uint64 {
	if cert == nil {
		return 0
	}
	return cert.View
}

func short(h chain.Hash) string { return h.Hex()[:10] }
