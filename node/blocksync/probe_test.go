package blocksync

import (
	"context"
	"errors"
	"testing"
)

func TestProbe(t *testing.T) {
	c := getShared(t)
	net := honestNet(t, c, 0)
	liar := func(r *Response) func(context.Context, []byte) ([]byte, error) {
		return func(context.Context, []byte) ([]byte, error) { return encodeResponse(t, r), nil }
	}
	forged := *c.certs[99]
	forged.Height = 1 << 30
	net.set(1, liar(&Response{Version: ProtocolVersion, Height: 1 << 30, Latest: &forged}))
	net.set(2, liar(&Response{Version: ProtocolVersion, Height: 1 << 30}))
	net.set(3, liar(&Response{Version: ProtocolVersion, Height: 0}))
	v := NewVerifier(testChainID, c.vs, 0)
	got := Probe(context.Background(), net, v, []int{0, 1, 2, 3})
	if got[0].Err != nil || got[0].Height != sharedHeight || got[0].Peer != 0 {
		t.Fatalf("honest peer %+v", got[0])
	}
	for _, i := range []int{1, 2} {
		if !errors.Is(got[i].Err, ErrBadCertificate) || got[i].Height != 0 {
			t.Fatalf("lying peer %+v", got[i])
		}
	}
	if got[3].Err != nil || got[3].Height != 0 {
		t.Fatalf("peer at genesis %+v", got[3])
	}
	if h, n := MaxHeight(got); h != sharedHeight || n != 2 {
		t.Fatalf("max height %d from %d peers", h, n)
	}
}
