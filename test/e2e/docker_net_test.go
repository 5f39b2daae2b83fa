package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Docker driver limits.
const (
	dkCommandTimeout = 90 * time.Second // one docker or docker-compose command
	dkStopTimeout    = 30               // seconds docker stop waits after SIGTERM
	dkSubnetTries    = 8                // random subnets tried before giving up
	dkPortTries      = 200              // random base ports tried
	// Published ports lie below Linux's ephemeral range (32768–60999): a
	// port docker releases while a node is disconnected must not be taken
	// by some connection's local port before the node is reconnected.
	dkPortMin = 20000
	dkPortMax = 32000
	dkLogTail = "60" // lines of each container's log shown on failure
)

// dkManifest is the part of testnet.json the driver reads.
type dkManifest struct {
	ChainID string `json:"chain_id"`
	Nodes   []struct {
		Name    string `json:"name"`
		Home    string `json:"home"`
		Address string `json:"address"`
		P2P     string `json:"p2p"`
		RPC     string `json:"rpc"`
	} `json:"nodes"`
	Accounts []struct {
		Address string `json:"address"`
		KeyFile string `json:"key_file"`
	} `json:"accounts"`
}

// dkNet is a compose testnet under test.
type dkNet struct {
	t       *testing.T
	dir     string
	project string
	image   string
	m       dkManifest
	ids     []string // container id of node i
	ips     []string // container address of node i
	network string   // the docker network's name
}

// dkRun runs a command and returns its combined output, failing with the
// output in the error.
func dkRun(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dkCommandTimeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

func (d *dkNet) compose(args ...string) (string, error) {
	base := []string{"-p", d.project, "-f", filepath.Join(d.dir, "docker-compose.yml")}
	return dkRun("docker-compose", append(base, args...)...)
}

func (d *dkNet) docker(args ...string) error {
	_, err := dkRun("docker", args...)
	return err
}

// dkBuildBinary builds the bafomet binary on the host, for `bafomet
// testnet`; the nodes themselves run the image's binary.
func dkBuildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bafomet")
	if out, err := dkRun("go", "build", "-o", bin, "github.com/bafomet/bafomet/cmd/bafomet"); err != nil {
		t.Fatalf("build bafomet: %v\n%s", err, out)
	}
	return bin
}

// newDKNet generates a compose testnet of n validators on a random free
// base port and a random subnet, and starts it.
func newDKNet(t *testing.T, bin, image string, n int, rng *rand.Rand) *dkNet {
	t.Helper()
	base := dkFreeBasePort(t, n, rng)
	var lastErr error
	for try := 0; try < dkSubnetTries; try++ {
		d := &dkNet{t: t, image: image, dir: filepath.Join(t.TempDir(), "net"),
			project: fmt.Sprintf("bafomete2e%d", rng.IntN(1_000_000))}
		subnet := fmt.Sprintf("172.%d.%d.0/24", 24+rng.IntN(8), rng.IntN(256))
		out, err := dkRun(bin, "testnet", "--validators", strconv.Itoa(n), "--out", d.dir, "--compose",
			"--base-port", strconv.Itoa(base), "--subnet", subnet, "--image", image, "--accounts", strconv.Itoa(dkSenders))
		if err != nil {
			t.Fatalf("bafomet testnet: %v\n%s", err, out)
		}
		if err := d.readManifest(); err != nil {
			t.Fatal(err)
		}
		_, err = d.compose("up", "-d")
		if err != nil && strings.Contains(err.Error(), "overlap") {
			lastErr = err
			d.compose("down", "-v")
			continue
		}
		if err != nil {
			d.compose("down", "-v")
			t.Fatalf("compose up: %v", err)
		}
		if err := d.inspect(); err != nil {
			d.compose("down", "-v")
			t.Fatal(err)
		}
		t.Logf("compose testnet %s: %d validators in %s, subnet %s, base port %d", d.project, n, d.dir, subnet, base)
		return d
	}
	t.Fatalf("no free subnet after %d tries: %v", dkSubnetTries, lastErr)
	return nil
}

func (d *dkNet) readManifest() error {
	raw, err := os.ReadFile(filepath.Join(d.dir, "testnet.json"))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &d.m); err != nil {
		return fmt.Errorf("testnet.json: %w", err)
	}
	return nil
}

// inspect finds each node's container, its address and the network.
func (d *dkNet) inspect() error {
	d.ids = make([]string, len(d.m.Nodes))
	d.ips = make([]string, len(d.m.Nodes))
	for i, n := range d.m.Nodes {
		out, err := d.compose("ps", "-q", n.Name)
		if err != nil {
			return err
		}
		d.ids[i] = strings.TrimSpace(out)
		if d.ids[i] == "" {
			return fmt.Errorf("no container for %s", n.Name)
		}
		out, err = dkRun("docker", "inspect", "-f",
			"{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{$v.IPAMConfig.IPv4Address}}{{end}}", d.ids[i])
		if err != nil {
			return err
		}
		f := strings.Fields(out)
		if len(f) != 2 {
			return fmt.Errorf("%s: networks %q, want one with a static address", n.Name, out)
		}
		d.network, d.ips[i] = f[0], f[1]
	}
	return nil
}

