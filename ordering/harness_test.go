package ordering

import (
	"crypto/ecdsa"
	"fmt"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/chain"
)

// The test harness: n cores with real keys over an in-memory FIFO network
// that a test (or a script in testdata/) drives step by step. Its driver
// follows doc.go: persist, send, execute (+Executed), Advance, then propose
// when offered a slot and asked to.

const testChainID = "bafomet-test"

var (
	genesisHash = crypto.Keccak256Hash([]byte("genesis block"))
	genesisApp  = crypto.Keccak256Hash([]byte("genesis state"))
)

const genesisTs = 1_000

func testKey(i int) *ecdsa.PrivateKey {
	k, err := crypto.ToECDSA(crypto.Keccak256([]byte(fmt.Sprintf("validator key %d", i))))
	if err != nil {
		panic(err)
	}
	return k
}

func testValidators(t testing.TB, n int) (*chain.ValidatorSet, []*ecdsa.PrivateKey) {
	t.Helper()
	keys := make([]*ecdsa.PrivateKey, n)
	vals := make([]chain.Validator, n)
	for i := range keys {
		keys[i] = testKey(i)
		vals[i] = chain.Validator{Name: fmt.Sprintf("v%d", i), PubKey: crypto.CompressPubkey(&keys[i].PublicKey)}
	}
	vs, err := chain.NewValidatorSet(vals)
	if err != nil {
		t.Fatal(err)
	}
	return vs, keys
}

type envelope struct {
	from, to int
	msg      *Message
}

type testNode struct {
	core      *Core
	cfg       Config
	records   []Record
	committed committedList
	appHash   chain.Hash
	appHashes map[uint64]chain.Hash
	toPropose int
	down      bool
	stable    *CheckpointProof
	evidence  []Evidence
	// execQueue holds committed blocks not yet executed when the cluster
	// executes asynchronously; a crash loses it. execCap, when set, is the
	// highest height the node executes until a test raises it.
	execQueue []Committed
	execCap   *uint64
}

type cluster struct {
	t       testing.TB
	vs      *chain.ValidatorSet
	keys    []*ecdsa.PrivateKey
	nodes   []*testNode
	queue   []envelope
	cut     map[[2]int]bool       // from→to links that drop messages
	filter  func(e envelope) bool // drops a message when it returns true
	group   []int                 // partition: messages between groups drop (nil: none)
	byz     map[int]bool          // validator ids played by twins: excluded from agreement
	nowMs   uint64
	out     *strings.Builder // transcript, when non-nil
	sent    int
	maxLogs int // largest number of log entries seen in any core
	// skipCertCheck skips verifying certificates in execute (long runs,
	// where other tests already verify them).
	skipCertCheck bool
	trimCommitted bool            // keep only the last 64 committed blocks per node
	crashes       bool            // randomRound may crash and restart nodes
	asyncExec     bool            // committed blocks queue for execution (see testNode.execQueue)
	txBytes       int             // size of the one transaction of each proposed block (0: a short one)
	frameLimit    int             // messages whose encoding is larger are not sent (0: no limit)
	oversize      int             // messages frameLimit stopped
	largest       map[MsgType]int // largest encoding seen per type while frameLimit is set
	onFork        func(error)     // called on an agreement violation instead of failing
}

func newCluster(t testing.TB, n int, tweak func(*Config)) *cluster {
	t.Helper()
	vs, keys := testValidators(t, n)
	cl := &cluster{t: t, vs: vs, keys: keys, cut: map[[2]int]bool{}, byz: map[int]bool{}, nowMs: genesisTs + 1}
	for i := 0; i < n; i++ {
		cfg := Config{
			ChainID: testChainID, Validators: vs, Self: i, Signer: NewKeySigner(keys[i]),
			CheckpointInterval: 10, PipelineWindow: 1, ViewChangeTimeout: 10, ViewChangeTimeoutMax: 80,
			RetransmitTicks: 3, RetransmitTicksMax: 24, MaxClockDriftMs: 60_000,
		}
		if tweak != nil {
			tweak(&cfg)
		}
		nd := &testNode{cfg: cfg, appHash: genesisApp, appHashes: map[uint64]chain.Hash{0: genesisApp}}
		core, err := New(cfg, Restore{Height: 0, BlockHash: genesisHash, BlockTimestamp: genesisTs,
			AppHashes: []AppHashAt{{0, genesisApp}}})
		if err != nil {
			t.Fatal(err)
		}
		nd.core = core
		cl.nodes = append(cl.nodes, nd)
	}
	return cl
}

