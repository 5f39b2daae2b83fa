package blocksync

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain"
)

// Server defaults.
const (
	// DefaultServeMaxBlocks is the most blocks one response carries.
	DefaultServeMaxBlocks = 256
	// DefaultServeMaxBytes is the largest response the server builds: the
	// same bound as the fetcher's DefaultMaxResponseBytes and p2p's
	// DefaultSyncResponseMax, so that what one side sends the other reads.
	DefaultServeMaxBytes = DefaultMaxResponseBytes
)

// responseOverheadBytes covers everything in an encoded blocks response
// besides the blocks and checkpoints themselves: the outer list header,
// version, height, an empty Latest, the two list headers and Earliest,
// each at most nine bytes.
const responseOverheadBytes = 6 * 9

// Source is the read-only view of the chain the server answers from.
// *chain.Store implements it. Every method must be safe to call
// concurrently with block commits and return an error wrapping
// chain.ErrNotFound for a missing item.
type Source interface {
	// Height returns the latest committed height.
	Height() (uint64, error)
	// Block returns the committed block at height.
	Block(height uint64) (*chain.Block, error)
	// Certificate returns the commit certificate of the block at height.
	Certificate(height uint64) (*chain.Certificate, error)
	// Checkpoint returns the stored stable checkpoint proof at height
	// (RLP of ordering.CheckpointProof).
	Checkpoint(height uint64) ([]byte, error)
}

// PrunedSource is a Source that may hold blocks only from some height
// up (*chain.Store does): it prunes old blocks, or started from a
// snapshot. Reads below that height fail with chain.ErrPruned.
type PrunedSource interface {
	// EarliestHeight returns the lowest height whose block it holds.
	EarliestHeight() (uint64, error)
}

// ErrPruned is the server's answer to a request for blocks from below the
// earliest height it holds; its text (which reaches the requester as the
// p2p error message) ends "the earliest block this node holds is H".
// Fetchers read it with PrunedEarliest and ask another peer, without a
// cool-down: the server is honest, it just no longer has those blocks.
var ErrPruned = errors.New("blocksync: pruned")

// prunedText precedes the earliest height in an ErrPruned answer.
const prunedText = "the earliest block this node holds is "

func prunedErr(earliest, from uint64) error {
	return fmt.Errorf("%w: %s%d (asked from %d)", ErrPruned, prunedText, earliest, from)
}

// PrunedEarliest reports whether err is (or carries the text of) a
// server's ErrPruned answer, and the earliest height it names (0 when the
// text does not parse).
func PrunedEarliest(err error) (uint64, bool) {
	if err == nil {
		return 0, false
	}
	msg := err.Error()
	i := strings.Index(msg, ErrPruned.Error()+": "+prunedText)
	if i < 0 {
		return 0, false
	}
	rest := msg[i+len(ErrPruned.Error())+2+len(prunedText):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	h, perr := strconv.ParseUint(rest[:j], 10, 64)
	if perr != nil {
		return 0, true
	}
	return h, true
}

// earliest returns the lowest height src holds (1 unless it prunes).
func earliest(src Source) (uint64, error) {
	ps, ok := src.(PrunedSource)
	if !ok {
		return 1, nil
	}
	e, err := ps.EarliestHeight()
	return max(e, 1), err
}

// ServerConfig bounds what the server sends. Zero fields take defaults.
type ServerConfig struct {
	MaxBlocks int // blocks per response
	MaxBytes  int // bytes per encoded response; never exceeded
	// CheckpointInterval is the chain's checkpoint interval: only heights
	// that are multiples of it are looked up for checkpoint proofs. Zero
	// looks every served height up.
	CheckpointInterval uint64
}

func (c ServerConfig) withDefaults() (ServerConfig, error) {
	if c.MaxBlocks < 0 || c.MaxBytes < 0 {
		return c, fmt.Errorf("blocksync: negative server limit (max blocks %d, max bytes %d)", c.MaxBlocks, c.MaxBytes)
	}
	if c.MaxBlocks == 0 {
		c.MaxBlocks = DefaultServeMaxBlocks
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultServeMaxBytes
	}
	if c.MaxBytes <= responseOverheadBytes {
		return c, fmt.Errorf("blocksync: server max bytes %d leaves no room for a block", c.MaxBytes)
	}
	return c, nil
}

// Server answers sync requests from a Source. It only reads, so serving
// never waits on or disturbs the consensus loop; p2p bounds how many
// requests are served at once.
type Server struct {
	src Source
	cfg ServerConfig
}

// NewServer returns a server over src.
func NewServer(src Source, cfg ServerConfig) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Server{src: src, cfg: cfg}, nil
}

