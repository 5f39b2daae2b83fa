package blocksync

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain"
)

// ProtocolVersion is the version of the sync wire format carried in every
// request and response.
const ProtocolVersion uint64 = 1

// Request kinds.
const (
	// KindBlocks asks for Count blocks with certificates from height From,
	// in at most MaxBytes of encoded response.
	KindBlocks uint64 = 1
	// KindStatus asks for the peer's height and latest certificate.
	KindStatus uint64 = 2
)

// MaxRequestBytes bounds an encoded request: five integers of at most nine
// bytes each and a list header. It is far below p2p's request limit.
const MaxRequestBytes = 64

// Wire errors. Every decoding failure wraps one of them.
var (
	ErrMalformed = errors.New("blocksync: malformed message")
	ErrTooLarge  = errors.New("blocksync: message too large")
	ErrTooMany   = errors.New("blocksync: too many items")
	ErrVersion   = errors.New("blocksync: unsupported protocol version")
)

// Request is one sync request. Its encoding is the RLP list of its fields.
type Request struct {
	Version  uint64
	Kind     uint64
	From     uint64 // KindBlocks: first height wanted (≥ 1)
	Count    uint64 // KindBlocks: blocks wanted (≥ 1); the server may send fewer
	MaxBytes uint64 // KindBlocks: the largest encoded response the requester accepts
}

// CertifiedBlock is a block with its commit certificate.
type CertifiedBlock struct {
	Block       chain.Block
	Certificate chain.Certificate
}

// Response answers a request. For KindBlocks, Blocks are consecutive from
// the requested height and Checkpoints hold the stored stable checkpoint
// proofs (RLP of ordering.CheckpointProof) at heights among those blocks.
// For KindStatus, Latest is the certificate of the server's latest block
// (nil at height 0). Height is always the server's latest height; it is a
// claim, not a proof, until a certificate backs it. Earliest is the lowest
// height whose block the server holds when it pruned older ones (or
// started from a snapshot), and 0 when it holds every block from 1: a
// trailing optional field, absent from the encoding when 0, so a server
// that keeps everything answers exactly as before it existed.
type Response struct {
	Version     uint64
	Height      uint64
	Latest      *chain.Certificate `rlp:"nil"`
	Blocks      []CertifiedBlock
	Checkpoints [][]byte
	Earliest    uint64 `rlp:"optional"`
}

// holdsFrom returns the lowest height the responding server holds.
func (r *Response) holdsFrom() uint64 { return max(r.Earliest, 1) }

// responseOut encodes exactly as Response, with blocks already encoded so
// the server can measure them once.
type responseOut struct {
	Version     uint64
	Height      uint64
	Latest      *chain.Certificate `rlp:"nil"`
	Blocks      []rlp.RawValue
	Checkpoints [][]byte
	Earliest    uint64 `rlp:"optional"`
}

// EncodeRequest returns the canonical encoding of r.
func EncodeRequest(r *Request) []byte {
	enc, err := rlp.EncodeToBytes(r)
	if err != nil {
		panic(fmt.Sprintf("blocksync: encoding request: %v", err))
	}
	return enc
}

// DecodeRequest decodes a request strictly: at most MaxRequestBytes of
// canonical RLP with nothing after it, the current version, a known kind,
// and fields that make sense for the kind.
func DecodeRequest(b []byte) (*Request, error) {
	if len(b) > MaxRequestBytes {
		return nil, fmt.Errorf("%w: request of %d bytes, limit %d", ErrTooLarge, len(b), MaxRequestBytes)
	}
	var r Request
	if err := rlp.DecodeBytes(b, &r); err != nil {
		return nil, fmt.Errorf("%w: request: %v", ErrMalformed, err)
	}
	if r.Version != ProtocolVersion {
		return nil, fmt.Errorf("%w: %d", ErrVersion, r.Version)
	}
	switch r.Kind {
	case KindBlocks:
		if r.From == 0 || r.Count == 0 || r.MaxBytes == 0 {
			return nil, fmt.Errorf("%w: blocks request from %d count %d max bytes %d", ErrMalformed, r.From, r.Count, r.MaxBytes)
		}
	case KindStatus:
		if r.From != 0 || r.Count != 0 || r.MaxBytes != 0 {
			return nil, fmt.Errorf("%w: status request with a range", ErrMalformed)
		}
	default:
		return nil, fmt.Errorf("%w: request kind %d", ErrMalformed, r.Kind)
	}
	return &r, nil
}

