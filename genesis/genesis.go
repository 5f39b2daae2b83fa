// Package genesis reads, validates and hashes bafomet's genesis file, the
// document that fixes a chain's identity: its chain id, start time, the
// static validator set, the consensus parameters every validator must agree
// on, and the application with its initial state. See docs/genesis.md.
package genesis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/bafomet/bafomet/chain"
)

// MaxFileBytes is the largest genesis file Load reads.
const MaxFileBytes = 64 << 20

// Genesis is the parsed genesis file. Its JSON field names are the file
// format; Parse fills omitted consensus parameters with DefaultConsensus.
type Genesis struct {
	ChainID     string          `json:"chain_id"`
	GenesisTime time.Time       `json:"genesis_time"`
	Validators  []Validator     `json:"validators"`
	Consensus   Consensus       `json:"consensus"`
	App         string          `json:"app"`
	AppState    json.RawMessage `json:"app_state,omitempty"`
}

// Validator is one member of the validator set as the file names it.
type Validator struct {
	// Name is a human-readable, unique label (logs, RPC, metrics).
	Name string `json:"name"`
	// PubKey is the 33-byte compressed secp256k1 public key in hex, with
	// or without a 0x prefix.
	PubKey string `json:"pub_key"`
	// Address is the libp2p multiaddr the validator listens on, of the form
	// /ip4|ip6|dns|dns4|dns6/HOST/tcp/PORT.
	Address string `json:"address"`
}

// Consensus holds the parameters every validator must agree on.
type Consensus struct {
	MaxBlockTxs   uint64 `json:"max_block_txs"`
	MaxBlockBytes uint64 `json:"max_block_bytes"`
	MaxTxBytes    uint64 `json:"max_tx_bytes"`
	// ViewChangeTimeoutMs is how long a validator with pending work waits
	// for the next commit before it votes to replace the primary; it is the
	// base of the exponential backoff across consecutive view changes.
	ViewChangeTimeoutMs uint64 `json:"view_change_timeout_ms"`
	// ViewChangeTimeoutMaxMs caps the backed-off view-change timeout.
	ViewChangeTimeoutMaxMs uint64 `json:"view_change_timeout_max_ms"`
	// MaxClockDriftMs is how far a proposal's timestamp may be ahead of a
	// backup's clock before the backup rejects it.
	MaxClockDriftMs    uint64 `json:"max_clock_drift_ms"`
	CheckpointInterval uint64 `json:"checkpoint_interval"`
	PipelineWindow     uint64 `json:"pipeline_window"`
}

// Defaults for consensus parameters omitted from the file.
const (
	DefaultMaxBlockTxs            = 1000
	DefaultMaxBlockBytes          = 2 << 20
	DefaultMaxTxBytes             = 64 << 10
	DefaultViewChangeTimeoutMs    = 2000
	DefaultViewChangeTimeoutMaxMs = 60_000
	DefaultMaxClockDriftMs        = 5000
	DefaultCheckpointInterval     = 100
	DefaultPipelineWindow         = 4
)

// DefaultConsensus returns the parameters used for omitted fields.
func DefaultConsensus() Consensus {
	return Consensus{
		MaxBlockTxs:            DefaultMaxBlockTxs,
		MaxBlockBytes:          DefaultMaxBlockBytes,
		MaxTxBytes:             DefaultMaxTxBytes,
		ViewChangeTimeoutMs:    DefaultViewChangeTimeoutMs,
		ViewChangeTimeoutMaxMs: DefaultViewChangeTimeoutMaxMs,
		MaxClockDriftMs:        DefaultMaxClockDriftMs,
		CheckpointInterval:     DefaultCheckpointInterval,
		PipelineWindow:         DefaultPipelineWindow,
	}
}

// ViewChangeTimeout returns ViewChangeTimeoutMs as a duration.
func (c Consensus) ViewChangeTimeout() time.Duration {
	return time.Duration(c.ViewChangeTimeoutMs) * time.Millisecond
}

// ViewChangeTimeoutMax returns ViewChangeTimeoutMaxMs as a duration.
func (c Consensus) ViewChangeTimeoutMax() time.Duration {
	return time.Duration(c.ViewChangeTimeoutMaxMs) * time.Millisecond
}

// TimestampMs returns the genesis time in unix milliseconds: the timestamp
// of the (virtual) block at height 0 that block 1 must follow.
func (g *Genesis) TimestampMs() uint64 {
	return uint64(g.GenesisTime.UnixMilli())
}

// Load reads and parses the genesis file at path, which may be at most
// MaxFileBytes long. It does not validate it; call Validate.
func Load(path string) (*Genesis, error) { return LoadLimit(path, MaxFileBytes) }

