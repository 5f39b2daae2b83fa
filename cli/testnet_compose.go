package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bafomet/bafomet/genesis"
	"github.com/bafomet/bafomet/node"
)

// Compose testnet defaults. Node i of a compose testnet is the service
// nodeI at address composeHostOffset+i of the subnet, with its home
// bind-mounted at composeHome.
const (
	composeFileName      = "docker-compose.yml"
	defaultComposeImage  = "bafomet:dev"
	defaultComposeSubnet = "172.28.0.0/24"
	composeHostOffset    = 10 // .1 is the bridge's gateway; leave room below the nodes
	composeHome          = "/home/bafomet"
	composeNetwork       = "bafomet"
	composeBindAll       = "0.0.0.0"
	// composeUID and composeGID are the image's user (docker/Dockerfile).
	composeUID = 10001
	composeGID = 10001
	// composeStopGrace is how long docker waits after SIGTERM before SIGKILL.
	composeStopGrace = "30s"
)

// composeOptions says how `bafomet testnet --compose` lays out containers.
type composeOptions struct {
	Enabled bool
	Image   string
	Subnet  string
	// UID and GID own the node homes and run the containers. When the
	// generator may chown (it runs as root) they are the image's user;
	// otherwise the invoking user, so the container can still read its
	// home without anyone changing file owners.
	UID, GID int
	// Chown makes the generator chown the node homes to UID:GID.
	Chown bool
}

// registerComposeFlags adds --compose, --image and --subnet to f.
func registerComposeFlags(f *cmdFlags, c *composeOptions) {
	f.BoolVar(&c.Enabled, "compose", false, "also write DIR/"+composeFileName+": one container per node on a private bridge network")
	f.StringVar(&c.Image, "image", defaultComposeImage, "with --compose: the node image")
	f.StringVar(&c.Subnet, "subnet", defaultComposeSubnet, "with --compose: IPv4 subnet of the bridge network (node i at host address "+strconv.Itoa(composeHostOffset)+"+i)")
}

// defaultComposeOwner fills UID, GID and Chown for the current process:
// root chowns to the image's user, anyone else keeps their own files and
// runs the containers as themselves.
func (c *composeOptions) defaultComposeOwner() {
	if os.Geteuid() == 0 {
		c.UID, c.GID, c.Chown = composeUID, composeGID, true
		return
	}
	c.UID, c.GID, c.Chown = os.Geteuid(), os.Getegid(), false
}

// composeAddrs returns the container address of each of n nodes in c.Subnet.
func (c *composeOptions) composeAddrs(n int) ([]netip.Addr, error) {
	prefix, err := netip.ParsePrefix(c.Subnet)
	if err != nil {
		return nil, fmt.Errorf("--subnet %q: %w", c.Subnet, err)
	}
	if !prefix.Addr().Is4() {
		return nil, fmt.Errorf("--subnet %s: want an IPv4 subnet", c.Subnet)
	}
	if prefix.Masked() != prefix {
		return nil, fmt.Errorf("--subnet %s: host bits set; did you mean %s?", c.Subnet, prefix.Masked())
	}
	hostBits := 32 - prefix.Bits()
	// The last address is the broadcast address.
	if last := composeHostOffset + n - 1; last >= 1<<hostBits-1 {
		return nil, fmt.Errorf("--subnet %s: too small for %d nodes at host addresses %d to %d",
			c.Subnet, n, composeHostOffset, composeHostOffset+n-1)
	}
	addrs := make([]netip.Addr, n)
	a := prefix.Addr()
	for i := 0; i < composeHostOffset; i++ {
		a = a.Next()
	}
	for i := range addrs {
		addrs[i] = a
		a = a.Next()
	}
	return addrs, nil
}

// checkCompose validates the compose options against the testnet options
// before anything is written.
func (c *composeOptions) checkCompose(o testnetOptions) error {
	if c.Image == "" {
		return errors.New("--image must not be empty")
	}
	if strings.ContainsAny(c.Image, " \t\n\"'") {
		return fmt.Errorf("--image %q: whitespace or quotes in an image name", c.Image)
	}
	if ip := net.ParseIP(o.Host); ip == nil || ip.To4() == nil {
		return fmt.Errorf("--host %s: with --compose, ports are published on the host at an IPv4 address", o.Host)
	}
	_, err := c.composeAddrs(o.Validators)
	return err
}

// generateComposeTestnet generates a testnet as generateTestnet does, then
// makes it a container network: genesis names each validator by its
// container address, every node listens on all interfaces of its
// container, the homes are readable by the container user, and
// DIR/docker-compose.yml describes the services. testnet.json keeps the
// host's RPC URLs (published ports) and records the container multiaddrs.
func generateComposeTestnet(o testnetOptions, c composeOptions) (m *testnetManifest, err error) {
	if err := c.checkCompose(o); err != nil {
		return nil, err
	}
	out, err := filepath.Abs(o.Out)
	if err != nil {
		return nil, fmt.Errorf("--out %s: %w", o.Out, err)
	}
	composePath := filepath.Join(out, composeFileName)
	if _, err := os.Lstat(composePath); err == nil {
		return nil, fmt.Errorf("refusing to overwrite %s; choose an empty --out directory", composePath)
	}
	m, err = generateTestnet(o)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil { // leave nothing half-written, as generateTestnet does
			removeTestnet(out, len(m.Nodes))
			m = nil
		}
	}()
	addrs, _ := c.composeAddrs(o.Validators) // checked above
	if err := containerizeTestnet(o, m, addrs); err != nil {
		return m, err
	}
	if err := writeJSONFile(filepath.Join(out, testnetManifestFile), m); err != nil {
		return m, err
	}
	if c.Chown {
		for _, n := range m.Nodes {
			if err := chownTree(n.Home, c.UID, c.GID); err != nil {
				return m, err
			}
		}
	}
	yml := composeYAML(o, c, m, addrs)
	if err := os.WriteFile(composePath, []byte(yml), 0o644); err != nil {
		return m, fmt.Errorf("write %s: %w", composePath, err)
	}
	return m, nil
}