func (cl *cluster) logf(format string, args ...any) {
	if cl.out != nil {
		fmt.Fprintf(cl.out, format+"\n", args...)
	}
}

// process drains node i's Ready the way a driver must.
func (cl *cluster) process(i int) {
	nd := cl.nodes[i]
	for iter := 0; nd.core.HasReady() && !nd.down; iter++ {
		if iter > 10_000 {
			cl.t.Fatalf("node %d: Ready never drains", i)
		}
		rd := nd.core.Ready()
		nd.records = append(nd.records, rd.Persist...)
		for _, ob := range rd.Messages {
			cl.enqueue(i, ob)
		}
		for _, cm := range rd.Committed {
			if cl.asyncExec {
				nd.execQueue = append(nd.execQueue, cm)
			} else {
				cl.execute(i, cm)
			}
		}
		cl.executeQueued(i)
		if rd.Stable != nil {
			nd.stable = rd.Stable
			nd.pruneRecords(rd.Stable.Height)
		}
		nd.evidence = append(nd.evidence, rd.Evidence...)
		nd.core.Advance(rd)
		if rd.Propose != nil && nd.toPropose > 0 {
			nd.toPropose--
			if err := nd.core.Propose(cl.block(i, rd.Propose)); err != nil {
				cl.t.Fatalf("node %d: propose: %v", i, err)
			}
		}
		cl.noteLogSize(nd.core)
	}
}

func (nd *testNode) pruneRecords(stable uint64) {
	kept := nd.records[:0]
	for _, r := range nd.records {
		if r.Height >= stable {
			kept = append(kept, r)
		}
	}
	nd.records = kept
}

func (cl *cluster) noteLogSize(c *Core) {
	size := len(c.slots) + len(c.signed) + len(c.checkpoints) + len(c.hashes) + len(c.appHashes) + len(c.viewChanges) + len(c.peerCheckpoints)
	cl.maxLogs = max(cl.maxLogs, size)
}

func (cl *cluster) enqueue(from int, ob Outbound) {
	if cl.frameLimit > 0 {
		enc, err := EncodeMessage(ob.Msg)
		if err != nil {
			cl.t.Fatal(err)
		}
		if cl.largest == nil {
			cl.largest = map[MsgType]int{}
		}
		cl.largest[ob.Msg.Type] = max(cl.largest[ob.Msg.Type], len(enc))
		if len(enc) > cl.frameLimit {
			cl.oversize++
			cl.logf("%d %s of %d bytes not sent: frame limit %d", from, describe(ob.Msg), len(enc), cl.frameLimit)
			return
		}
	}
	self := cl.nodes[from].cfg.Self
	for to, nd := range cl.nodes {
		id := nd.cfg.Self
		if id == self || (ob.To != Broadcast && ob.To != id) {
			continue
		}
		cl.queue = append(cl.queue, envelope{from, to, ob.Msg})
		cl.sent++
	}
}

// addTwin adds a second core with validator id's identity and key (Twins,
// Bano et al.): together the pair behaves like one Byzantine validator.
func (cl *cluster) addTwin(id int) int {
	orig := cl.nodes[id]
	nd := &testNode{cfg: orig.cfg, appHash: genesisApp, appHashes: map[uint64]chain.Hash{0: genesisApp}}
	core, err := New(nd.cfg, Restore{BlockHash: genesisHash, BlockTimestamp: genesisTs, AppHashes: []AppHashAt{{0, genesisApp}}})
	if err != nil {
		cl.t.Fatal(err)
	}
	nd.core = core
	cl.nodes = append(cl.nodes, nd)
	cl.byz[id] = true
	return len(cl.nodes) - 1
}

// executeQueued executes node i's queued blocks up to its execCap.
func (cl *cluster) executeQueued(i int) {
	nd := cl.nodes[i]
	for len(nd.execQueue) > 0 && !nd.down {
		cm := nd.execQueue[0]
		if nd.execCap != nil && cm.Block.Header.Height > *nd.execCap {
			return
		}
		nd.execQueue = nd.execQueue[1:]
		cl.execute(i, cm)
	}
}

// capExecution lets node i execute only up to height h (asynchronous
// execution that lags); uncap lifts it.
func (cl *cluster) capExecution(i int, h uint64) { cl.nodes[i].execCap = &h }

