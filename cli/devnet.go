package cli

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/node"
)

// devnetStopTimeout is how long devnet waits for a validator to shut down
// after SIGTERM before it kills it.
const devnetStopTimeout = 15 * time.Second

func init() {
	register(&command{name: "devnet", summary: "run a local validator network (generated on first use)", runApps: runDevnet})
}

func runDevnet(reg chain.Apps, args []string, stdout, stderr io.Writer) int {
	f := newFlags("devnet", "[--validators 4] [--app kv|bank] [--home DIR] [--base-port P]",
		"Runs a local network of validators on 127.0.0.1, one child process each.\n"+
			"The first run generates a testnet in DIR (default ~/.bafomet/devnet); later runs\n"+
			"reuse it and continue the same chain. Logs go to DIR/logs. Ctrl-C stops every validator.")
	o := testnetOptions{Rand: rand.Reader, Host: defaultTestnetHost, Accounts: defaultTestnetAccounts,
		Balance: defaultTestnetBalance, ChainID: "bafomet-devnet", Apps: reg, Explorer: true}
	f.IntVar(&o.Validators, "validators", 4, "number of validators (first run only)")
	f.StringVar(&o.App, "app", defaultTestnetApp, appFlagHelp(reg)+" (first run only)")
	f.StringVar(&o.Out, "home", "", "devnet directory (default ~/.bafomet/devnet)")
	f.IntVar(&o.BasePort, "base-port", node.DefaultBasePort, "first port (first run only)")
	if _, code, ok := f.parse(args, 0, stdout, stderr); !ok {
		return code
	}
	if o.Out == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return fail(stderr, f.name, fmt.Errorf("no --home given and no user home directory: %w", err))
		}
		o.Out = filepath.Join(home, ".bafomet", "devnet")
	}
	m, reused, err := loadOrGenerateDevnet(o)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	verb := "generated"
	if reused {
		verb = "reusing"
	}
	fmt.Fprintf(stdout, "%s devnet %s in %s: %d validators\n", verb, m.ChainID, o.Out, len(m.Nodes))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := superviseDevnet(ctx, m, filepath.Join(o.Out, "logs"), stdout); err != nil {
		return fail(stderr, f.name, err)
	}
	return exitOK
}

// loadOrGenerateDevnet reads DIR/testnet.json when it exists, and otherwise
// generates a new testnet there.
func loadOrGenerateDevnet(o testnetOptions) (*testnetManifest, bool, error) {
	path := filepath.Join(o.Out, testnetManifestFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		o.Now = time.Now()
		m, err := generateTestnet(o)
		return m, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", path, err)
	}
	var m testnetManifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	if len(m.Nodes) == 0 {
		return nil, false, fmt.Errorf("%s lists no nodes", path)
	}
	return &m, true, nil
}

// devnetChild is one running validator process.
type devnetChild struct {
	name string
	cmd  *exec.Cmd
	done chan error
}

// superviseDevnet starts one `bafomet start` per node and waits until ctx
// ends or a validator exits; then it stops the rest with SIGTERM (SIGKILL
// after devnetStopTimeout) and waits for every one of them.
func superviseDevnet(ctx context.Context, m *testnetManifest, logDir string, stdout io.Writer) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", logDir, err)
	}
	var children []*devnetChild
	defer func() { stopDevnetChildren(children) }()
	exited := make(chan *devnetChild, len(m.Nodes))
	for _, n := range m.Nodes {
		c, err := startDevnetChild(self, n, logDir)
		if err != nil {
			return err
		}
		children = append(children, c)
		go func() {
			<-c.done
			exited <- c
		}()
		fmt.Fprintf(stdout, "  %-6s rpc %s  ws %s  log %s\n", n.Name, n.RPC, "ws"+n.RPC[len("http"):], filepath.Join(logDir, n.Name+".log"))
	}
	if cfg, err := node.LoadConfig(m.Nodes[0].Home); err == nil && cfg.RPC.Explorer {
		fmt.Fprintf(stdout, "explorer: %s/explorer/\n", m.Nodes[0].RPC)
	}
	if len(m.Accounts) > 0 {
		fmt.Fprintf(stdout, "try: bafomet tx send --rpc %s --key %s --payload hello=world --wait\n", m.Nodes[0].RPC, m.Accounts[0].KeyFile)
	}
	fmt.Fprintln(stdout, "devnet running; press Ctrl-C to stop")
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "stopping validators")
		return nil
	case c := <-exited:
		return fmt.Errorf("validator %s exited unexpectedly (see its log); stopping the others", c.name)
	}
}

func startDevnetChild(self string, n testnetNode, logDir string) (*devnetChild, error) {
	logPath := filepath.Join(logDir, n.Name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", logPath, err)
	}
	cmd := exec.Command(self, "start", "--home", n.Home)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", n.Name, err)
	}
	c := &devnetChild{name: n.Name, cmd: cmd, done: make(chan error, 1)}
	go func() {
		c.done <- cmd.Wait()
		close(c.done)
		logFile.Close()
	}()
	return c, nil
}

// stopDevnetChildren sends SIGTERM to every child still running, then
// SIGKILL to those that outlive devnetStopTimeout, and waits for all.
func stopDevnetChildren(children []*devnetChild) {
	for _, c := range children {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
	}
	timer := time.NewTimer(devnetStopTimeout)
	defer timer.Stop()
wait:
	for _, c := range children {
		select {
		case <-c.done:
		case <-timer.C:
			for _, d := range children {
				_ = d.cmd.Process.Kill()
			}
			break wait
		}
	}
	for _, c := range children {
		<-c.done
	}
}
