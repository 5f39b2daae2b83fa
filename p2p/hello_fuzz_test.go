package p2p

import (
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"
)

// FuzzDecodeHello feeds arbitrary frames to the hello decoder: it never
// panics, a frame it refuses is a mismatch (the peer is disconnected), and
// one it accepts is checked against ours exactly like a real peer's, and
// re-encodes to the same bytes (canonical RLP only).
func FuzzDecodeHello(f *testing.F) {
	mine := hello{Version: protocolVersion, ChainID: "fuzz", GenesisHash: common.Hash{1}, Height: 7}
	for _, h := range []hello{mine, {Version: protocolVersion + 1, ChainID: "fuzz"}, {}} {
		enc, err := rlp.EncodeToBytes(h)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
	}
	f.Add([]byte{0xc0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		theirs, err := decodeHello(frame)
		if err != nil {
			if !errors.Is(err, errHelloMismatch) {
				t.Fatalf("decode error %v is not a mismatch", err)
			}
			return
		}
		enc, err := rlp.EncodeToBytes(theirs)
		if err != nil || string(enc) != string(frame) {
			t.Fatalf("accepted a non-canonical hello %x (re-encodes to %x, %v)", frame, enc, err)
		}
		same := theirs.Version == mine.Version && theirs.ChainID == mine.ChainID && theirs.GenesisHash == mine.GenesisHash
		if err := mine.check(theirs); (err == nil) != same {
			t.Fatalf("check(%+v) = %v", theirs, err)
		}
	})
}
