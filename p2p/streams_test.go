package p2p

import (
	"bytes"
	"encoding/binary"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
)

// byzantinePeer starts host 0 of a 3-validator cluster with lim and a raw
// validator 1 that has passed the hello; validator 2 is left for an honest
// raw peer.
func byzantinePeer(t *testing.T, lim Limits) (*cluster, *Host, host.Host) {
	t.Helper()
	c := &cluster{keys: genKeys(t, 3)}
	h := c.startHost(t, 0, localListen, lim, nil)
	mal := rawHost(t, c.keys[1])
	mal.SetStreamHandler(HelloID, answerHello)
	rawHello(t, mal, h, testChainID)
	return c, h, mal
}

// TestInboundStreamsPerPeerLimit: a peer may hold InboundStreamsPerPeer
// consensus and tx streams open at once, each delivering frames; one more
// is refused, and a slot freed by a closed stream can be used again.
func TestInboundStreamsPerPeerLimit(t *testing.T) {
	const limit = 4
	lim := testLimits()
	lim.InboundStreamsPerPeer = limit
	_, h, mal := byzantinePeer(t, lim)
	streams := make([]network.Stream, limit)
	for i := range streams {
		proto := ProtoConsensus
		if i%2 == 1 {
			proto = ProtoTx
		}
		streams[i] = rawStream(t, mal, h, proto)
		if err := WriteFrame(streams[i], []byte{byte(i)}, DefaultTxFrameMax); err != nil {
			t.Fatal(err)
		}
		if in := recv(t, h); in.From != 1 || !bytes.Equal(in.Data, []byte{byte(i)}) {
			t.Fatalf("stream %d at the limit: received %+v", i, in)
		}
	}
	if m := h.Metrics(); m.Consensus.Refused+m.Tx.Refused != 0 {
		t.Fatalf("refused at the limit: %+v %+v", m.Consensus, m.Tx)
	}

	past := rawStream(t, mal, h, ProtoConsensus)
	_ = WriteFrame(past, []byte("one past"), DefaultConsensusFrameMax)
	waitFor(t, "the stream past the limit refused", func() bool { return h.Metrics().Consensus.Refused == 1 })
	if _, err := io.ReadAll(past); !isClosedErr(err) {
		t.Fatalf("stream past the limit: read err %v, want a reset", err)
	}

	if err := streams[0].Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a slot freed", func() bool {
		s := rawStream(t, mal, h, ProtoConsensus)
		defer s.Close()
		if err := WriteFrame(s, []byte("again"), DefaultConsensusFrameMax); err != nil {
			return false
		}
		select {
		case in := <-h.Inbound():
			return string(in.Data) == "again"
		case <-time.After(200 * time.Millisecond):
			return false
		}
	})
	if m := h.Metrics(); m.Consensus.Malformed != 0 || len(h.host.Network().ConnsToPeer(mal.ID())) == 0 {
		t.Fatalf("a refused stream cost the peer its connection: %+v", m.Consensus)
	}
}

// TestTrickledFramesBoundedAndCut: a validator opens many consensus
// streams, announces a frame of the largest size on each and trickles its
// bytes. Only InboundStreamsPerPeer are read, each holding a buffer sized
// by what arrived; every one is reset at FrameReadTimeout, without counting
// as a malformed frame; an honest validator is served throughout, and the
// attacker's slots are free again afterwards.
func TestTrickledFramesBoundedAndCut(t *testing.T) {
	const streams = 40
	lim := testLimits()
	lim.FrameReadTimeout = time.Second
	c, h, mal := byzantinePeer(t, lim)
	lim = lim.withDefaults()

	honest := rawHost(t, c.keys[2])
	honest.SetStreamHandler(HelloID, answerHello)
	rawHello(t, honest, h, testChainID)
	hs := rawStream(t, honest, h, ProtoConsensus)

	var before, during runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var cut atomic.Int32
	stop := make(chan struct{})
	defer close(stop)
	for range streams {
		s := rawStream(t, mal, h, ProtoConsensus)
		prefix := binary.AppendUvarint(nil, uint64(lim.ConsensusFrameMax))
		if _, err := s.Write(append(prefix, make([]byte, 1000)...)); err != nil {
			t.Fatal(err)
		}
		go func() { // the host's reset ends the read
			_, _ = io.Copy(io.Discard, s)
			cut.Add(1)
		}()
		go func() { // one byte every 100 ms, well under any honest rate
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := s.Write([]byte{1}); err != nil {
						return
					}
				}
			}
		}()
	}
	waitFor(t, "streams past the limit refused", func() bool {
		return h.Metrics().Consensus.Refused == streams-uint64(lim.InboundStreamsPerPeer)
	})
	if err := WriteFrame(hs, []byte("honest"), lim.ConsensusFrameMax); err != nil {
		t.Fatal(err)
	}
	if in := recv(t, h); in.From != 2 || string(in.Data) != "honest" {
		t.Fatalf("honest peer during the attack: received %+v", in)
	}
	runtime.ReadMemStats(&during)
	// Before the fix each accepted stream allocated the announced 4 MiB
	// (and with no stream cap, all 40 did: 160 MiB).
	if grew := during.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
		t.Fatalf("%d trickling streams allocated %d bytes (frame limit %d, %d streams per peer)", streams, grew, lim.ConsensusFrameMax, lim.InboundStreamsPerPeer)
	}
	t.Logf("%d trickling streams announcing %d bytes: %d bytes allocated in the process", streams, lim.ConsensusFrameMax, during.TotalAlloc-before.TotalAlloc)

	waitFor(t, "every trickling stream cut", func() bool { return cut.Load() == streams })
	if m := h.Metrics(); m.Consensus.Malformed != 0 || m.Consensus.MsgsIn != 1 {
		t.Fatalf("after the deadline: %+v", m.Consensus)
	}
	s := rawStream(t, mal, h, ProtoConsensus)
	if err := WriteFrame(s, []byte("after"), lim.ConsensusFrameMax); err != nil {
		t.Fatal(err)
	}
	if in := recv(t, h); in.From != 1 || string(in.Data) != "after" {
		t.Fatalf("the peer's slots after the deadline: received %+v", in)
	}
	if err := WriteFrame(hs, []byte("still"), lim.ConsensusFrameMax); err != nil {
		t.Fatal(err)
	}
	if in := recv(t, h); in.From != 2 || string(in.Data) != "still" {
		t.Fatalf("honest peer after the attack: received %+v", in)
	}
}
