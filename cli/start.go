package cli

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/node"
)

func init() {
	register(&command{name: "start", summary: "run a validator from its node home", runApps: runStart})
}

func runStart(reg chain.Apps, args []string, stdout, stderr io.Writer) int {
	f := newFlags("start", "--home DIR",
		"Runs a validator: reads DIR/config/config.toml, the genesis file and the validator key,\n"+
			"opens DIR/data, joins the other validators over libp2p and serves JSON-RPC.\n"+
			"SIGINT or SIGTERM stops it cleanly.")
	home := f.String("home", "", "node home directory")
	f.require("home")
	if _, code, ok := f.parse(args, 0, stdout, stderr); !ok {
		return code
	}
	cfg, err := node.LoadConfig(*home)
	if err != nil {
		return fail(stderr, "start", err)
	}
	log, err := node.NewLogger(cfg.Log, stderr)
	if err != nil {
		return fail(stderr, "start", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	n, err := node.New(cfg, node.Options{Logger: log, SetMemoryLimit: true, Apps: reg})
	if err != nil {
		return fail(stderr, "start", err)
	}
	if err := n.Start(ctx); err != nil {
		n.Close()
		return fail(stderr, "start", err)
	}
	code := exitOK
	select {
	case <-ctx.Done():
		log.Info("shutting down", "reason", "signal")
	case err := <-n.Fatal():
		fmt.Fprintf(stderr, "bafomet start: %v\n", err)
		code = exitFail
	}
	if err := n.Close(); err != nil {
		return fail(stderr, "start", fmt.Errorf("shutdown: %w", err))
	}
	return code
}
