package genesis

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/crypto"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/bafomet/bafomet/chain"
)

// Limits Validate enforces on the document's shape.
const (
	MaxChainIDLen       = 64
	MaxValidators       = 256
	MaxValidatorNameLen = 64
)

// Upper bounds Validate enforces on consensus parameters. They keep every
// parameter within what the node can store, send and time.
const (
	MaxBlockTxsLimit        = 100_000
	MaxBlockBytesLimit      = 16 << 20
	MaxTimeoutMsLimit       = 3_600_000 // one hour
	MaxClockDriftMsLimit    = 3_600_000
	MaxCheckpointInterval   = 100_000
	MaxPipelineWindowLimit  = 64
	compressedPubKeyLength  = 33
	uncompressedPubKeyBytes = 65
)

// chainIDPattern is the alphabet of chain ids: letters, digits, '.', '_'
// and '-', starting with a letter or digit.
var chainIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// FieldError names one problem with one field of the document. Field is a
// path like "validators[2].pub_key".
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return "genesis: " + e.Field + ": " + e.Problem }

// ValidationError lists every problem Validate found, in document order.
type ValidationError struct {
	Problems []*FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Problem
	}
	return "genesis: " + strings.Join(parts, "; ")
}

type problems struct{ list []*FieldError }

func (p *problems) add(field, format string, args ...any) {
	p.list = append(p.list, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

// Validate checks the document against apps, the registry of applications
// the node can run. It returns nil or a *ValidationError naming each field
// and its problem.
func (g *Genesis) Validate(apps chain.Apps) error {
	var p problems
	g.checkChainID(&p)
	g.checkTime(&p)
	g.checkValidators(&p)
	g.Consensus.check(&p)
	g.checkApp(&p, apps)
	if len(p.list) > 0 {
		return &ValidationError{Problems: p.list}
	}
	return nil
}

func (g *Genesis) checkChainID(p *problems) {
	switch {
	case g.ChainID == "":
		p.add("chain_id", "missing")
	case len(g.ChainID) > MaxChainIDLen:
		p.add("chain_id", "longer than %d bytes", MaxChainIDLen)
	case !chainIDPattern.MatchString(g.ChainID):
		p.add("chain_id", "%q: use letters, digits, '.', '_' and '-', starting with a letter or digit", g.ChainID)
	}
}

func (g *Genesis) checkTime(p *problems) {
	t := g.GenesisTime
	switch {
	case t.IsZero():
		p.add("genesis_time", "missing")
	case t.Unix() < 0:
		p.add("genesis_time", "%s is before 1970-01-01T00:00:00Z", t.Format("2006-01-02T15:04:05Z07:00"))
	case t.Year() > 9999:
		p.add("genesis_time", "year %d is after 9999", t.Year())
	case t.Nanosecond()%1_000_000 != 0:
		p.add("genesis_time", "finer than a millisecond; block timestamps are unix milliseconds")
	}
}

func (g *Genesis) checkValidators(p *problems) {
	if len(g.Validators) == 0 {
		p.add("validators", "no validators; at least one is required")
		return
	}
	if len(g.Validators) > MaxValidators {
		p.add("validators", "%d validators, at most %d allowed", len(g.Validators), MaxValidators)
	}
	names := make(map[string]int)
	keys := make(map[string]int)
	addrs := make(map[string]int)
	for i, v := range g.Validators {
		field := fmt.Sprintf("validators[%d]", i)
		checkName(p, field+".name", v.Name, names, i)
		if key, err := ParsePubKey(v.PubKey); err != nil {
			p.add(field+".pub_key", "%v", err)
		} else if j, dup := keys[string(key)]; dup {
			p.add(field+".pub_key", "same key as validators[%d]", j)
		} else {
			keys[string(key)] = i
		}
		if addr, err := ParseAddress(v.Address); err != nil {
			p.add(field+".address", "%v", err)
		} else if j, dup := addrs[string(addr.Bytes())]; dup {
			p.add(field+".address", "%s is also the address of validators[%d]", v.Address, j)
		} else {
			addrs[string(addr.Bytes())] = i
		}
	}
}

func checkName(p *problems, field, name string, seen map[string]int, i int) {
	switch {
	case name == "":
		p.add(field, "missing")
	case len(name) > MaxValidatorNameLen:
		p.add(field, "longer than %d bytes", MaxValidatorNameLen)
	case !printable(name):
		p.add(field, "%q contains a control character or invalid UTF-8", name)
	default:
		if j, dup := seen[name]; dup {
			p.add(field, "%q is also the name of validators[%d]", name, j)
			return
		}
		seen[name] = i
	}
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// ParsePubKey decodes a validator public key: 33-byte compressed secp256k1
// in hex, with or without a 0x prefix, on the curve.
func ParsePubKey(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("missing")
	}
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
	if err != nil {
		return nil, fmt.Errorf("bad hex: %w", err)
	}
	switch len(b) {
	case compressedPubKeyLength:
	case uncompressedPubKeyBytes:
		return nil, errors.New("uncompressed key (65 bytes); give the 33-byte compressed form")
	default:
		return nil, fmt.Errorf("%d bytes, want a 33-byte compressed secp256k1 key", len(b))
	}
	if _, err := crypto.DecompressPubkey(b); err != nil {
		return nil, errors.New("not a point on the secp256k1 curve")
	}
	return b, nil
}

// ParseAddress parses a validator address: a multiaddr of exactly a host
// part (ip4, ip6, dns, dns4 or dns6) followed by tcp with a non-zero port.
// It must not name a peer ID; that is derived from the public key.
func ParseAddress(s string) (ma.Multiaddr, error) {
	if s == "" {
		return nil, errors.New("missing")
	}
	m, err := ma.NewMultiaddr(s)
	if err != nil {
		return nil, fmt.Errorf("bad multiaddr %q: %w", s, err)
	}
	if len(m) != 2 {
		return nil, fmt.Errorf("%q: want /ip4|ip6|dns|dns4|dns6/HOST/tcp/PORT", s)
	}
	switch m[0].Code() {
	case ma.P_IP4, ma.P_IP6, ma.P_DNS, ma.P_DNS4, ma.P_DNS6:
	default:
		return nil, fmt.Errorf("%q: host part must be ip4, ip6, dns, dns4 or dns6, not %s", s, m[0].Protocol().Name)
	}
	if c := m[0].Code(); (c == ma.P_DNS || c == ma.P_DNS4 || c == ma.P_DNS6) && !ValidHostName(m[0].Value()) {
		return nil, fmt.Errorf("%q: %q is not a DNS name", s, m[0].Value())
	}
	if m[1].Code() != ma.P_TCP {
		return nil, fmt.Errorf("%q: transport must be tcp, not %s", s, m[1].Protocol().Name)
	}
	if m[1].Value() == "0" {
		return nil, fmt.Errorf("%q: port 0 cannot be dialled", s)
	}
	return m, nil
}

// ValidHostName reports whether s is a DNS name: dot-separated labels of
// 1 to 63 letters, digits, '-' and '_' (used by container names), none
// starting or ending with '-', at most 253 bytes in all.
func ValidHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func (c Consensus) check(p *problems) {
	positive := []struct {
		field string
		value uint64
		limit uint64
	}{
		{"consensus.max_block_txs", c.MaxBlockTxs, MaxBlockTxsLimit},
		{"consensus.max_block_bytes", c.MaxBlockBytes, MaxBlockBytesLimit},
		{"consensus.max_tx_bytes", c.MaxTxBytes, MaxBlockBytesLimit},
		{"consensus.view_change_timeout_ms", c.ViewChangeTimeoutMs, MaxTimeoutMsLimit},
		{"consensus.view_change_timeout_max_ms", c.ViewChangeTimeoutMaxMs, MaxTimeoutMsLimit},
		{"consensus.max_clock_drift_ms", c.MaxClockDriftMs, MaxClockDriftMsLimit},
		{"consensus.checkpoint_interval", c.CheckpointInterval, MaxCheckpointInterval},
		{"consensus.pipeline_window", c.PipelineWindow, MaxPipelineWindowLimit},
	}
	bad := false
	for _, f := range positive {
		switch {
		case f.value == 0:
			p.add(f.field, "must be greater than 0")
			bad = true
		case f.value > f.limit:
			p.add(f.field, "%d is above the limit %d", f.value, f.limit)
			bad = true
		}
	}
	if bad {
		return
	}
	if c.MaxTxBytes > c.MaxBlockBytes {
		p.add("consensus.max_tx_bytes", "%d is larger than consensus.max_block_bytes (%d)", c.MaxTxBytes, c.MaxBlockBytes)
	}
	if c.ViewChangeTimeoutMaxMs < c.ViewChangeTimeoutMs {
		p.add("consensus.view_change_timeout_max_ms", "%d is below consensus.view_change_timeout_ms (%d)",
			c.ViewChangeTimeoutMaxMs, c.ViewChangeTimeoutMs)
	}
	if c.PipelineWindow > c.CheckpointInterval {
		p.add("consensus.pipeline_window", "%d is larger than consensus.checkpoint_interval (%d)",
			c.PipelineWindow, c.CheckpointInterval)
	}
}

func (g *Genesis) checkApp(p *problems, apps chain.Apps) {
	if g.App == "" {
		p.add("app", "missing (known: %s)", strings.Join(apps.Names(), ", "))
		return
	}
	app, err := apps.New(g.App)
	if err != nil {
		p.add("app", "unknown app %q (known: %s)", g.App, strings.Join(apps.Names(), ", "))
		return
	}
	if err := app.InitState(g.AppState, chain.NewMemState()); err != nil {
		p.add("app_state", "rejected by app %q: %v", g.App, err)
	}
	if _, err := canonicalJSON(g.AppState); err != nil && len(bytes.TrimSpace(g.AppState)) > 0 {
		p.add("app_state", "%v", err)
	}
}
