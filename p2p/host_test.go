package p2p

import (
	"bytes"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

// TestMeshAndTraffic: four validators form a full mesh, and consensus and tx
// frames flow in both directions of every pair.
func TestMeshAndTraffic(t *testing.T) {
	c := newCluster(t, 4, testLimits())
	c.waitMesh(t)
	for i, h := range c.hosts {
		for j := range c.hosts {
			if i != j && !h.Send(j, ProtoConsensus, []byte(fmt.Sprintf("c %d->%d", i, j))) {
				t.Fatalf("Send %d->%d refused", i, j)
			}
		}
		if n := h.Broadcast(ProtoTx, []byte(fmt.Sprintf("tx from %d", i))); n != 3 {
			t.Fatalf("Broadcast from %d queued for %d peers, want 3", i, n)
		}
	}
	for j, h := range c.hosts {
		var got []string
		for range 6 {
			in := recv(t, h)
			if want := c.hosts[in.From].PeerID(); in.Peer != want {
				t.Fatalf("frame from index %d has peer %s, want %s", in.From, in.Peer, want)
			}
			got = append(got, fmt.Sprintf("%s|%s", in.Proto, in.Data))
		}
		sort.Strings(got)
		var want []string
		for i := range c.hosts {
			if i != j {
				want = append(want, fmt.Sprintf("consensus|c %d->%d", i, j), fmt.Sprintf("tx|tx from %d", i))
			}
		}
		sort.Strings(want)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("host %d received %v, want %v", j, got, want)
		}
		// Outbound frames are counted once their asynchronous write is done,
		// which may come after this host has read all of its own.
		waitFor(t, "outbound counters", func() bool {
			m := h.Metrics()
			return m.Consensus.MsgsOut == 3 && m.Tx.MsgsOut == 3
		})
		m := h.Metrics()
		if m.Consensus.MsgsIn != 3 || m.Tx.MsgsIn != 3 || m.Consensus.MsgsOut != 3 || m.Tx.MsgsOut != 3 || m.PeersConnected != 3 {
			t.Fatalf("host %d metrics %+v", j, m)
		}
		if want := uint64(len("c 0->1") * 3); m.Consensus.BytesIn != want {
			t.Fatalf("host %d consensus bytes in = %d, want %d", j, m.Consensus.BytesIn, want)
		}
	}
}

func TestSendRefusals(t *testing.T) {
	lim := testLimits()
	lim.ConsensusFrameMax = 8
	lim.TxFrameMax = 4
	c := newCluster(t, 2, lim)
	h := c.hosts[0]
	tests := []struct {
		name  string
		to    int
		proto Protocol
		frame []byte
		want  bool
	}{
		{"consensus at limit", 1, ProtoConsensus, make([]byte, 8), true},
		{"consensus above limit", 1, ProtoConsensus, make([]byte, 9), false},
		{"tx at limit", 1, ProtoTx, make([]byte, 4), true},
		{"tx above limit", 1, ProtoTx, make([]byte, 5), false},
		{"empty", 1, ProtoConsensus, nil, false},
		{"self", 0, ProtoConsensus, []byte{1}, false},
		{"unknown index", 9, ProtoConsensus, []byte{1}, false},
		{"sync is not streamed", 1, ProtoSync, []byte{1}, false},
	}
	for _, tt := range tests {
		if got := h.Send(tt.to, tt.proto, tt.frame); got != tt.want {
			t.Errorf("%s: Send = %v, want %v", tt.name, got, tt.want)
		}
	}
	m := h.Metrics()
	if m.Consensus.DroppedOut != 4 || m.Tx.DroppedOut != 1 {
		t.Fatalf("dropped out: consensus %d (want 4), tx %d (want 1)", m.Consensus.DroppedOut, m.Tx.DroppedOut)
	}
	got := map[Protocol][]byte{}
	for range 2 {
		in := recv(t, c.hosts[1])
		got[in.Proto] = in.Data
	}
	if !bytes.Equal(got[ProtoConsensus], make([]byte, 8)) || !bytes.Equal(got[ProtoTx], make([]byte, 4)) {
		t.Fatalf("delivered frames %v", got)
	}
}

// TestInboundFullDropsNewest: with room for two frames in the peer's
// queue (and one in the merge's hand), the first two frames of five and at
// most one later one are kept, in order, and the rest are counted as
// dropped, for the protocol and for the peer.
func TestInboundFullDropsNewest(t *testing.T) {
	lim := testLimits()
	lim.ConsensusInboundPerPeer = 2
	c := newCluster(t, 2, lim)
	c.waitMesh(t)
	for i := range 5 {
		if !c.hosts[0].Send(1, ProtoConsensus, []byte{byte(i + 1)}) {
			t.Fatalf("Send %d refused", i)
		}
	}
	waitFor(t, "five frames read", func() bool { return c.hosts[1].Metrics().Consensus.MsgsIn == 5 })
	dropped := c.hosts[1].Metrics().Consensus.DroppedIn
	kept := 5 - int(dropped)
	if kept < lim.ConsensusInboundPerPeer || kept > lim.ConsensusInboundPerPeer+1 {
		t.Fatalf("kept %d frames, dropped %d; want the queue's %d plus at most one in the merge", kept, dropped, lim.ConsensusInboundPerPeer)
	}
	// Frames 1 and 2 are kept; a third (the one the merge took out, making
	// room) is a later one; the order is kept.
	last := byte(0)
	for i := range kept {
		in := recv(t, c.hosts[1])
		if in.Data[0] <= last || (i < 2 && in.Data[0] != byte(i+1)) {
			t.Fatalf("frame %d read is %d, after %d", i, in.Data[0], last)
		}
		last = in.Data[0]
	}
	if st := c.hosts[1].Peers()[0]; st.DroppedIn != dropped {
		t.Fatalf("peer 0 DroppedIn = %d, want %d", st.DroppedIn, dropped)
	}
}

