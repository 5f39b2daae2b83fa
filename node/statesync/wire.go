package statesync

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/snapshot"
)

// ProtocolVersion is the version carried in every state-sync request and
// response. Requests travel on the same p2p protocol as block sync, with
// kinds of their own (IsRequest tells them apart).
const ProtocolVersion uint64 = 1

// Request kinds. Block sync uses kinds below 16.
const (
	// KindSnapshots asks for the snapshots the peer offers.
	KindSnapshots uint64 = 16
	// KindManifest asks for the manifest and checkpoint proof of the
	// snapshot at Height.
	KindManifest uint64 = 17
	// KindChunk asks for chunk Index of the snapshot at Height.
	KindChunk uint64 = 18
)

// Wire limits.
const (
	// MaxRequestBytes bounds an encoded request.
	MaxRequestBytes = 64
	// MaxOffers bounds the snapshots one peer offers.
	MaxOffers = 16
	// MaxOffersBytes bounds an encoded offers response.
	MaxOffersBytes = 4 << 10
	// MaxManifestResponseBytes bounds an encoded manifest response.
	MaxManifestResponseBytes = snapshot.MaxManifestBytes + snapshot.MaxProofBytes + 64
	// MaxChunkResponseBytes bounds an encoded chunk response.
	MaxChunkResponseBytes = snapshot.MaxChunkBytes + 64
)

// Wire errors; every decoding failure wraps one of them.
var (
	ErrMalformed = errors.New("statesync: malformed message")
	ErrTooLarge  = errors.New("statesync: message too large")
	ErrVersion   = errors.New("statesync: unsupported protocol version")
)

// Request is one state-sync request: the RLP list of its fields.
type Request struct {
	Version uint64
	Kind    uint64
	Height  uint64 // KindManifest, KindChunk
	Index   uint64 // KindChunk
}

// Offer is one snapshot a peer offers: its height and the hash of its
// manifest.
type Offer struct {
	Height   uint64
	Manifest chain.Hash
}

// OffersResponse answers KindSnapshots, newest first.
type OffersResponse struct {
	Version uint64
	Offers  []Offer
}

// ManifestResponse answers KindManifest: the encoded manifest and the
// encoded stable checkpoint proof (RLP of ordering.CheckpointProof).
type ManifestResponse struct {
	Version  uint64
	Manifest []byte
	Proof    []byte
}

// ChunkResponse answers KindChunk with the encoded chunk.
type ChunkResponse struct {
	Version uint64
	Chunk   []byte
}

func encode(v any) []byte {
	enc, err := rlp.EncodeToBytes(v)
	if err != nil {
		panic(fmt.Sprintf("statesync: encoding %T: %v", v, err))
	}
	return enc
}

// EncodeRequest returns the encoding of r.
func EncodeRequest(r *Request) []byte { return encode(r) }

// IsRequest reports whether b is shaped like a state-sync request (an RLP
// list whose second item is a state-sync kind), so a node can route it
// away from block sync. It decodes nothing else.
func IsRequest(b []byte) bool {
	content, _, err := rlp.SplitList(b)
	if err != nil {
		return false
	}
	if _, _, content, err = rlp.Split(content); err != nil { // version
		return false
	}
	kind, _, err := rlp.SplitUint64(content)
	return err == nil && kind >= KindSnapshots && kind <= KindChunk
}

// DecodeRequest decodes a request strictly: at most MaxRequestBytes of
// canonical RLP, the current version, a known kind and fields that make
// sense for it.
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
	case KindSnapshots:
		if r.Height != 0 || r.Index != 0 {
			return nil, fmt.Errorf("%w: snapshots request with a height or index", ErrMalformed)
		}
	case KindManifest:
		if r.Height == 0 || r.Index != 0 {
			return nil, fmt.Errorf("%w: manifest request at height %d index %d", ErrMalformed, r.Height, r.Index)
		}
	case KindChunk:
		if r.Height == 0 || r.Index >= snapshot.MaxChunks {
			return nil, fmt.Errorf("%w: chunk request at height %d index %d", ErrMalformed, r.Height, r.Index)
		}
	default:
		return nil, fmt.Errorf("%w: request kind %d", ErrMalformed, r.Kind)
	}
	return &r, nil
}

func decodeStrict(b []byte, limit int, what string, out any) error {
	if len(b) > limit {
		return fmt.Errorf("%w: %s of %d bytes, limit %d", ErrTooLarge, what, len(b), limit)
	}
	if err := rlp.DecodeBytes(b, out); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	}
	return nil
}

// DecodeOffers decodes an offers response: the current version, at most
// MaxOffers offers with distinct non-zero heights, newest first.
func DecodeOffers(b []byte) (*OffersResponse, error) {
	var r OffersResponse
	if err := decodeStrict(b, MaxOffersBytes, "offers", &r); err != nil {
		return nil, err
	}
	if r.Version != ProtocolVersion {
		return nil, fmt.Errorf("%w: %d", ErrVersion, r.Version)
	}
	if len(r.Offers) > MaxOffers {
		return nil, fmt.Errorf("%w: %d offers, limit %d", ErrTooLarge, len(r.Offers), MaxOffers)
	}
	for i, o := range r.Offers {
		if o.Height == 0 || (i > 0 && o.Height >= r.Offers[i-1].Height) {
			return nil, fmt.Errorf("%w: offer %d at height %d is not below the one before", ErrMalformed, i, o.Height)
		}
	}
	return &r, nil
}

// DecodeManifestResponse decodes a manifest response (the manifest and
// proof themselves are checked by the restorer).
func DecodeManifestResponse(b []byte) (*ManifestResponse, error) {
	var r ManifestResponse
	if err := decodeStrict(b, MaxManifestResponseBytes, "manifest response", &r); err != nil {
		return nil, err
	}
	if r.Version != ProtocolVersion {
		return nil, fmt.Errorf("%w: %d", ErrVersion, r.Version)
	}
	if len(r.Proof) > snapshot.MaxProofBytes {
		return nil, fmt.Errorf("%w: proof of %d bytes, limit %d", ErrTooLarge, len(r.Proof), snapshot.MaxProofBytes)
	}
	return &r, nil
}

// DecodeChunkResponse decodes a chunk response.
func DecodeChunkResponse(b []byte) (*ChunkResponse, error) {
	var r ChunkResponse
	if err := decodeStrict(b, MaxChunkResponseBytes, "chunk response", &r); err != nil {
		return nil, err
	}
	if r.Version != ProtocolVersion {
		return nil, fmt.Errorf("%w: %d", ErrVersion, r.Version)
	}
	return &r, nil
}