// ResponseLimits bounds what DecodeResponse accepts, so that a peer cannot
// make the decoder allocate without limit.
type ResponseLimits struct {
	MaxBytes           int // encoded response
	MaxBlocks          int // blocks in one response
	MaxCheckpoints     int // checkpoint proofs in one response
	MaxCheckpointBytes int // one encoded checkpoint proof
}

// DecodeResponse decodes a response strictly: at most lim.MaxBytes of
// canonical RLP with nothing after it, the current version, and item counts
// within lim, which are checked before any item is decoded.
func DecodeResponse(b []byte, lim ResponseLimits) (*Response, error) {
	if len(b) > lim.MaxBytes {
		return nil, fmt.Errorf("%w: response of %d bytes, limit %d", ErrTooLarge, len(b), lim.MaxBytes)
	}
	nBlocks, nCkpts, err := countResponseItems(b)
	if err != nil {
		return nil, err
	}
	if nBlocks > lim.MaxBlocks {
		return nil, fmt.Errorf("%w: %d blocks, limit %d", ErrTooMany, nBlocks, lim.MaxBlocks)
	}
	if nCkpts > lim.MaxCheckpoints {
		return nil, fmt.Errorf("%w: %d checkpoints, limit %d", ErrTooMany, nCkpts, lim.MaxCheckpoints)
	}
	var r Response
	if err := rlp.DecodeBytes(b, &r); err != nil {
		return nil, fmt.Errorf("%w: response: %v", ErrMalformed, err)
	}
	if r.Version != ProtocolVersion {
		return nil, fmt.Errorf("%w: %d", ErrVersion, r.Version)
	}
	for i, cp := range r.Checkpoints {
		if len(cp) > lim.MaxCheckpointBytes {
			return nil, fmt.Errorf("%w: checkpoint %d of %d bytes, limit %d", ErrTooLarge, i, len(cp), lim.MaxCheckpointBytes)
		}
	}
	return &r, nil
}

// countResponseItems walks the encoded response without decoding it and
// returns the number of blocks and of checkpoints it holds.
func countResponseItems(b []byte) (blocks, ckpts int, err error) {
	content, rest, err := rlp.SplitList(b)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: response: %v", ErrMalformed, err)
	}
	if len(rest) != 0 {
		return 0, 0, fmt.Errorf("%w: %d bytes after the response", ErrMalformed, len(rest))
	}
	for range 3 { // Version, Height, Latest
		if _, _, content, err = rlp.Split(content); err != nil {
			return 0, 0, fmt.Errorf("%w: response header: %v", ErrMalformed, err)
		}
	}
	var counts [2]int
	for i := range counts {
		var list []byte
		if list, content, err = rlp.SplitList(content); err != nil {
			return 0, 0, fmt.Errorf("%w: response list %d: %v", ErrMalformed, i, err)
		}
		if counts[i], err = rlp.CountValues(list); err != nil {
			return 0, 0, fmt.Errorf("%w: response list %d: %v", ErrMalformed, i, err)
		}
	}
	if len(content) > 0 {
		// Earliest, when present, is not 0: its canonical encoding omits
		// a zero (the decoder takes care of anything after it).
		if e, _, err := rlp.SplitUint64(content); err != nil || e == 0 {
			return 0, 0, fmt.Errorf("%w: response earliest height present but zero or malformed", ErrMalformed)
		}
	}
	return counts[0], counts[1], nil
}