// TestInboundFairShare: validator 2 floods validator 0 with consensus
// frames while nothing reads them; a frame validator 1 sends afterwards
// is still delivered, within the first two frames read, and only
// validator 2's frames are dropped.
func TestInboundFairShare(t *testing.T) {
	const queue, flood = 8, 200
	lim := testLimits()
	lim.InboundQueueLen = queue
	lim.ConsensusInboundPerPeer = queue
	c := newCluster(t, 3, lim)
	c.waitMesh(t)
	sent := 0
	for sent < flood {
		if c.hosts[2].Send(0, ProtoConsensus, []byte{2, byte(sent)}) {
			sent++
		} else {
			time.Sleep(time.Millisecond) // the sender's own queue is full
		}
	}
	waitFor(t, "the flood read", func() bool { return c.hosts[0].Metrics().Consensus.MsgsIn == flood })
	if !c.hosts[1].Send(0, ProtoConsensus, []byte{1}) {
		t.Fatal("Send from validator 1 refused")
	}
	waitFor(t, "validator 1's frame read", func() bool { return c.hosts[0].Metrics().Consensus.MsgsIn == flood+1 })
	got := []int{recv(t, c.hosts[0]).From, recv(t, c.hosts[0]).From}
	if got[0] != 1 && got[1] != 1 {
		t.Fatalf("first two frames read came from %v; validator 1's frame waited behind the flood", got)
	}
	for _, st := range c.hosts[0].Peers() {
		switch {
		case st.Index == 1 && st.DroppedIn != 0:
			t.Fatalf("validator 1 had %d frames dropped", st.DroppedIn)
		case st.Index == 2 && st.DroppedIn < flood-queue-1:
			t.Fatalf("validator 2 had %d frames dropped, want at least %d", st.DroppedIn, flood-queue-1)
		}
	}
}

// TestBanRefusesPeer: a banned validator is disconnected, cannot come back
// (its dials are refused and it is not dialled) and its frames do not
// arrive until the ban ends; then it reconnects by itself. Meanwhile it
// redials at its backoff pace. A second ban while one is in force extends
// it and is not counted again.
func TestBanRefusesPeer(t *testing.T) {
	const ban = 1500 * time.Millisecond
	c := newCluster(t, 2, testLimits())
	c.waitMesh(t)
	start := time.Now()
	if !c.hosts[0].Ban(1, ban, "test") || !c.hosts[0].Ban(1, ban/2, "test again") {
		t.Fatal("Ban refused a validator")
	}
	if c.hosts[0].Ban(0, ban, "self") || c.hosts[0].Ban(7, ban, "unknown") || c.hosts[0].Ban(1, 0, "zero") {
		t.Fatal("Ban accepted self, an unknown index or a zero duration")
	}
	if got := c.hosts[0].Metrics().Bans; got != 1 {
		t.Fatalf("Bans = %d, want 1", got)
	}
	waitFor(t, "validator 1 disconnected on both sides", func() bool {
		return !connectedTo(c.hosts[0], 1) && !connectedTo(c.hosts[1], 0)
	})
	for time.Since(start) < ban*2/3 {
		c.hosts[1].Send(0, ProtoConsensus, []byte{9})
		if connectedTo(c.hosts[0], 1) {
			t.Fatalf("banned validator connected again after %v", time.Since(start))
		}
		select {
		case in := <-c.hosts[0].Inbound():
			t.Fatalf("frame from banned validator %d arrived", in.From)
		case <-time.After(50 * time.Millisecond):
		}
	}
	// The banned side redials at its backoff pace (20 ms doubling to
	// 300 ms here), not each time its refused connection closes.
	if got := c.hosts[0].Metrics().GaterRefused; got > 20 {
		t.Fatalf("banned validator's connections refused %d times in %v; it redials in a loop", got, time.Since(start))
	}
	if st := c.hosts[0].Peers()[0]; st.BannedUntil.Before(start.Add(ban)) {
		t.Fatalf("BannedUntil %v, want at least %v", st.BannedUntil, start.Add(ban))
	}
	waitFor(t, "validator 1 back after the ban", func() bool { return connectedTo(c.hosts[0], 1) && connectedTo(c.hosts[1], 0) })
	if time.Since(start) < ban {
		t.Fatalf("reconnected after %v, before the %v ban ended", time.Since(start), ban)
	}
	waitFor(t, "a frame from validator 1", func() bool {
		c.hosts[1].Send(0, ProtoConsensus, []byte{10})
		select {
		case in := <-c.hosts[0].Inbound():
			return in.From == 1
		case <-time.After(50 * time.Millisecond):
			return false
		}
	})
}

