package sim

import (
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
)

// storage is a node's simulated durable storage: what survives a crash.
// Everything else a node holds is lost when it crashes.
type storage struct {
	records   []ordering.Record // signed messages with their prune heights, oldest first
	blocks    []*chain.Block    // blocks[h-1] is height h
	certs     []*chain.Certificate
	appHashes []chain.Hash // appHashes[h] is the appHash after height h
	stable    *ordering.CheckpointProof
	genesis   *chain.Block
}

func newStorage(genesis *chain.Block, genesisAppHash chain.Hash) *storage {
	return &storage{genesis: genesis, appHashes: []chain.Hash{genesisAppHash}}
}

// height returns the last executed height.
func (s *storage) height() uint64 { return uint64(len(s.blocks)) }

// persist appends signed records. The simulator's storage is synchronous,
// so a record is durable when persist returns.
func (s *storage) persist(recs []ordering.Record) { s.records = append(s.records, recs...) }

// setStable records a stable checkpoint, unless a higher one is stored.
func (s *storage) setStable(cp *ordering.CheckpointProof) {
	if cp == nil || (s.stable != nil && cp.Height <= s.stable.Height) {
		return
	}
	s.stable = cp
}

// prune discards every record whose prune Height is at or below height.
func (s *storage) prune(height uint64) {
	kept := s.records[:0]
	for _, r := range s.records {
		if r.Height > height {
			kept = append(kept, r)
		}
	}
	clear(s.records[len(kept):])
	s.records = kept
}

// execute applies a committed block with the fake state machine:
// appHash(h) = Keccak256(appHash(h-1) ‖ blockHash(h)).
func (s *storage) execute(b *chain.Block, c *chain.Certificate) chain.Hash {
	hash := b.Hash()
	app := crypto.Keccak256Hash(s.appHashes[len(s.appHashes)-1][:], hash[:])
	s.blocks = append(s.blocks, b)
	s.certs = append(s.certs, c)
	s.appHashes = append(s.appHashes, app)
	return app
}

// tip returns the last executed block, or genesis.
func (s *storage) tip() *chain.Block {
	if len(s.blocks) == 0 {
		return s.genesis
	}
	return s.blocks[len(s.blocks)-1]
}

// restore builds the state a restarted core starts from.
func (s *storage) restore(window uint64) ordering.Restore {
	h := s.height()
	tip := s.tip()
	r := ordering.Restore{
		Height:         h,
		BlockHash:      tip.Hash(),
		BlockTimestamp: tip.Header.Timestamp,
		Stable:         s.stable,
	}
	for _, rec := range s.records {
		r.Records = append(r.Records, rec.Msg)
	}
	low := uint64(0)
	if s.stable != nil {
		low = min(s.stable.Height, h)
	}
	r.Certificates = append(r.Certificates, s.certs[low:h]...)
	from := uint64(0)
	if h+1 > window {
		from = h + 1 - window
	}
	for x := from; x <= h; x++ {
		r.AppHashes = append(r.AppHashes, ordering.AppHashAt{Height: x, AppHash: s.appHashes[x]})
	}
	return r
}

// certified returns the stored blocks and certificates above height from,
// at most limit of them.
func (s *storage) certified(from uint64, limit int) ([]*chain.Block, []*chain.Certificate) {
	h := s.height()
	if from >= h {
		return nil, nil
	}
	end := min(h, from+uint64(limit))
	return s.blocks[from:end], s.certs[from:end]
}
