package driver

import (
	"context"
	"errors"
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
)

// Synced is a certified block from block sync, with the checkpoint proof
// that came with it when it is at a checkpoint height.
type Synced struct {
	Block       *chain.Block
	Certificate *chain.Certificate
	Checkpoint  *ordering.CheckpointProof
}

// Inputs are the channels Run selects on. A nil channel is never ready.
type Inputs struct {
	Ticks    <-chan time.Time         // the tick interval passed
	Messages <-chan *ordering.Message // decoded messages from peers (the core verifies them)
	Synced   <-chan Synced            // blocks from block sync
	Exec     *ExecLoop                // the executor whose results to report
	TxWake   <-chan struct{}          // the mempool gained transactions

	// Paused, when set, is asked before each input. While it reports
	// true the node must not write or sign: Run drops ticks, messages and
	// transaction wake-ups, and takes no synced block, executor result or
	// proposer timer, so the core neither proposes, votes nor appends to
	// the log, as if the node were cut off from the network. The
	// executor loop finishes what it holds; its results wait for the
	// resume. Run asks again after every input, so a tick interval after
	// Paused turns false it runs again.
	Paused func() bool
}

// Run is the one goroutine that owns the driver: it feeds every input of
// in to the driver until ctx ends (it returns nil) or the driver stops (it
// returns the error, wrapping ErrStopped). It takes no synced block while
// the executor's backlog is full, and keeps one timer for the proposer.
// While in.Paused reports true it feeds the driver nothing.
func (d *Driver) Run(ctx context.Context, in Inputs) error {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var execDone <-chan struct{}
	if in.Exec != nil {
		execDone = in.Exec.Done()
	}
	for {
		if in.Paused != nil && in.Paused() {
			timer.Stop()
			select {
			case <-ctx.Done():
				return nil
			case <-in.Ticks:
			case <-in.Messages:
			case <-in.TxWake:
			}
			continue
		}
		d.armTimer(timer)
		synced := in.Synced
		if !d.AcceptsSynced() {
			synced = nil
		}
		var err error
		select {
		case <-ctx.Done():
			return nil
		case now := <-in.Ticks:
			err = d.Tick(now)
		case m := <-in.Messages:
			err = d.Step(m)
		case it := <-synced:
			err = d.StepSynced(it.Block, it.Certificate, it.Checkpoint)
		case <-execDone:
			err = d.Executed(in.Exec.Take())
		case <-in.TxWake:
			err = d.TxArrived()
		case <-timer.C:
			err = d.Poke()
		}
		if errors.Is(err, ErrStopped) {
			return err
		}
		if err != nil {
			d.log.Debug("input not taken", "err", err)
		}
	}
}

// armTimer sets timer to the proposer's next poke, or stops it.
func (d *Driver) armTimer(timer *time.Timer) {
	at, ok := d.NextPoke()
	if !ok {
		timer.Stop()
		return
	}
	timer.Reset(max(at.Sub(d.d.Clock.Now()), 0))
}