// execute applies a committed block: the appHash chains the block hashes.
func (cl *cluster) execute(i int, cm Committed) {
	nd := cl.nodes[i]
	h := cm.Block.Header.Height
	if !cl.skipCertCheck {
		if err := cm.Certificate.Verify(testChainID, cl.vs); err != nil && !nd.cfg.WeakenQuorum {
			cl.t.Fatalf("node %d: certificate at %d does not verify: %v", i, h, err)
		}
	}
	if cm.Certificate.BlockHash != cm.Block.Hash() || cm.Certificate.Height != h {
		cl.t.Fatalf("node %d: certificate does not match block %d", i, h)
	}
	if len(nd.committed) > 0 && nd.committed[len(nd.committed)-1].Block.Header.Height+1 != h {
		cl.t.Fatalf("node %d: committed %d after %d", i, h, nd.committed[len(nd.committed)-1].Block.Header.Height)
	}
	nd.committed = append(nd.committed, cm)
	if cl.trimCommitted && len(nd.committed) > 64 {
		nd.committed = nd.committed[1:] // keep memory flat in long runs
	}
	nd.appHash = crypto.Keccak256Hash(nd.appHash[:], cm.Block.Hash().Bytes())
	nd.appHashes[h] = nd.appHash
	delete(nd.appHashes, h-min(h, 64))
	nd.core.Executed(h, nd.appHash)
	cl.logf("node %d committed %d %s view %d", i, h, short(cm.Block.Hash()), cm.Certificate.View)
}

// block builds the block node i proposes for slot.
func (cl *cluster) block(i int, slot *ProposalSlot) *chain.Block {
	tx := []byte(fmt.Sprintf("tx from %d at %d", i, slot.Height))
	if cl.txBytes > len(tx) {
		tx = append(tx, make([]byte, cl.txBytes-len(tx))...)
	}
	txs := [][]byte{tx}
	senders := []chain.Address{{}}
	return &chain.Block{
		Header: chain.Header{
			Height: slot.Height, ParentHash: slot.ParentHash, Timestamp: max(cl.nowMs, slot.ParentTimestamp+1),
			Proposer: cl.vs.Validator(cl.nodes[i].cfg.Self).Address, TxRoot: chain.TxRoot(txs, senders), AppHash: slot.AppHash,
			ValidatorsHash: cl.vs.Hash(),
		},
		Txs: txs, Senders: senders,
	}
}

// deliverAll delivers queued messages in FIFO order until none is left.
func (cl *cluster) deliverAll() {
	for steps := 0; len(cl.queue) > 0; steps++ {
		if steps > 1_000_000 {
			cl.t.Fatal("network never quiesces")
		}
		e := cl.queue[0]
		cl.queue = cl.queue[1:]
		cl.deliver(e)
	}
}

func (cl *cluster) deliver(e envelope) {
	nd := cl.nodes[e.to]
	if nd.down || cl.nodes[e.from].down || cl.cut[[2]int{e.from, e.to}] || (cl.filter != nil && cl.filter(e)) {
		cl.logf("%d->%d %s dropped", e.from, e.to, describe(e.msg))
		return
	}
	err := nd.core.Step(e.msg)
	if err != nil {
		cl.logf("%d->%d %s: %v", e.from, e.to, describe(e.msg), err)
	} else {
		cl.logf("%d->%d %s", e.from, e.to, describe(e.msg))
	}
	cl.process(e.to)
}

func (cl *cluster) propose(i, count int) {
	cl.nodes[i].toPropose += count
	cl.nodes[i].core.NotePending(true)
	cl.process(i)
}

func (cl *cluster) tick(i, count int) {
	for k := 0; k < count; k++ {
		if cl.nodes[i].down {
			return
		}
		cl.nodes[i].core.Tick(cl.nowMs)
		cl.process(i)
	}
}

// run proposes blocks at whichever node is primary until every up node has
// committed height target, ticking all nodes between rounds.
func (cl *cluster) run(target uint64, maxRounds int) {
	for r := 0; r < maxRounds; r++ {
		done := true
		for _, nd := range cl.nodes {
			if !nd.down && nd.core.committed < target {
				done = false
			}
		}
		if done {
			return
		}
		for i, nd := range cl.nodes {
			if nd.down {
				continue
			}
			if ss := nd.core.SoftState(); ss.Primary == nd.cfg.Self && !ss.InViewChange && nd.toPropose == 0 {
				nd.toPropose = int(nd.cfg.PipelineWindow)
			}
			cl.process(i)
		}
		cl.deliverAll()
		cl.nowMs += 10
		for i := range cl.nodes {
			cl.tick(i, 1)
		}
		cl.deliverAll()
	}
	cl.t.Fatalf("target %d not reached in %d rounds: %s", target, maxRounds, cl.status())
}

