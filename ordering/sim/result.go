package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Result is the summary of one run. Its JSON form is the `bafomet sim
// --json` contract: seed, violations (never null) and
// min_committed_height are always present.
type Result struct {
	Seed               uint64      `json:"seed"`
	Nodes              int         `json:"nodes"`
	Byzantine          int         `json:"byzantine"`
	ByzantineIDs       []int       `json:"byzantine_ids"`
	Blocks             uint64      `json:"blocks"`
	Faults             string      `json:"faults"`
	CheckpointInterval uint64      `json:"checkpoint_interval"`
	PipelineWindow     uint64      `json:"pipeline_window"`
	WeakenQuorum       bool        `json:"weaken_quorum,omitempty"`
	Reverted           string      `json:"reverted,omitempty"` // fixes switched off (test only)
	CommittedHeights   []uint64    `json:"committed_heights"`  // per node slot
	MinCommittedHeight uint64      `json:"min_committed_height"`
	ViewChanges        uint64      `json:"view_changes"` // highest view an honest node entered
	Ticks              uint64      `json:"ticks"`
	Steps              uint64      `json:"steps"`
	HealTick           uint64      `json:"heal_tick"`
	Target             uint64      `json:"target"`               // the height every honest node had to reach after healing
	LivenessBoundTicks uint64      `json:"liveness_bound_ticks"` // ticks after healing it had to reach it in
	Messages           NetStats    `json:"messages"`
	Stats              Stats       `json:"stats"`
	Violations         []Violation `json:"violations"`
}

// OK reports whether every invariant held.
func (r *Result) OK() bool { return len(r.Violations) == 0 }

func (s *Sim) result() *Result {
	r := &Result{
		Seed:               s.cfg.Seed,
		Nodes:              s.cfg.Nodes,
		Byzantine:          s.cfg.Byzantine,
		ByzantineIDs:       []int{},
		Blocks:             s.cfg.Blocks,
		Faults:             s.cfg.Faults.String(),
		CheckpointInterval: s.cfg.CheckpointInterval,
		PipelineWindow:     s.cfg.PipelineWindow,
		WeakenQuorum:       s.cfg.WeakenQuorum,
		Reverted:           RevertString(s.cfg.Revert),
		MinCommittedHeight: s.minHonestHeight(),
		Ticks:              s.now,
		Steps:              s.steps,
		HealTick:           s.fault.healTick,
		Target:             s.target(),
		LivenessBoundTicks: s.cfg.LivenessTicks,
		Messages:           s.net.stats,
		Stats:              s.stats,
		Violations:         append([]Violation{}, s.check.violations...),
	}
	for id, h := range s.check.honest {
		if !h {
			r.ByzantineIDs = append(r.ByzantineIDs, id)
		}
	}
	for _, n := range s.nodes {
		r.CommittedHeights = append(r.CommittedHeights, n.store.height())
		if n.honest && n.maxView > r.ViewChanges {
			r.ViewChanges = n.maxView
		}
	}
	return r
}

// WriteJSON writes r as one line of JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// WriteText writes r as a short human-readable summary.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: nodes %d byzantine %d %v blocks %d faults %s", r.Seed, r.Nodes, r.Byzantine, r.ByzantineIDs, r.Blocks, r.Faults)
	if r.WeakenQuorum {
		b.WriteString(" (weakened quorum)")
	}
	if r.Reverted != "" {
		fmt.Fprintf(&b, " (fixes off: %s)", r.Reverted)
	}
	fmt.Fprintf(&b, "\n  committed heights %v (honest min %d)\n", r.CommittedHeights, r.MinCommittedHeight)
	fmt.Fprintf(&b, "  view changes %d, ticks %d (healed at %d; target %d within %d ticks), steps %d\n",
		r.ViewChanges, r.Ticks, r.HealTick, r.Target, r.LivenessBoundTicks, r.Steps)
	m := r.Messages
	fmt.Fprintf(&b, "  messages sent %d delivered %d dropped %d duplicated %d\n", m.Sent, m.Delivered, m.Dropped, m.Duplicated)
	st := r.Stats
	fmt.Fprintf(&b, "  crashes %d partitions %d clogs %d syncs %d (%d blocks) rejected %d evidence %d byzantine msgs %d oversize %d\n",
		st.Crashes, st.Partitions, st.Clogs, st.SyncRequests, st.SyncedBlocks, st.Rejected, st.Evidence, st.ByzantineOut, st.Oversize)
	if r.OK() {
		b.WriteString("  violations: none\n")
	} else {
		fmt.Fprintf(&b, "  violations: %d\n", len(r.Violations))
		for _, v := range r.Violations {
			fmt.Fprintf(&b, "    %s\n", v)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Run builds and runs one simulation.
func Run(cfg Config, opts Options) (*Result, error) {
	s, err := New(cfg, opts)
	if err != nil {
		return nil, err
	}
	return s.Run()
}
