package statesync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/snapshot"
)

// Server answers state-sync requests from a node's snapshot directory. It
// offers only snapshots whose checkpoint proof is stored with them (the
// checkpoint at their height is stable), and only reads, so serving never
// waits on consensus.
type Server struct {
	dir *snapshot.Dir

	mu     sync.Mutex
	hashes map[uint64]chain.Hash // manifest hash by height, read once

	// Served counts answered requests by kind: offers, manifests, chunks.
	Served struct{ Offers, Manifests, Chunks atomic.Uint64 }
}

// NewServer returns a server over dir.
func NewServer(dir *snapshot.Dir) *Server {
	return &Server{dir: dir, hashes: map[uint64]chain.Hash{}}
}

// Handle answers one encoded request; it matches p2p.RequestHandler.
func (s *Server) Handle(ctx context.Context, from int, raw []byte) ([]byte, error) {
	req, err := DecodeRequest(raw)
	if err != nil {
		return nil, err
	}
	switch req.Kind {
	case KindSnapshots:
		offers, err := s.Offers()
		if err != nil {
			return nil, err
		}
		s.Served.Offers.Add(1)
		return encode(&OffersResponse{Version: ProtocolVersion, Offers: offers}), nil
	case KindManifest:
		m, err := s.dir.ManifestBytes(req.Height)
		if err != nil {
			return nil, fmt.Errorf("no snapshot at height %d: %w", req.Height, err)
		}
		p, err := s.dir.Proof(req.Height)
		if err != nil {
			return nil, fmt.Errorf("snapshot at height %d has no stable checkpoint yet: %w", req.Height, err)
		}
		s.Served.Manifests.Add(1)
		return encode(&ManifestResponse{Version: ProtocolVersion, Manifest: m, Proof: p}), nil
	default: // KindChunk: DecodeRequest admits no other kind
		c, err := s.dir.Chunk(req.Height, int(req.Index))
		if err != nil {
			return nil, fmt.Errorf("chunk %d of snapshot %d: %w", req.Index, req.Height, err)
		}
		s.Served.Chunks.Add(1)
		return encode(&ChunkResponse{Version: ProtocolVersion, Chunk: c}), nil
	}
}

// Offers returns the snapshots the server offers, newest first: those
// with a stored checkpoint proof, at most MaxOffers.
func (s *Server) Offers() ([]Offer, error) {
	hs, err := s.dir.Heights()
	if err != nil {
		return nil, err
	}
	slices.Reverse(hs)
	var out []Offer
	for _, h := range hs {
		if len(out) == MaxOffers {
			break
		}
		if _, err := s.dir.Proof(h); err != nil {
			continue
		}
		hash, err := s.manifestHash(h)
		if errors.Is(err, snapshot.ErrNotFound) {
			continue // pruned meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, Offer{Height: h, Manifest: hash})
	}
	return out, nil
}

func (s *Server) manifestHash(h uint64) (chain.Hash, error) {
	s.mu.Lock()
	hash, ok := s.hashes[h]
	s.mu.Unlock()
	if ok {
		return hash, nil
	}
	m, err := s.dir.Manifest(h)
	if err != nil {
		return chain.Hash{}, err
	}
	hash = m.Hash()
	s.mu.Lock()
	s.hashes[h] = hash
	for k := range s.hashes { // keep the cache to what MaxOffers can name
		if len(s.hashes) <= 4*MaxOffers {
			break
		}
		delete(s.hashes, k)
	}
	s.mu.Unlock()
	return hash, nil
}