// LoadLimit is Load with a size limit of maxBytes.
func LoadLimit(path string, maxBytes int) (*Genesis, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(maxBytes)+1))
	if err != nil {
		return nil, fmt.Errorf("genesis: read %s: %w", path, err)
	}
	if len(data) > maxBytes {
		return nil, fmt.Errorf("genesis: %s is larger than %d bytes", path, maxBytes)
	}
	g, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// Parse decodes a genesis document strictly: unknown fields (names are
// case-sensitive), a field given twice in one object (app_state included),
// trailing data and type mismatches are errors that give the line and
// column; omitted consensus parameters take their defaults. It does not
// validate; call Validate.
func Parse(data []byte) (*Genesis, error) {
	g := &Genesis{Consensus: DefaultConsensus()}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(g); err != nil {
		return nil, decodeError(data, dec, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		line, col := position(data, int(dec.InputOffset()))
		return nil, &SyntaxError{Line: line, Column: col, Msg: "trailing data after the genesis object"}
	}
	// encoding/json matched names regardless of case and kept the last of
	// duplicates; the format allows neither.
	if fe := checkFields(data); fe != nil {
		return nil, fe
	}
	return g, nil
}

// checkFields reports the first member of data that names no field of the
// format exactly, or that an object gives twice, with its line and column.
func checkFields(data []byte) *FieldError {
	var fe *chain.JSONFieldError
	if err := chain.CheckJSONFields(data, &Genesis{}); !errors.As(err, &fe) {
		return nil
	}
	line, col := position(data, fe.Offset)
	return &FieldError{Field: fe.Path, Problem: fmt.Sprintf("line %d, column %d: %s", line, col, fe.Problem)}
}

// Marshal returns the genesis as indented JSON, the form the tools write.
func (g *Genesis) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(g); err != nil {
		return nil, fmt.Errorf("genesis: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// SyntaxError reports a genesis document that is not well-formed JSON.
type SyntaxError struct {
	Line, Column int // 1-based position of the error
	Msg          string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("genesis: line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// decodeError turns an encoding/json error into a SyntaxError or a
// FieldError with a position.
func decodeError(data []byte, dec *json.Decoder, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tpe *time.ParseError
	switch {
	case errors.Is(err, io.EOF):
		return &SyntaxError{Line: 1, Column: 1, Msg: "empty document"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		line, col := position(data, len(data))
		return &SyntaxError{Line: line, Column: col, Msg: "unexpected end of JSON input"}
	case errors.As(err, &syn):
		line, col := position(data, int(syn.Offset)-1)
		return &SyntaxError{Line: line, Column: col, Msg: syn.Error()}
	case errors.As(err, &typ):
		line, col := position(data, int(typ.Offset)-1)
		return &FieldError{Field: typ.Field, Problem: fmt.Sprintf(
			"line %d, column %d: expected %s, got %s", line, col, jsonKind(typ.Type.Kind().String()), typ.Value)}
	case errors.As(err, &tpe):
		line, col := position(data, timeOffset(data))
		return &FieldError{Field: "genesis_time", Problem: fmt.Sprintf(
			"line %d, column %d: not an RFC 3339 time (for example 2025-01-02T15:04:05Z): %q", line, col, tpe.Value)}
	}
	if strings.HasPrefix(err.Error(), "Time.UnmarshalJSON") {
		line, col := position(data, timeOffset(data))
		return &FieldError{Field: "genesis_time", Problem: fmt.Sprintf(
			"line %d, column %d: not an RFC 3339 time string", line, col)}
	}
	if name, ok := unknownField(err); ok {
		if fe := checkFields(data); fe != nil {
			return fe
		}
		return &FieldError{Field: name, Problem: "unknown field"}
	}
	return fmt.Errorf("genesis: %w", err)
}

// timeOffset is the offset of the genesis_time key, where a bad time is
// reported.
func timeOffset(data []byte) int {
	off, _ := keyOffset(data, "genesis_time")
	return off
}

// unknownField extracts the name from encoding/json's unknown-field error,
// which has no type of its own.
func unknownField(err error) (string, bool) {
	const prefix = `json: unknown field "`
	msg := err.Error()
	if len(msg) <= len(prefix) || msg[:len(prefix)] != prefix || msg[len(msg)-1] != '"' {
		return "", false
	}
	return msg[len(prefix) : len(msg)-1], true
}

// jsonKind names a Go kind the way a JSON author thinks of it.
func jsonKind(kind string) string {
	switch kind {
	case "uint64", "uint32", "uint", "int", "int64":
		return "a non-negative integer"
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "struct":
		return "an object"
	}
	return kind
}

// position converts a byte offset into a 1-based line and column.
func position(data []byte, offset int) (line, col int) {
	if offset > len(data) {
		offset = len(data)
	}
	if offset < 0 {
		offset = 0
	}
	before := data[:offset]
	line = 1 + bytes.Count(before, []byte{'\n'})
	col = offset - bytes.LastIndexByte(before, '\n')
	return line, col
}
