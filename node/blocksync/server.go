package blocksync

import (
	"context"
	"errors"
	"fmt"

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
// version, height, an empty Latest and the two list headers, each at most
// nine bytes.
const responseOverheadBytes = 5 * 9

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
	out := responseOut{Version: ProtocolVersion, Height: height, Blocks: []rlp.RawValue{}, Checkpoints: [][]byte{}}
	if r.Kind == KindStatus {
		if height > 0 {
			if out.Latest, err = s.src.Certificate(height); err != nil {
				return nil, fmt.Errorf("blocksync: status: %w", err)
			}
		}
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