// ErrBlockTooLarge is returned when the first block asked for does not fit
// in the response limit.
var ErrBlockTooLarge = errors.New("blocksync: block does not fit in the response limit")

// Handle serves one encoded request from validator from and returns the
// encoded response. Its signature is p2p.RequestHandler.
func (s *Server) Handle(ctx context.Context, from int, req []byte) ([]byte, error) {
	r, err := DecodeRequest(req)
	if err != nil {
		return nil, err
	}
	height, err := s.src.Height()
	if err != nil {
		return nil, fmt.Errorf("blocksync: read height: %w", err)
	}
	low, err := earliest(s.src)
	if err != nil {
		return nil, fmt.Errorf("blocksync: read earliest height: %w", err)
	}
	out := responseOut{Version: ProtocolVersion, Height: height, Blocks: []rlp.RawValue{}, Checkpoints: [][]byte{}}
	if low > 1 {
		out.Earliest = low
	}
	if r.Kind == KindStatus {
		if height > 0 {
			if out.Latest, err = s.src.Certificate(height); err != nil {
				return nil, fmt.Errorf("blocksync: status: %w", err)
			}
		}
	} else if r.From < low && r.From <= height {
		return nil, prunedErr(low, r.From)
	} else if err := s.fillBlocks(ctx, r, height, &out); err != nil {
		return nil, err
	}
	enc, err := rlp.EncodeToBytes(&out)
	if err != nil {
		return nil, fmt.Errorf("blocksync: encode response: %w", err)
	}
	return enc, nil
}

// fillBlocks adds blocks from r.From up to the request's count, the
// server's count limit and the height, stopping before the response would
// exceed the smaller of both byte limits.
func (s *Server) fillBlocks(ctx context.Context, r *Request, height uint64, out *responseOut) error {
	if r.From > height {
		return nil
	}
	limit := uint64(s.cfg.MaxBytes)
	if r.MaxBytes < limit {
		limit = r.MaxBytes
	}
	count := min(r.Count, uint64(s.cfg.MaxBlocks), height-r.From+1)
	size := uint64(responseOverheadBytes)
	for h := r.From; h < r.From+count; h++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("blocksync: serving from %d: %w", r.From, err)
		}
		item, ckpt, err := s.readItem(h)
		var perr *chain.PrunedError
		if errors.As(err, &perr) { // pruned since the check in Handle
			return prunedErr(perr.Earliest, r.From)
		}
		if err != nil {
			return err
		}
		add := uint64(len(item)) + uint64(len(ckpt))
		if len(ckpt) > 0 {
			add += 9 // the checkpoint's string header
		}
		if size+add > limit {
			if h == r.From {
				return fmt.Errorf("%w: block %d needs %d bytes, limit %d", ErrBlockTooLarge, h, size+add, limit)
			}
			break
		}
		size += add
		out.Blocks = append(out.Blocks, item)
		if len(ckpt) > 0 {
			out.Checkpoints = append(out.Checkpoints, ckpt)
		}
	}
	return nil
}

// readItem returns the encoded CertifiedBlock at h and the checkpoint
// proof stored there, if any.
func (s *Server) readItem(h uint64) (rlp.RawValue, []byte, error) {
	b, err := s.src.Block(h)
	if err != nil {
		return nil, nil, fmt.Errorf("blocksync: serve block: %w", err)
	}
	c, err := s.src.Certificate(h)
	if err != nil {
		return nil, nil, fmt.Errorf("blocksync: serve certificate: %w", err)
	}
	item, err := rlp.EncodeToBytes(&CertifiedBlock{Block: *b, Certificate: *c})
	if err != nil {
		return nil, nil, fmt.Errorf("blocksync: encode block %d: %w", h, err)
	}
	var ckpt []byte
	if s.cfg.CheckpointInterval == 0 || h%s.cfg.CheckpointInterval == 0 {
		ckpt, err = s.src.Checkpoint(h)
		if errors.Is(err, chain.ErrNotFound) {
			ckpt, err = nil, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("blocksync: serve checkpoint: %w", err)
		}
	}
	return item, ckpt, nil
}