func (cl *cluster) status() string {
	var b strings.Builder
	for i, nd := range cl.nodes {
		ss := nd.core.SoftState()
		fmt.Fprintf(&b, "node %d: view %d primary %d in-view-change %v committed %d stable %d behind %d\n",
			i, ss.View, ss.Primary, ss.InViewChange, ss.Committed, ss.Stable, ss.Behind)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// checkAgreement fails the test (or calls onFork) if two honest nodes
// committed different blocks at one height.
func (cl *cluster) checkAgreement() {
	seen := map[uint64]chain.Hash{}
	for i, nd := range cl.nodes {
		if cl.byz[nd.cfg.Self] {
			continue
		}
		for _, cm := range nd.committed {
			h := cm.Block.Header.Height
			if prev, ok := seen[h]; ok && prev != cm.Block.Hash() {
				err := fmt.Errorf("fork at height %d: node %d has %s, another %s", h, i, cm.Block.Hash(), prev)
				if cl.onFork == nil {
					cl.t.Fatal(err)
				}
				cl.onFork(err)
				return
			}
			seen[h] = cm.Block.Hash()
		}
	}
}

// restart rebuilds node i from its records as a driver would after a crash.
func (cl *cluster) restart(i int) {
	nd := cl.nodes[i]
	var last *Committed
	if len(nd.committed) > 0 {
		last = &nd.committed[len(nd.committed)-1]
	}
	r := Restore{Height: 0, BlockHash: genesisHash, BlockTimestamp: genesisTs, Stable: nd.stable}
	for _, rec := range nd.records {
		r.Records = append(r.Records, rec.Msg)
	}
	if last != nil {
		r.Height, r.BlockHash, r.BlockTimestamp = last.Block.Header.Height, last.Block.Hash(), last.Block.Header.Timestamp
	}
	for _, cm := range nd.committed {
		if nd.stable == nil || cm.Block.Header.Height > nd.stable.Height {
			r.Certificates = append(r.Certificates, cm.Certificate)
		}
	}
	for h := r.Height + 1 - min(r.Height+1, nd.cfg.PipelineWindow); h <= r.Height; h++ {
		r.AppHashes = append(r.AppHashes, AppHashAt{h, nd.appHashes[h]})
	}
	core, err := New(nd.cfg, r)
	if err != nil {
		cl.t.Fatalf("restart %d: %v", i, err)
	}
	nd.core, nd.down, nd.execQueue = core, false, nil
	cl.process(i)
}

func short(h chain.Hash) string { return fmt.Sprintf("%x", h[:3]) }

func describe(m *Message) string {
	switch m.Type {
	case MsgPrePrepare, MsgPrepare, MsgCommit:
		return fmt.Sprintf("%s v%d h%d %s", m.Type, m.View, m.Height, short(m.Digest))
	case MsgCheckpoint:
		return fmt.Sprintf("Checkpoint h%d %s", m.Height, short(m.Digest))
	case MsgViewChange:
		return fmt.Sprintf("ViewChange v%d prepared %d", m.View, len(m.ViewChange.Prepared))
	default:
		return fmt.Sprintf("NewView v%d reproposes %d", m.View, len(m.NewView.PrePrepares))
	}
}

// isolate cuts every link to and from node i.
func (cl *cluster) isolate(i int) {
	for j := range cl.nodes {
		if j != i {
			cl.cut[[2]int{i, j}] = true
			cl.cut[[2]int{j, i}] = true
		}
	}
}

func (cl *cluster) heal() {
	clear(cl.cut)
	cl.group = nil
}

// tickAll ticks every up node count times, delivering messages after each.
func (cl *cluster) tickAll(count int) {
	for k := 0; k < count; k++ {
		cl.nowMs += 10
		for i := range cl.nodes {
			cl.tick(i, 1)
		}
		cl.deliverAll()
	}
}

type committedList []Committed

func (cs committedList) certificates() []*chain.Certificate {
	out := make([]*chain.Certificate, len(cs))
	for i, c := range cs {
		out[i] = c.Certificate
	}
	return out
}