// removeTestnet deletes what generateComposeTestnet wrote into out.
func removeTestnet(out string, validators int) {
	os.Remove(filepath.Join(out, composeFileName))
	os.Remove(filepath.Join(out, testnetManifestFile))
	os.RemoveAll(filepath.Join(out, testnetAccountsDir))
	for i := 0; i < validators; i++ {
		os.RemoveAll(filepath.Join(out, nodeName(i)))
	}
}

// containerizeTestnet rewrites every node's genesis (validator multiaddrs
// at the container addresses) and config.toml (listen on all interfaces),
// and the manifest's p2p entries.
func containerizeTestnet(o testnetOptions, m *testnetManifest, addrs []netip.Addr) error {
	if len(m.Nodes) == 0 {
		return errors.New("testnet has no nodes")
	}
	g, err := genesis.Load(filepath.Join(m.Nodes[0].Home, node.DefaultGenesisFile))
	if err != nil {
		return err
	}
	for i := range g.Validators {
		g.Validators[i].Address = hostMultiaddr(addrs[i].String(), o.BasePort+testnetPortStride*i)
	}
	if err := g.Validate(o.registry()); err != nil {
		return err
	}
	gen, err := g.Marshal()
	if err != nil {
		return err
	}
	for i := range m.Nodes {
		n := &m.Nodes[i]
		if err := os.WriteFile(filepath.Join(n.Home, node.DefaultGenesisFile), gen, 0o644); err != nil {
			return fmt.Errorf("write genesis of %s: %w", n.Name, err)
		}
		if err := containerConfig(n.Home, o.BasePort+testnetPortStride*i, g); err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
		n.P2P = g.Validators[i].Address
	}
	return nil
}

// containerConfig makes the node in home listen on all interfaces of its
// container, on the same ports as in a plain testnet.
func containerConfig(home string, p2pPort int, g *genesis.Genesis) error {
	cfg, err := node.LoadConfig(home)
	if err != nil {
		return err
	}
	cfg.P2P.Listen = hostMultiaddr(composeBindAll, p2pPort)
	cfg.RPC.Listen = net.JoinHostPort(composeBindAll, strconv.Itoa(p2pPort+1))
	cfg.Metrics.Listen = net.JoinHostPort(composeBindAll, strconv.Itoa(p2pPort+2))
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := cfg.CheckGenesis(g); err != nil {
		return err
	}
	return cfg.WriteConfig(filepath.Join(home, node.ConfigFile))
}

// chownTree gives root and everything below it to uid:gid.
func chownTree(root string, uid, gid int) error {
	return filepath.WalkDir(root, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(path, uid, gid); err != nil {
			return fmt.Errorf("chown %s to %d:%d: %w", path, uid, gid, err)
		}
		return nil
	})
}

// composeYAML is the docker-compose file of the testnet: compose file
// format 2.4, which docker-compose 1.x and docker compose 2.x both read.
func composeYAML(o testnetOptions, c composeOptions, m *testnetManifest, addrs []netip.Addr) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Generated by `bafomet testnet --compose`: %d validators of chain %s.\n", len(m.Nodes), m.ChainID)
	b.WriteString("#   start:           docker-compose -f " + composeFileName + " up -d\n")
	b.WriteString("#   stop and remove: docker-compose -f " + composeFileName + " down -v\n")
	b.WriteString("# Node i serves JSON-RPC on " + o.Host + ":P+10i+1 and metrics on " + o.Host + ":P+10i+2 (testnet.json).\n")
	b.WriteString("version: \"2.4\"\n\nservices:\n")
	for i, n := range m.Nodes {
		p2p := o.BasePort + testnetPortStride*i
		fmt.Fprintf(&b, "  %s:\n", n.Name)
		fmt.Fprintf(&b, "    image: %q\n", c.Image)
		fmt.Fprintf(&b, "    command: [\"start\", \"--home\", %q]\n", composeHome)
		fmt.Fprintf(&b, "    user: \"%d:%d\"\n", c.UID, c.GID)
		fmt.Fprintf(&b, "    hostname: %s\n", n.Name)
		b.WriteString("    restart: \"no\"\n    stop_signal: SIGTERM\n")
		fmt.Fprintf(&b, "    stop_grace_period: %s\n", composeStopGrace)
		fmt.Fprintf(&b, "    volumes:\n      - \"./%s:%s\"\n", n.Name, composeHome)
		b.WriteString("    ports:\n")
		for _, port := range []int{p2p + 1, p2p + 2} {
			fmt.Fprintf(&b, "      - \"%s:%d:%d\"\n", o.Host, port, port)
		}
		fmt.Fprintf(&b, "    networks:\n      %s:\n        ipv4_address: %s\n", composeNetwork, addrs[i])
	}
	fmt.Fprintf(&b, "\nnetworks:\n  %s:\n    driver: bridge\n    ipam:\n      config:\n        - subnet: %q\n",
		composeNetwork, c.Subnet)
	return b.String()
}

// printComposeHint tells the user where the compose file is and how to
// start and remove the network.
func printComposeHint(w io.Writer, out string) {
	path := filepath.Join(out, composeFileName)
	fmt.Fprintf(w, "wrote %s\n  start: docker-compose -f %s up -d\n  stop:  docker-compose -f %s down -v\n", path, path, path)
}
