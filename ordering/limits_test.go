package ordering

import (
	"errors"
	"testing"

	"github.com/bafomet/bafomet/chain"
)

func newTestCore(t *testing.T, self int, tweak func(*Config)) *Core {
	t.Helper()
	vs, keys := testValidators(t, 4)
	cfg := Config{ChainID: testChainID, Validators: vs, Self: self, Signer: NewKeySigner(keys[self]),
		CheckpointInterval: 10, ViewChangeTimeout: 4, ViewChangeTimeoutMax: 10, RetransmitTicks: 2, RetransmitTicksMax: 8}
	if tweak != nil {
		tweak(&cfg)
	}
	c, err := New(cfg, Restore{BlockHash: genesisHash, BlockTimestamp: genesisTs, AppHashes: []AppHashAt{{0, genesisApp}}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConfigDefaultsAndValidation(t *testing.T) {
	c := newTestCore(t, 1, func(c *Config) { c.CheckpointInterval, c.ViewChangeTimeout, c.ViewChangeTimeoutMax = 0, 0, 0 })
	got := c.cfg
	if got.CheckpointInterval != DefaultCheckpointInterval || got.LogWindow != 2*DefaultCheckpointInterval ||
		got.PipelineWindow != DefaultPipelineWindow || got.ViewChangeTimeout != DefaultViewChangeTimeout ||
		got.ViewChangeTimeoutMax != DefaultViewChangeTimeoutMax || got.MaxEvidence != DefaultMaxEvidence {
		t.Fatalf("defaults not applied: %+v", got)
	}
	vs, keys := testValidators(t, 4)
	bad := []Config{
		{ChainID: testChainID, Validators: vs, Self: 4, Signer: NewKeySigner(keys[0])},
		{ChainID: "", Validators: vs, Self: 0, Signer: NewKeySigner(keys[0])},
		{ChainID: testChainID, Validators: vs, Self: 0, Signer: NewKeySigner(keys[0]), CheckpointInterval: 10, LogWindow: 5},
		{ChainID: testChainID, Validators: vs, Self: 0, Signer: NewKeySigner(keys[0]), PipelineWindow: 30, LogWindow: 20, CheckpointInterval: 10},
		{ChainID: testChainID, Validators: vs, Self: 0, Signer: NewKeySigner(keys[0]), ViewChangeTimeout: 10, ViewChangeTimeoutMax: 5},
		{ChainID: testChainID, Self: 0, Signer: NewKeySigner(keys[0])},
	}
	for i, cfg := range bad {
		if _, err := New(cfg, Restore{}); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
}

// Heights are accepted in (stable, stable+LogWindow] only.
func TestWatermarksAtTheLimit(t *testing.T) {
	c := newTestCore(t, 1, nil) // LogWindow = 20
	tests := []struct {
		height uint64
		want   error
	}{{0, ErrOutsideWindow}, {1, nil}, {20, nil}, {21, ErrOutsideWindow}, {1 << 62, ErrOutsideWindow}}
	for _, tt := range tests {
		m := signed(t, 2, &Message{Type: MsgPrepare, Height: tt.height, Digest: genesisHash})
		if err := c.Step(m); !errors.Is(err, tt.want) && (tt.want != nil || err != nil) {
			t.Errorf("prepare at %d: %v, want %v", tt.height, err, tt.want)
		}
	}
	if len(c.slots) != 2 {
		t.Fatalf("%d slots, want 2", len(c.slots))
	}
}

func viewChangeMsg(t *testing.T, from int, view uint64) *Message {
	return signed(t, from, &Message{Type: MsgViewChange, View: view, Height: 20, ViewChange: &ViewChange{}})
}

// The view-change timeout doubles per consecutive view change and stops at
// ViewChangeTimeoutMax. Escalation needs a quorum of view changes for the
// current view, which validators 1 and 2 supply.
func TestViewChangeTimeoutBacksOffToTheCap(t *testing.T) {
	c := newTestCore(t, 0, nil) // timeout 4, max 10
	c.NotePending(true)
	var changes []uint64 // tick at which each view change happened
	for tick := uint64(1); tick <= 40; tick++ {
		v := c.view
		c.Tick(0)
		if c.view != v {
			changes = append(changes, tick)
			for _, from := range []int{1, 2} {
				if err := c.Step(viewChangeMsg(t, from, c.view)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	want := []uint64{4, 12, 22, 32}
	if len(changes) != len(want) {
		t.Fatalf("view changes at ticks %v, want %v", changes, want)
	}
	for i := range want {
		if changes[i] != want[i] {
			t.Fatalf("view changes at ticks %v, want %v", changes, want)
		}
	}
}

// A node alone in a view change does not escalate further (PBFT moves past
// v+1 only after 2f+1 view changes for v+1).
func TestLoneViewChangeDoesNotEscalate(t *testing.T) {
	c := newTestCore(t, 0, nil)
	c.NotePending(true)
	for tick := 0; tick < 200; tick++ {
		c.Tick(0)
	}
	if ss := c.SoftState(); ss.View != 1 || !ss.InViewChange {
		t.Fatalf("lone node at %+v, want waiting in view change 1", ss)
	}
	if err := c.Step(viewChangeMsg(t, 2, 1)); err != nil {
		t.Fatal(err)
	}
	for tick := 0; tick < 200; tick++ {
		c.Tick(0)
	}
	if c.view != 1 {
		t.Fatalf("escalated to %d with 2 of 3 view changes", c.view)
	}
	if err := c.Step(viewChangeMsg(t, 3, 1)); err != nil {
		t.Fatal(err)
	}
	for tick := 0; tick < 8; tick++ {
		c.Tick(0)
	}
	if c.view != 2 {
		t.Fatalf("view %d after a quorum of view changes for 1 and a timeout, want 2", c.view)
	}
}

// A node stuck in a view change re-sends it after RetransmitTicks, then at
// intervals that double up to RetransmitTicksMax, and never stops.
func TestRetransmitsBackOffAndNeverStop(t *testing.T) {
	c := newTestCore(t, 1, func(c *Config) { c.ViewChangeTimeout, c.ViewChangeTimeoutMax = 100, 100 })
	c.startViewChange(1)
	c.Advance(c.Ready())
	var at []int
	for tick := 1; tick <= 1000; tick++ {
		c.Tick(0)
		rd := c.Ready()
		for _, ob := range rd.Messages {
			if ob.Msg.Type == MsgViewChange {
				at = append(at, tick)
			}
		}
		c.Advance(rd)
	}
	want := []int{2, 6, 14, 22, 30}
	if len(at) < len(want) {
		t.Fatalf("re-sent at ticks %v, want %v first", at, want)
	}
	for i, w := range want {
		if at[i] != w {
			t.Fatalf("re-sent at ticks %v, want %v first", at[:len(want)], want)
		}
	}
	if last := at[len(at)-1]; last < 1000-8 {
		t.Fatalf("last re-send at tick %d of 1000: re-sending stopped", last)
	}
}

// f+1 view changes for higher views make a node join the smallest.
func TestViewSynchronisation(t *testing.T) {
	c := newTestCore(t, 1, nil)
	vc := func(from int, view uint64) *Message { return viewChangeMsg(t, from, view) }
	if err := c.Step(vc(2, 7)); err != nil {
		t.Fatal(err)
	}
	if c.view != 0 {
		t.Fatalf("joined view %d on one view change", c.view)
	}
	if err := c.Step(vc(2, 7)); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("repeated view change: %v", err)
	}
	if err := c.Step(vc(3, 5)); err != nil {
		t.Fatal(err)
	}
	if ss := c.SoftState(); ss.View != 5 || !ss.InViewChange {
		t.Fatalf("after f+1 view changes: %+v, want view change to 5", ss)
	}
	if len(c.viewChanges) != 3 {
		t.Fatalf("holds %d view changes, want one per sender (3)", len(c.viewChanges))
	}
}

// Evidence is buffered up to MaxEvidence per Ready.
func TestEvidenceIsBounded(t *testing.T) {
	c := newTestCore(t, 1, func(c *Config) { c.MaxEvidence = 2 })
	for h := uint64(1); h <= 4; h++ {
		a := signed(t, 2, &Message{Type: MsgPrepare, Height: h, Digest: genesisHash})
		b := signed(t, 2, &Message{Type: MsgPrepare, Height: h, Digest: genesisApp})
		if err := c.Step(a); err != nil {
			t.Fatal(err)
		}
		if err := c.Step(b); !errors.Is(err, ErrConflict) {
			t.Fatalf("conflicting prepare: %v", err)
		}
	}
	if got := len(c.Ready().Evidence); got != 2 {
		t.Fatalf("%d evidence pairs, want MaxEvidence = 2", got)
	}
}

// A proposal over the block limits, or with a wrong appHash, is never
// prepared and replaces the primary.
func TestInvalidProposalsStartViewChange(t *testing.T) {
	valid := func(cl *cluster) *chain.Block { return cl.block(0, cl.nodes[0].core.proposalSlot()) }
	tests := []struct {
		name   string
		tweak  func(*Config)
		mutate func(b *chain.Block)
	}{
		{"too many txs", func(c *Config) { c.MaxBlockTxs = 1 }, func(b *chain.Block) {
			b.Txs, b.Senders = append(b.Txs, []byte("x")), append(b.Senders, chain.Address{})
			b.Header.TxRoot = chain.TxRoot(b.Txs, b.Senders)
		}},
		{"too many bytes", func(c *Config) { c.MaxBlockBytes = 5 }, func(b *chain.Block) {}},
		{"wrong appHash", nil, func(b *chain.Block) { b.Header.AppHash = genesisHash }},
		{"wrong parent", nil, func(b *chain.Block) { b.Header.ParentHash = genesisApp }},
		{"timestamp not after parent", nil, func(b *chain.Block) { b.Header.Timestamp = genesisTs }},
		{"timestamp too far ahead", nil, func(b *chain.Block) { b.Header.Timestamp = 1 << 50 }},
		{"wrong proposer", nil, func(b *chain.Block) { b.Header.Proposer = chain.Address{9} }},
		{"bad tx root", nil, func(b *chain.Block) { b.Header.TxRoot = genesisHash }},
	}
	for _, tt := range tests {
		cl := newCluster(t, 4, tt.tweak)
		cl.tick(1, 1) // the backup's clock: nowMs > 0 enables the drift check
		b := valid(cl)
		tt.mutate(b)
		pp := signed(t, 0, &Message{Type: MsgPrePrepare, Height: 1, Digest: b.Hash(), Block: b})
		c := cl.nodes[1].core
		c.Step(pp)
		rd := c.Ready()
		if ss := rd.SoftState; ss.View != 1 || !ss.InViewChange {
			t.Errorf("%s: soft state %+v, want view change to 1", tt.name, ss)
		}
		for _, r := range rd.Persist {
			m := r.Msg
			if m.Type == MsgPrepare {
				t.Errorf("%s: prepared an invalid proposal", tt.name)
			}
		}
	}
}

// f+1 validators' checkpoints above the committed height (beyond the
// pipeline window) make the node report Behind; StepCertified catches up.
func TestBehindFromCheckpointsAndCatchUp(t *testing.T) {
	cl := newCluster(t, 4, nil)
	cl.isolate(3)
	cl.run(0, 1)
	for i := 0; i < 3; i++ {
		cl.nodes[i].toPropose = 0
	}
	cl.nodes[3].down = true
	cl.run(12, 100)
	cl.nodes[3].down = false
	cl.heal()
	lag := cl.nodes[3].core
	for _, r := range cl.nodes[0].records {
		if r.Msg.Type == MsgCheckpoint {
			lag.Step(r.Msg)
		}
	}
	if b := lag.SoftState().Behind; b != 0 {
		t.Fatalf("behind %d on one validator's checkpoint", b)
	}
	for _, r := range cl.nodes[1].records {
		if r.Msg.Type == MsgCheckpoint {
			lag.Step(r.Msg)
		}
	}
	if b := lag.SoftState().Behind; b != 10 {
		t.Fatalf("behind %d, want 10", b)
	}
	for _, cm := range cl.nodes[0].committed[:10] {
		if err := lag.StepCertified(cm.Block, cm.Certificate); err != nil {
			t.Fatal(err)
		}
	}
	if ss := lag.SoftState(); ss.Committed != 10 || ss.Behind != 0 {
		t.Fatalf("after sync %+v", ss)
	}
	bad := *cl.nodes[0].committed[10].Certificate
	bad.Signatures = bad.Signatures[:2]
	if err := lag.StepCertified(cl.nodes[0].committed[10].Block, &bad); !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("certificate without quorum: %v", err)
	}
}

// A node waiting alone in a view change still notices, from f+1
// validators' commits in the view they use, that the chain moved on, and
// asks for block sync once that lasts RetransmitTicks.
func TestBehindFromCommitsWhileInViewChange(t *testing.T) {
	c := newTestCore(t, 0, nil) // RetransmitTicks 2, f = 1, W = 1
	c.startViewChange(1)
	commit := func(from int, h uint64) *Message {
		return signed(t, from, &Message{Type: MsgCommit, View: 0, Height: h, Digest: genesisHash})
	}
	if err := c.Step(commit(2, 5)); !errors.Is(err, ErrInViewChange) {
		t.Fatalf("commit in view change: %v", err)
	}
	c.Step(commit(3, 1)) // one validator far ahead, one only a window ahead: not enough
	c.Tick(0)
	c.Tick(0)
	if b := c.SoftState().Behind; b != 0 {
		t.Fatalf("behind %d with one validator ahead", b)
	}
	c.Step(commit(3, 4))
	if b := c.SoftState().Behind; b != 0 {
		t.Fatalf("behind %d before RetransmitTicks passed", b)
	}
	c.Tick(0)
	c.Tick(0)
	if b := c.SoftState().Behind; b != 4 {
		t.Fatalf("behind %d, want 4 (the second-highest commit)", b)
	}
}

type failingSigner struct{}

func (failingSigner) Sign(chain.Hash) ([]byte, error) { return nil, errors.New("hsm unreachable") }

// A Signer failure is not swallowed: Ready reports it (and keeps reporting
// it) so the driver stops, and nothing unsigned is persisted or sent.
func TestSignerFailureReachesReady(t *testing.T) {
	c := newTestCore(t, 1, func(c *Config) { c.Signer = failingSigner{} })
	c.startViewChange(1)
	for range 2 {
		if !c.HasReady() {
			t.Fatal("HasReady is false after a signer failure")
		}
		rd := c.Ready()
		if rd.SignErr == nil || len(rd.Persist) != 0 || len(rd.Messages) != 0 {
			t.Fatalf("ready after a signer failure: SignErr %v, %d records, %d messages", rd.SignErr, len(rd.Persist), len(rd.Messages))
		}
		c.Advance(rd)
	}
}
