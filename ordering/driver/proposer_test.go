package driver

import (
	"testing"
	"time"

	"github.com/bafomet/bafomet/ordering"
)

func slot(h, committed uint64) (ordering.Ready, ordering.SoftState) {
	soft := ordering.SoftState{Committed: committed}
	return ordering.Ready{SoftState: soft, Propose: &ordering.ProposalSlot{Height: h, ParentTimestamp: 1}}, soft
}

// TestProposerRules walks the proposer's rules with an injected clock:
// a full block goes at once; a partial one after the batch delay, or not
// while an earlier proposal is in flight; an empty one only with
// CreateEmptyBlocks after the interval.
func TestProposerRules(t *testing.T) {
	const delay = 20 * time.Millisecond
	tests := []struct {
		name       string
		cfg        Config
		reapable   int
		height     uint64
		committed  uint64
		proposeNow bool
		wait       time.Duration // 0: not armed
	}{
		{"full block", Config{MaxBlockTxs: 4, BatchDelay: delay}, 4, 1, 0, true, 0},
		{"partial, idle pipeline", Config{MaxBlockTxs: 4, BatchDelay: delay}, 2, 1, 0, false, delay},
		{"partial, no delay", Config{MaxBlockTxs: 4}, 2, 1, 0, true, 0},
		{"partial, pipeline busy", Config{MaxBlockTxs: 4}, 2, 3, 1, false, 0},
		{"full, pipeline busy", Config{MaxBlockTxs: 4}, 4, 3, 1, true, 0},
		{"empty, no empty blocks", Config{MaxBlockTxs: 4}, 0, 1, 0, false, 0},
		{"empty blocks", Config{MaxBlockTxs: 4, CreateEmptyBlocks: true, EmptyBlockInterval: time.Second}, 0, 1, 0, false, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig()
			d := r.driver(tt.cfg)
			r.pool.reapable = tt.reapable
			rd, soft := slot(tt.height, tt.committed)
			r.core.soft = soft
			r.core.readys = []ordering.Ready{rd}
			if err := d.Poke(); err != nil {
				t.Fatal(err)
			}
			if got := len(r.core.proposed) == 1; got != tt.proposeNow {
				t.Fatalf("proposed %v, want %v", got, tt.proposeNow)
			}
			at, armed := d.NextPoke()
			if armed != (tt.wait > 0) || (armed && at != r.clock.now.Add(tt.wait)) {
				t.Fatalf("NextPoke %v %v, want in %v", at, armed, tt.wait)
			}
			if !armed {
				return
			}
			r.clock.now = at
			if err := d.Poke(); err != nil {
				t.Fatal(err)
			}
			if len(r.core.proposed) != 1 {
				t.Fatal("no proposal when the poke came due")
			}
			if _, armed := d.NextPoke(); armed {
				t.Fatal("still armed after proposing")
			}
		})
	}
}

// TestProposedBlock checks the block the proposer builds from the slot,
// the mempool and the clock.
func TestProposedBlock(t *testing.T) {
	r := newRig()
	d := r.driver(Config{MaxBlockTxs: 2, Proposer: [20]byte{7}, ValidatorsHash: [32]byte{9}})
	r.pool.reapable = 3
	s := &ordering.ProposalSlot{View: 1, Height: 4, ParentHash: [32]byte{3}, AppHash: [32]byte{5},
		ParentTimestamp: uint64(r.clock.now.UnixMilli()) + 10}
	r.core.readys = []ordering.Ready{{Propose: s}}
	if err := d.Poke(); err != nil {
		t.Fatal(err)
	}
	if len(r.core.proposed) != 1 {
		t.Fatal("nothing proposed")
	}
	b := r.core.proposed[0]
	h := b.Header
	if h.Height != 4 || h.ParentHash != s.ParentHash || h.AppHash != s.AppHash || h.Proposer != [20]byte{7} ||
		h.ValidatorsHash != [32]byte{9} || h.Timestamp != s.ParentTimestamp+1 || len(b.Txs) != 2 || h.TxRoot != b.ComputeTxRoot() {
		t.Fatalf("block %+v with %d txs", h, len(b.Txs))
	}
	if r.pool.reapable != 1 {
		t.Fatalf("reapable %d after reaping 2 of 3", r.pool.reapable)
	}
}

// TestProposeErrorReleases: a refused proposal returns its transactions.
func TestProposeErrorReleases(t *testing.T) {
	r := newRig()
	d := r.driver(Config{MaxBlockTxs: 2})
	r.pool.reapable = 2
	r.core.proposeErr = errDisk
	r.core.readys = []ordering.Ready{{Propose: &ordering.ProposalSlot{Height: 1}}}
	if err := d.Poke(); err != nil {
		t.Fatal(err)
	}
	if r.pool.reapable != 2 || d.Err() != nil {
		t.Fatalf("reapable %d, Err %v", r.pool.reapable, d.Err())
	}
}
