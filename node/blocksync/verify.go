package blocksync

import (
	"errors"
	"fmt"
	"sync"

	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
)

// Verification errors. A peer whose response fails with any of them is
// faulty.
var (
	ErrBadCertificate = errors.New("blocksync: certificate does not verify")
	ErrCertMismatch   = errors.New("blocksync: certificate does not certify this block")
	ErrBadBlock       = errors.New("blocksync: invalid block")
	ErrWrongParent    = errors.New("blocksync: block does not link to its parent")
	ErrBadCheckpoint  = errors.New("blocksync: invalid checkpoint proof")
	// ErrAppHashMismatch means this node's state after a checkpoint height
	// differs from the state a quorum signed: it has diverged and must stop.
	ErrAppHashMismatch = errors.New("blocksync: state diverged from the network's checkpoint")
)

// Verifier checks blocks and checkpoint proofs against the genesis
// validator set. It is immutable and safe for concurrent use.
type Verifier struct {
	chainID            string
	vs                 *chain.ValidatorSet
	checkpointInterval uint64
}

// NewVerifier returns a verifier for chainID and the validator set vs.
// checkpointInterval, when non-zero, requires every checkpoint proof's
// height to be a multiple of it.
func NewVerifier(chainID string, vs *chain.ValidatorSet, checkpointInterval uint64) *Verifier {
	return &Verifier{chainID: chainID, vs: vs, checkpointInterval: checkpointInterval}
}

// VerifyBlock checks everything about one block that needs no other block:
// it is at height, carries the genesis validators hash and a transactions
// root matching its transactions and senders, and its certificate is a
// valid quorum certificate for exactly this height and hash. It returns the
// block hash. Senders are trusted once the certificate verifies: the quorum
// that signed it checked them.
func (v *Verifier) VerifyBlock(b *chain.Block, c *chain.Certificate, height uint64) (chain.Hash, error) {
	if b.Header.Height != height {
		return chain.Hash{}, fmt.Errorf("%w: got height %d, want %d", ErrBadBlock, b.Header.Height, height)
	}
	if b.Header.ValidatorsHash != v.vs.Hash() {
		return chain.Hash{}, fmt.Errorf("%w: block %d validators hash %s, want %s", ErrBadBlock, height, b.Header.ValidatorsHash, v.vs.Hash())
	}
	hash := b.Hash()
	if c.Height != height || c.BlockHash != hash {
		return chain.Hash{}, fmt.Errorf("%w: certificate (%d, %s), block (%d, %s)", ErrCertMismatch, c.Height, c.BlockHash, height, hash)
	}
	if err := b.CheckTxRoot(); err != nil {
		return chain.Hash{}, fmt.Errorf("%w: block %d: %w", ErrBadBlock, height, err)
	}
	if err := c.Verify(v.chainID, v.vs); err != nil {
		return chain.Hash{}, fmt.Errorf("%w: block %d: %w", ErrBadCertificate, height, err)
	}
	return hash, nil
}

// VerifyRange verifies blocks that must hold consecutive heights from
// `from`, each linked to the one before it, using up to parallelism
// goroutines for the certificates. It returns the block hashes. The first
// block's parent is not checked here: the caller links ranges together.
func (v *Verifier) VerifyRange(blocks []CertifiedBlock, from uint64, parallelism int) ([]chain.Hash, error) {
	hashes := make([]chain.Hash, len(blocks))
	errs := make([]error, len(blocks))
	workers := max(1, min(parallelism, len(blocks)))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(blocks); i += workers {
				hashes[i], errs[i] = v.VerifyBlock(&blocks[i].Block, &blocks[i].Certificate, from+uint64(i))
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, err
		}
		if i > 0 && blocks[i].Block.Header.ParentHash != hashes[i-1] {
			return nil, fmt.Errorf("%w: block %d names parent %s, block %d is %s", ErrWrongParent, from+uint64(i), blocks[i].Block.Header.ParentHash, from+uint64(i)-1, hashes[i-1])
		}
	}
	return hashes, nil
}

// DecodeCheckpoint decodes and verifies an encoded stable checkpoint proof:
// a quorum of distinct validators' correctly signed Checkpoint messages,
// each for the proof's height, block hash and appHash.
func (v *Verifier) DecodeCheckpoint(enc []byte) (*ordering.CheckpointProof, error) {
	var p ordering.CheckpointProof
	if err := rlp.DecodeBytes(enc, &p); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCheckpoint, err)
	}
	if err := v.VerifyCheckpoint(&p); err != nil {
		return nil, err
	}
	return &p, nil
}

// VerifyCheckpoint verifies a decoded stable checkpoint proof (see
// DecodeCheckpoint).
func (v *Verifier) VerifyCheckpoint(p *ordering.CheckpointProof) error {
	if err := ordering.VerifyCheckpointProof(v.chainID, v.vs, v.checkpointInterval, v.vs.Quorum(), p); err != nil {
		return fmt.Errorf("%w: %w", ErrBadCheckpoint, err)
	}
	return nil
}

// CheckAppHash compares this node's appHash after executing height with
// the verified checkpoint proof p for that height. A mismatch wraps
// ErrAppHashMismatch: the node's state has diverged from what a quorum of
// validators signed and it must stop rather than run on.
func CheckAppHash(p *ordering.CheckpointProof, height uint64, appHash chain.Hash) error {
	if p.Height != height {
		return fmt.Errorf("blocksync: checkpoint proof for height %d checked at height %d", p.Height, height)
	}
	if p.AppHash != appHash {
		return fmt.Errorf("%w: at height %d this node has appHash %s, a quorum signed %s", ErrAppHashMismatch, height, appHash, p.AppHash)
	}
	return nil
}