// down removes the containers and the network, unless keep is set.
func (d *dkNet) down(keep bool) {
	if keep {
		d.t.Logf("keeping %s: docker-compose -p %s -f %s/docker-compose.yml down -v", d.dir, d.project, d.dir)
		return
	}
	if out, err := d.compose("down", "-v", "-t", "5"); err != nil {
		d.t.Logf("compose down: %v\n%s", err, out)
	}
}

// logs returns the tail of node i's container log.
func (d *dkNet) logs(i int) string {
	out, err := dkRun("docker", "logs", "--tail", dkLogTail, d.ids[i])
	if err != nil {
		return err.Error()
	}
	return out
}

func (d *dkNet) kill(i int) error    { return d.docker("kill", d.ids[i]) }
func (d *dkNet) start(i int) error   { return d.docker("start", d.ids[i]) }
func (d *dkNet) pause(i int) error   { return d.docker("pause", d.ids[i]) }
func (d *dkNet) unpause(i int) error { return d.docker("unpause", d.ids[i]) }

// stop sends SIGTERM and waits for the node to exit (SIGKILL after
// dkStopTimeout seconds); it reports a node that needed the SIGKILL.
func (d *dkNet) stop(i int) error {
	if err := d.docker("stop", "-t", strconv.Itoa(dkStopTimeout), d.ids[i]); err != nil {
		return err
	}
	out, err := dkRun("docker", "inspect", "-f", "{{.State.ExitCode}}", d.ids[i])
	if err != nil {
		return err
	}
	if code := strings.TrimSpace(out); code != "0" {
		return fmt.Errorf("node%d exited with code %s after SIGTERM", i, code)
	}
	return nil
}

func (d *dkNet) disconnect(i int) error {
	return d.docker("network", "disconnect", d.network, d.ids[i])
}

// connect reattaches node i at its genesis address, which peers dial.
func (d *dkNet) connect(i int) error {
	return d.docker("network", "connect", "--ip", d.ips[i], d.network, d.ids[i])
}

// wipe deletes the contents of node i's data directory, keeping the
// directory itself (and its owner).
func (d *dkNet) wipe(i int) error {
	dir := filepath.Join(d.m.Nodes[i].Home, "data")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("wipe node%d: %w", i, err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("wipe node%d: %w", i, err)
		}
	}
	return nil
}

// partition makes node i drop all traffic to and from the given peers,
// with iptables rules in the container's network namespace (the image
// has no shell, so the host's nsenter and iptables do it). add false
// removes the rules again.
func (d *dkNet) partition(i int, peers []int, add bool) error {
	out, err := dkRun("docker", "inspect", "-f", "{{.State.Pid}}", d.ids[i])
	if err != nil {
		return err
	}
	pid := strings.TrimSpace(out)
	op := "-I"
	if !add {
		op = "-D"
	}
	for _, p := range peers {
		for _, rule := range [][]string{{"INPUT", "-s"}, {"OUTPUT", "-d"}} {
			args := []string{"-t", pid, "-n", "iptables", "-w", op, rule[0], rule[1], d.ips[p], "-j", "DROP"}
			if _, err := dkRun("nsenter", args...); err != nil {
				return fmt.Errorf("partition node%d from node%d: %w", i, p, err)
			}
		}
	}
	return nil
}

// dkFreeBasePort picks a base port whose JSON-RPC and metrics ports are
// free on 127.0.0.1 for n nodes.
func dkFreeBasePort(t *testing.T, n int, rng *rand.Rand) int {
	t.Helper()
	for try := 0; try < dkPortTries; try++ {
		base := dkPortMin + 10*rng.IntN((dkPortMax-dkPortMin)/10-n)
		if dkPortsFree(base, n) {
			return base
		}
	}
	t.Fatalf("no free base port after %d tries", dkPortTries)
	return 0
}

func dkPortsFree(base, n int) bool {
	for i := 0; i < n; i++ {
		for _, p := range []int{base + 10*i + 1, base + 10*i + 2} {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				return false
			}
			l.Close()
		}
	}
	return true
}

// dkCheckDocker says why the docker run cannot happen on this machine, or nil.
func dkCheckDocker() error {
	if _, err := dkRun("docker", "info"); err != nil {
		return fmt.Errorf("docker info: %w", err)
	}
	if _, err := exec.LookPath("docker-compose"); err != nil {
		return errors.New("docker-compose not found")
	}
	return nil
}