// TestTxInboundBackPressure: with room for two frames, ten transaction
// frames all arrive, in order, none dropped — the reader waits for room —
// and a consensus frame sent behind them is not held up.
func TestTxInboundBackPressure(t *testing.T) {
	lim := testLimits()
	lim.InboundQueueLen = 2
	c := newCluster(t, 2, lim)
	c.waitMesh(t)
	for i := range 10 {
		if !c.hosts[0].Send(1, ProtoTx, []byte{byte(i + 1)}) {
			t.Fatalf("Send %d refused", i)
		}
	}
	waitFor(t, "two tx frames queued", func() bool { return len(c.hosts[1].TxInbound()) == 2 })
	if !c.hosts[0].Send(1, ProtoConsensus, []byte{42}) {
		t.Fatal("consensus Send refused")
	}
	select {
	case in := <-c.hosts[1].Inbound():
		if in.Proto != ProtoConsensus || in.Data[0] != 42 {
			t.Fatalf("got %+v", in)
		}
	case <-time.After(eventually):
		t.Fatal("consensus frame held up behind transaction frames")
	}
	for want := byte(1); want <= 10; want++ {
		select {
		case in := <-c.hosts[1].TxInbound():
			if in.Data[0] != want {
				t.Fatalf("got tx frame %d, want %d", in.Data[0], want)
			}
		case <-time.After(eventually):
			t.Fatalf("tx frame %d never arrived", want)
		}
	}
	if got := c.hosts[1].Metrics().Tx.DroppedIn; got != 0 {
		t.Fatalf("Tx.DroppedIn = %d, want 0", got)
	}
}

// TestSlowPeerDoesNotBlockOthers: validator 2 accepts our consensus stream
// but never reads it. Its queue fills and Send to it starts failing, while
// every frame to validator 1 still arrives.
func TestSlowPeerDoesNotBlockOthers(t *testing.T) {
	lim := testLimits()
	lim.SendQueueLen = 4
	lim.ConsensusFrameMax = 64 << 10
	lim.WriteTimeout = 20 * time.Second // the stalled write must stay stalled for the test
	c := &cluster{keys: genKeys(t, 3)}
	c.hosts = append(c.hosts, c.startHost(t, 0, localListen, lim, nil))
	c.addrs = append(c.addrs, tcpAddrs(c.hosts[0]))
	c.hosts = append(c.hosts, c.startHost(t, 1, localListen, lim, nil))
	sink := rawHost(t, c.keys[2])
	sinkStreams := make(chan struct{}, 16)
	sink.SetStreamHandler(ConsensusID, func(s network.Stream) { sinkStreams <- struct{}{} }) // never reads
	sink.SetStreamHandler(HelloID, answerHello)
	rawHello(t, sink, c.hosts[0], testChainID)
	waitFor(t, "mesh with sink", func() bool { return connectedTo(c.hosts[0], 1) && connectedTo(c.hosts[0], 2) })

	frame := make([]byte, 64<<10)
	sentToSink, refused := 0, 0
	for i := 0; i < 2000 && refused == 0; i++ {
		if c.hosts[0].Send(2, ProtoConsensus, frame) {
			sentToSink++
		} else {
			refused++
		}
		// The healthy peer is served while the sink's writer is stuck.
		if !c.hosts[0].Send(1, ProtoConsensus, []byte{byte(i)}) {
			t.Fatalf("Send to healthy peer refused at frame %d", i)
		}
		if in := recv(t, c.hosts[1]); in.From != 0 || in.Data[0] != byte(i) {
			t.Fatalf("healthy peer got frame %d from %d, want %d from 0", in.Data[0], in.From, byte(i))
		}
	}
	if refused == 0 {
		t.Fatalf("%d frames queued for a peer that never reads; want the queue to fill", sentToSink)
	}
	waitFor(t, "sink stream", func() bool { return len(sinkStreams) > 0 })
	if len(sinkStreams) != 1 {
		t.Fatalf("sink saw %d consensus streams, want 1", len(sinkStreams))
	}
	if got := c.hosts[0].Metrics().Consensus.DroppedOut; got != 1 {
		t.Fatalf("DroppedOut = %d, want 1", got)
	}
}

// TestHelloOfBannedPeerKeepsItDown: a hello that completes for a peer
// banned before or while it ran does not mark the peer connected again.
func TestHelloOfBannedPeerKeepsItDown(t *testing.T) {
	c := newCluster(t, 2, testLimits())
	c.waitMesh(t)
	h := c.hosts[0]
	if !h.Ban(1, time.Minute, "test") {
		t.Fatal("Ban refused a validator")
	}
	if h.verified(h.byIdx[1], 7) {
		t.Fatal("a hello from a banned peer was accepted")
	}
	if connectedTo(h, 1) {
		t.Fatal("banned peer marked connected by its hello")
	}
}
