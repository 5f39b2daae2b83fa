package p2p

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// TestReconnectAfterRestart: validator 0 stops and comes back on the same
// port with the same key; validator 1 redials it and traffic resumes both
// ways.
func TestReconnectAfterRestart(t *testing.T) {
	c := newCluster(t, 2, testLimits())
	c.waitMesh(t)
	exchange(t, c.hosts[1], c.hosts[0], "before")
	listen := c.addrs[0][0][:len(c.addrs[0][0])-len("/p2p/"+c.hosts[0].PeerID().String())]
	if err := c.hosts[0].Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "peer seen down", func() bool { return !connectedTo(c.hosts[1], 0) })
	time.Sleep(200 * time.Millisecond) // let validator 1 fail a few redials
	c.hosts[0] = c.startHost(t, 0, listen, testLimits(), nil)
	c.waitMesh(t)
	exchange(t, c.hosts[1], c.hosts[0], "after")
	exchange(t, c.hosts[0], c.hosts[1], "after")
	if c.hosts[1].Metrics().DialFailures == 0 {
		t.Fatal("no failed redial was counted while the peer was down")
	}
}

// exchange sends from a to b until one frame arrives (frames queued on a
// stream that died with the old connection may be lost).
func exchange(t *testing.T, a, b *Host, text string) {
	t.Helper()
	deadline := time.Now().Add(eventually)
	for time.Now().Before(deadline) {
		a.Send(b.Self(), ProtoConsensus, []byte(text))
		select {
		case in := <-b.Inbound():
			if in.From != a.Self() || string(in.Data) != text {
				t.Fatalf("got %q from %d, want %q from %d", in.Data, in.From, text, a.Self())
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("no frame %q from %d to %d", text, a.Self(), b.Self())
}

func TestCloseIsCleanAndIdempotent(t *testing.T) {
	c := newCluster(t, 2, testLimits())
	c.waitMesh(t)
	h := c.hosts[0]
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, open := <-h.Inbound(); open {
		t.Fatal("Inbound still open after Close")
	}
	if _, open := <-h.TxInbound(); open {
		t.Fatal("TxInbound still open after Close")
	}
	if h.Send(1, ProtoConsensus, []byte{1}) {
		t.Fatal("Send accepted after Close")
	}
	if err := h.Start(context.Background()); err == nil {
		t.Fatal("Start after Close succeeded")
	}
	if _, err := h.Request(context.Background(), 1, []byte{1}); err == nil {
		t.Fatal("Request after Close succeeded")
	}
}

func TestStartTwice(t *testing.T) {
	c := newCluster(t, 1, testLimits())
	if err := c.hosts[0].Start(context.Background()); err == nil {
		t.Fatal("second Start succeeded")
	}
}

// TestNoGoroutineLeak: a busy cluster leaves no goroutine behind once every
// host is closed.
func TestNoGoroutineLeak(t *testing.T) {
	warm := newCluster(t, 2, testLimits()) // start libp2p's process-wide goroutines
	warm.waitMesh(t)
	for _, h := range warm.hosts {
		_ = h.Close()
	}
	settle := func(limit int) int {
		n := runtime.NumGoroutine()
		for deadline := time.Now().Add(5 * time.Second); n > limit && time.Now().Before(deadline); n = runtime.NumGoroutine() {
			time.Sleep(pollInterval)
		}
		return n
	}
	before := stableGoroutines()
	c := newCluster(t, 4, testLimits())
	c.waitMesh(t)
	for _, h := range c.hosts {
		h.SetRequestHandler(func(context.Context, int, []byte) ([]byte, error) { return []byte("ok"), nil })
	}
	for i, h := range c.hosts {
		h.Broadcast(ProtoConsensus, []byte{byte(i)})
		if _, err := h.Request(context.Background(), (i+1)%4, []byte("q")); err != nil {
			t.Fatal(err)
		}
	}
	if running := runtime.NumGoroutine(); running <= before {
		t.Fatalf("%d goroutines with four hosts running, %d before: the check below could not fail", running, before)
	}
	for _, h := range c.hosts {
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if after := settle(before); after > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after Close, %d before\n%s", after, before, buf[:runtime.Stack(buf, true)])
	}
}

// stableGoroutines waits until the goroutine count has not changed for a
// while (libp2p winds down some goroutines asynchronously) and returns it.
func stableGoroutines() int {
	n := runtime.NumGoroutine()
	for stable := 0; stable < 10; {
		time.Sleep(pollInterval)
		if m := runtime.NumGoroutine(); m == n {
			stable++
		} else {
			n, stable = m, 0
		}
	}
	return n
}

func TestBackoff(t *testing.T) {
	tests := []struct{ d, limit, want time.Duration }{
		{100 * time.Millisecond, 30 * time.Second, 200 * time.Millisecond},
		{15 * time.Second, 30 * time.Second, 30 * time.Second},
		{20 * time.Second, 30 * time.Second, 30 * time.Second},
		{30 * time.Second, 30 * time.Second, 30 * time.Second},
	}
	for _, tt := range tests {
		if got := nextBackoff(tt.d, tt.limit); got != tt.want {
			t.Errorf("nextBackoff(%v, %v) = %v, want %v", tt.d, tt.limit, got, tt.want)
		}
	}
	// The jitter spans exactly d-d/5 .. d+d/5.
	lo := jitter(time.Second, func(int64) int64 { return 0 })
	hi := jitter(time.Second, func(n int64) int64 { return n - 1 })
	if lo != 800*time.Millisecond || hi != 1200*time.Millisecond {
		t.Fatalf("jitter range %v..%v, want 800ms..1.2s", lo, hi)
	}
	if got := jitter(3, func(int64) int64 { return 0 }); got != 3 {
		t.Fatalf("jitter of 3ns = %v, want 3ns", got)
	}
}

// TestPeerStatusCounts: Peers reports bytes both ways and a last-seen time.
func TestPeerStatusCounts(t *testing.T) {
	c := newCluster(t, 2, testLimits())
	c.waitMesh(t)
	start := time.Now()
	c.hosts[0].Send(1, ProtoTx, []byte("12345"))
	if in := recv(t, c.hosts[1]); string(in.Data) != "12345" {
		t.Fatalf("got %q", in.Data)
	}
	c.hosts[1].Send(0, ProtoTx, []byte("123"))
	if in := recv(t, c.hosts[0]); string(in.Data) != "123" {
		t.Fatalf("got %q", in.Data)
	}
	p0, p1 := c.hosts[0].Peers()[0], c.hosts[1].Peers()[0]
	if p0.Index != 1 || p0.ID != c.hosts[1].PeerID() || !p0.Validator || !p0.Connected {
		t.Fatalf("host 0 sees %+v", p0)
	}
	if p0.BytesOut != 5 || p0.BytesIn != 3 || p1.BytesOut != 3 || p1.BytesIn != 5 {
		t.Fatalf("bytes: host0 out %d in %d, host1 out %d in %d; want 5 3 3 5", p0.BytesOut, p0.BytesIn, p1.BytesOut, p1.BytesIn)
	}
	if p0.LastSeen.Before(start) || p1.LastSeen.Before(start) {
		t.Fatalf("last seen %v / %v before the exchange at %v", p0.LastSeen, p1.LastSeen, start)
	}
}

// TestReconnectAfterDrop: when the connection drops under both peers they
// reconnect by themselves and traffic resumes.
func TestReconnectAfterDrop(t *testing.T) {
	c := newCluster(t, 3, testLimits())
	c.waitMesh(t)
	net2, id0 := c.hosts[2].host.Network(), c.hosts[0].PeerID()
	old := map[string]bool{}
	for _, conn := range net2.ConnsToPeer(id0) {
		old[conn.ID()] = true
	}
	if err := net2.ClosePeer(id0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new connection", func() bool {
		conns := net2.ConnsToPeer(id0)
		return len(conns) > 0 && !old[conns[0].ID()] && connectedTo(c.hosts[2], 0) && connectedTo(c.hosts[0], 2)
	})
	exchange(t, c.hosts[0], c.hosts[2], "again")
	exchange(t, c.hosts[2], c.hosts[0], "again")
}
