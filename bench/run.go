package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/bafomet/bafomet/client"
)

// runner is one run's shared state.
type runner struct {
	cfg     Config
	clients []*client.Client
	senders []*sender
	tr      *tracker
	tokens  chan struct{} // open loop only
	procs   *procWatch
	t0      time.Time
}

// Run pre-signs the transactions, runs the load for Warmup+Duration,
// waits up to Drain for outstanding transactions to commit, and reports.
// It returns an error when the network cannot be reached or the
// configuration is invalid; refusals during the run are in the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bench config: %w", err)
	}
	r := &runner{cfg: cfg}
	defer r.close()
	perTarget := (cfg.Senders+len(cfg.Targets)-1)/len(cfg.Targets) + 4
	for _, t := range cfg.Targets {
		c, err := dialHTTP(ctx, t.URL, perTarget)
		if err != nil {
			return nil, err
		}
		r.clients = append(r.clients, c)
	}
	st, err := r.clients[cfg.Observer].Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("chain_status on %s: %w", cfg.Targets[cfg.Observer].URL, err)
	}
	cfg.Logger.Info("pre-signing", "transactions", cfg.PoolSize(), "senders", cfg.Senders)
	senders, err := makeSenders(cfg, st.ChainID)
	if err != nil {
		return nil, err
	}
	r.senders = senders
	height, err := r.clients[cfg.Observer].BlockNumber(ctx)
	if err != nil {
		return nil, err
	}
	rep := r.execute(ctx, height)
	rep.Setup = r.setup(st.ChainID, height)
	return rep, nil
}

func (r *runner) close() {
	for _, c := range r.clients {
		c.Close()
	}
}

// execute runs the load phases and the drain, and returns the report
// without its setup.
func (r *runner) execute(ctx context.Context, height uint64) *Report {
	cfg := r.cfg
	r.t0 = time.Now()
	win := window{start: r.t0.Add(cfg.Warmup), end: r.t0.Add(cfg.Warmup + cfg.Duration)}
	r.tr = newTracker(win)
	r.procs = r.watchProcs()
	r.procs.sample()

	followCtx, stopFollow := context.WithCancel(ctx)
	f := &follower{url: cfg.Targets[cfg.Observer].URL, next: height + 1, tr: r.tr, log: cfg.Logger}
	var bg sync.WaitGroup
	bg.Go(func() { f.run(followCtx) })
	progressCtx, stopProgress := context.WithCancel(ctx)
	bg.Go(func() { r.progress(progressCtx, win) })

	profile := make(chan string, 1)
	bg.Go(func() { profile <- r.profile(ctx, win) })

	stopCtx, stopSend := context.WithDeadline(ctx, win.end)
	var senders sync.WaitGroup
	if cfg.Rate > 0 {
		r.tokens = make(chan struct{}, max(1, int(cfg.Rate*cfg.Burst.Seconds())))
		senders.Go(func() { r.issueTokens(stopCtx) })
	}
	for _, s := range r.senders {
		senders.Go(func() { r.senderLoop(ctx, stopCtx, s) })
	}
	senders.Wait()
	stopSend()
	r.drain(ctx)
	stopProgress()
	stopFollow()
	bg.Wait()

	rep := r.tr.report(cfg.Duration)
	rep.UncommittedStatus = r.audit(ctx)
	rep.Resubscribed = f.resubscribed
	rep.Profile = <-profile
	stats := r.procs.stats(win)
	rep.Nodes, rep.Bench = stats[:len(stats)-1], stats[len(stats)-1]
	return &rep
}

// profile saves a CPU profile of the measured window when configured and
// returns the file name, or why there is none.
func (r *runner) profile(ctx context.Context, win window) string {
	if r.cfg.ProfileURL == "" || r.cfg.ProfileOut == "" {
		return ""
	}
	select {
	case <-ctx.Done():
		return "not taken: run cancelled"
	case <-time.After(time.Until(win.start)):
	}
	if err := fetchProfile(ctx, r.cfg.ProfileURL, r.cfg.Duration, r.cfg.ProfileOut); err != nil {
		r.cfg.Logger.Warn("cpu profile failed", "err", err)
		return "failed: " + err.Error()
	}
	return r.cfg.ProfileOut
}

// watchProcs watches every target with a known PID and this process.
func (r *runner) watchProcs() *procWatch {
	var names []string
	var pids []int
	for _, t := range r.cfg.Targets {
		names, pids = append(names, t.Name), append(pids, t.PID)
	}
	names, pids = append(names, "bench"), append(pids, os.Getpid())
	return newProcWatch("/proc", names, pids)
}

// drain waits until nothing is outstanding, Drain has passed, or ctx ends.
func (r *runner) drain(ctx context.Context) {
	deadline := time.Now().Add(r.cfg.Drain)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for r.tr.outstanding() > 0 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// progress samples the processes and prints a line every interval; it
// also samples at the window's start and end so that CPU covers exactly
// the measured window.
func (r *runner) progress(ctx context.Context, win window) {
	tick := time.NewTicker(r.cfg.ProgressInterval)
	defer tick.Stop()
	atStart := time.NewTimer(time.Until(win.start))
	defer atStart.Stop()
	atEnd := time.NewTimer(time.Until(win.end))
	defer atEnd.Stop()
	prev, _ := r.tr.snapshot()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-atStart.C:
			r.procs.sample()
		case <-atEnd.C:
			r.procs.sample()
		case now := <-tick.C:
			r.procs.sample()
			cur, out := r.tr.snapshot()
			if r.cfg.Progress != nil {
				fmt.Fprintln(r.cfg.Progress, progressLine(now.Sub(r.t0), phase(now, win), cur, prev, out, now.Sub(last)))
			}
			prev, last = cur, now
		}
	}
}

func phase(t time.Time, w window) string {
	switch {
	case t.Before(w.start):
		return "warmup"
	case t.Before(w.end):
		return "measure"
	}
	return "drain"
}

// issueTokens feeds the token bucket at cfg.Rate until ctx ends; a token
// that finds the bucket full is counted as missed.
func (r *runner) issueTokens(ctx context.Context) {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	last := time.Now()
	var acc float64
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			acc += r.cfg.Rate * now.Sub(last).Seconds()
			last = now
			for ; acc >= 1; acc-- {
				select {
				case r.tokens <- struct{}{}:
					r.tr.token(now, true)
				default:
					r.tr.token(now, false)
				}
			}
		}
	}
}

func (r *runner) setup(chainID string, height uint64) RunSetup {
	cfg := r.cfg
	rate := "max"
	if cfg.Rate > 0 {
		rate = strconv.FormatFloat(cfg.Rate, 'f', -1, 64)
	}
	txBytes := 0
	presigned := 0
	for _, s := range r.senders {
		presigned += len(s.txs)
		if len(s.txs) > 0 {
			txBytes = len(s.txs[len(s.txs)/2].raw)
		}
	}
	return RunSetup{
		Nodes: len(cfg.Targets), Observer: cfg.Targets[cfg.Observer].Name, Rate: rate,
		DurationS: cfg.Duration.Seconds(), WarmupS: cfg.Warmup.Seconds(),
		Senders: cfg.Senders, Window: cfg.Window, Batch: cfg.Batch,
		PayloadBytes: cfg.PayloadBytes, TxBytes: txBytes, Presigned: presigned,
		ChainID: chainID, StartHeight: height,
	}
}
