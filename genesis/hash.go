package genesis

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bafomet/bafomet/chain"
)

// HashDomain prefixes the canonical encoding that Hash digests.
const HashDomain = "bafomet/genesis/v1"

// canonicalValidator and canonical are the RLP layout of the canonical
// encoding; docs/genesis.md specifies it field by field.
type canonicalValidator struct {
	Name      string
	PubKey    []byte // 33-byte compressed key
	Multiaddr []byte // binary multiaddr
}

type canonical struct {
	ChainID       string
	GenesisTimeMs uint64
	Validators    []canonicalValidator
	Consensus     []uint64
	App           string
	AppState      []byte // canonical JSON, empty when absent or null
}

// CanonicalBytes returns the canonical encoding of the genesis: the RLP
// list [chain_id, genesis_time as unix ms, [[name, pub_key bytes,
// binary multiaddr] …], [max_block_txs, max_block_bytes, max_tx_bytes,
// view_change_timeout_ms, view_change_timeout_max_ms, max_clock_drift_ms,
// checkpoint_interval, pipeline_window], app, canonical app_state JSON].
// Whitespace, key order, hex case and the 0x prefix of the file do not
// change it. It fails on a document whose keys, addresses or app_state do
// not parse; validate first.
func (g *Genesis) CanonicalBytes() ([]byte, error) {
	c := canonical{
		ChainID:       g.ChainID,
		GenesisTimeMs: g.TimestampMs(),
		App:           g.App,
		Consensus: []uint64{
			g.Consensus.MaxBlockTxs, g.Consensus.MaxBlockBytes, g.Consensus.MaxTxBytes,
			g.Consensus.ViewChangeTimeoutMs, g.Consensus.ViewChangeTimeoutMaxMs,
			g.Consensus.MaxClockDriftMs, g.Consensus.CheckpointInterval, g.Consensus.PipelineWindow,
		},
	}
	for i, v := range g.Validators {
		key, err := ParsePubKey(v.PubKey)
		if err != nil {
			return nil, &FieldError{Field: fmt.Sprintf("validators[%d].pub_key", i), Problem: err.Error()}
		}
		addr, err := ParseAddress(v.Address)
		if err != nil {
			return nil, &FieldError{Field: fmt.Sprintf("validators[%d].address", i), Problem: err.Error()}
		}
		c.Validators = append(c.Validators, canonicalValidator{Name: v.Name, PubKey: key, Multiaddr: addr.Bytes()})
	}
	state, err := canonicalJSON(g.AppState)
	if err != nil {
		return nil, &FieldError{Field: "app_state", Problem: err.Error()}
	}
	c.AppState = state
	enc, err := rlp.EncodeToBytes(&c)
	if err != nil {
		return nil, fmt.Errorf("genesis: encode canonical form: %w", err)
	}
	return enc, nil
}

// Hash returns the chain's identity: Keccak256(HashDomain ‖
// CanonicalBytes()). Nodes compare it whenever they meet.
func (g *Genesis) Hash() (chain.Hash, error) {
	enc, err := g.CanonicalBytes()
	if err != nil {
		return chain.Hash{}, err
	}
	return crypto.Keccak256Hash([]byte(HashDomain), enc), nil
}

// canonicalJSON re-encodes raw JSON with object keys sorted, no
// insignificant whitespace, strings escaped as encoding/json escapes them
// without HTML escaping, and numbers exactly as written. Absent and null
// give no bytes.
func canonicalJSON(raw json.RawMessage) ([]byte, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return []byte{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("re-encode: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// ValidatorSet builds the chain's validator set in file order. The
// genesis must be valid.
func (g *Genesis) ValidatorSet() (*chain.ValidatorSet, error) {
	vals := make([]chain.Validator, len(g.Validators))
	for i, v := range g.Validators {
		key, err := ParsePubKey(v.PubKey)
		if err != nil {
			return nil, &FieldError{Field: fmt.Sprintf("validators[%d].pub_key", i), Problem: err.Error()}
		}
		vals[i] = chain.Validator{Name: v.Name, PubKey: key, Multiaddr: v.Address}
	}
	vs, err := chain.NewValidatorSet(vals)
	if err != nil {
		return nil, fmt.Errorf("genesis: validators: %w", err)
	}
	return vs, nil
}

// F returns the number of Byzantine validators the chain tolerates.
func (g *Genesis) F() int { return chain.MaxFaulty(len(g.Validators)) }

// PeerID returns the libp2p peer ID of the validator with this compressed
// public key (see ParsePubKey).
func PeerID(pubKey []byte) (peer.ID, error) {
	pk, err := p2pcrypto.UnmarshalSecp256k1PublicKey(pubKey)
	if err != nil {
		return "", fmt.Errorf("genesis: libp2p key: %w", err)
	}
	id, err := peer.IDFromPublicKey(pk)
	if err != nil {
		return "", fmt.Errorf("genesis: peer id: %w", err)
	}
	return id, nil
}
