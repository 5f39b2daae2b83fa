package p2p

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestSyncRequest(t *testing.T) {
	lim := testLimits()
	lim.SyncRequestMax = 16
	lim.SyncResponseMax = 32
	c := newCluster(t, 2, lim)
	c.waitMesh(t)
	c.hosts[0].SetRequestHandler(func(_ context.Context, from int, req []byte) ([]byte, error) {
		switch string(req) {
		case "fail":
			return nil, errors.New("no such block")
		case "big":
			return make([]byte, 33), nil
		case "full":
			return bytes.Repeat([]byte{'f'}, 32), nil
		case "empty":
			return nil, nil
		}
		return []byte(fmt.Sprintf("%d:%s", from, req)), nil
	})
	tests := []struct {
		name    string
		to      int
		req     []byte
		want    []byte
		wantErr string
		is      error
	}{
		{"echo", 0, []byte("hi"), []byte("1:hi"), "", nil},
		{"request at limit", 0, bytes.Repeat([]byte{'r'}, 16), []byte("1:" + strings.Repeat("r", 16)), "", nil},
		{"request above limit", 0, bytes.Repeat([]byte{'r'}, 17), nil, "", ErrFrameTooLarge},
		{"response at limit", 0, []byte("full"), bytes.Repeat([]byte{'f'}, 32), "", nil},
		{"empty response", 0, []byte("empty"), []byte{}, "", nil},
		{"response above limit", 0, []byte("big"), nil, "p2p: peer answered: response of 33 bytes exceeds lim", nil},
		{"handler error", 0, []byte("fail"), nil, "p2p: peer answered: no such block", nil},
		{"unknown peer", 7, []byte("hi"), nil, "", ErrUnknownPeer},
		{"self", 1, []byte("hi"), nil, "", ErrUnknownPeer},
		{"empty request", 0, nil, nil, "", ErrFrameMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.hosts[1].Request(context.Background(), tt.to, tt.req)
			switch {
			case tt.is != nil:
				if !errors.Is(err, tt.is) {
					t.Fatalf("err = %v, want %v", err, tt.is)
				}
			case tt.wantErr != "":
				var re *RemoteError
				if !errors.As(err, &re) || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want RemoteError %q", err, tt.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case !bytes.Equal(got, tt.want):
				t.Fatalf("response %q, want %q", got, tt.want)
			}
		})
	}
	_, err := c.hosts[0].Request(context.Background(), 1, []byte("x"))
	if err == nil || err.Error() != "p2p: peer answered: no request handler" {
		t.Fatalf("request to a peer without handler: %v", err)
	}
}

// TestSyncServeLimit: with SyncServeMax = 1, a second concurrent request is
// refused at once instead of queueing.
func TestSyncServeLimit(t *testing.T) {
	lim := testLimits()
	lim.SyncServeMax = 1
	c := newCluster(t, 2, lim)
	c.waitMesh(t)
	entered, release := make(chan struct{}), make(chan struct{})
	c.hosts[0].SetRequestHandler(func(_ context.Context, _ int, req []byte) ([]byte, error) {
		if string(req) == "slow" {
			close(entered)
			<-release
		}
		return req, nil
	})
	done := make(chan error, 1)
	go func() {
		_, err := c.hosts[1].Request(context.Background(), 0, []byte("slow"))
		done <- err
	}()
	<-entered
	if _, err := c.hosts[1].Request(context.Background(), 0, []byte("second")); err == nil {
		t.Fatal("second concurrent request was served")
	}
	if got := c.hosts[0].Metrics().Sync.Refused; got != 1 {
		t.Fatalf("Sync.Refused = %d, want 1", got)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("first request: %v", err)
	}
	if got, err := c.hosts[1].Request(context.Background(), 0, []byte("third")); err != nil || string(got) != "third" {
		t.Fatalf("request after the slot freed: %q, %v", got, err)
	}
}

// TestSyncTimeout: a request whose answer takes longer than SyncTimeout
// fails with the deadline, and the server's handler sees its ctx end.
func TestSyncTimeout(t *testing.T) {
	lim := testLimits()
	lim.SyncTimeout = 200 * time.Millisecond
	c := newCluster(t, 2, lim)
	c.waitMesh(t)
	handlerErr := make(chan error, 1)
	c.hosts[0].SetRequestHandler(func(ctx context.Context, _ int, _ []byte) ([]byte, error) {
		<-ctx.Done()
		handlerErr <- ctx.Err()
		return nil, ctx.Err()
	})
	_, err := c.hosts[1].Request(context.Background(), 0, []byte("q"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if got := <-handlerErr; !errors.Is(got, context.DeadlineExceeded) {
		t.Fatalf("handler ctx ended with %v", got)
	}
}

// TestSyncBadResponse: a serving peer that answers with an oversized frame
// or a bad status byte makes Request fail; nothing beyond the limit is read.
func TestSyncBadResponse(t *testing.T) {
	tests := []struct {
		name   string
		answer []byte
		is     error
	}{
		{"oversized", []byte{0x80, 0x80, 0x80, 0x80, 0x08}, ErrFrameTooLarge}, // 2^31 announced
		{"bad status", []byte{0x02, 0x07, 'x'}, ErrFrameMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &cluster{keys: genKeys(t, 2)}
			h := c.startHost(t, 0, localListen, testLimits(), nil)
			mal := rawHost(t, c.keys[1])
			mal.SetStreamHandler(HelloID, answerHello)
			mal.SetStreamHandler(SyncID, func(s network.Stream) {
				_, _ = ReadFrame(bufio.NewReader(s), DefaultSyncRequestMax)
				_, _ = s.Write(tt.answer)
				_ = s.Close()
			})
			rawHello(t, mal, h, testChainID)
			waitFor(t, "peer verified", func() bool { return connectedTo(h, 1) })
			_, err := h.Request(context.Background(), 1, []byte("q"))
			if !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
			if got := h.Metrics().Sync.Malformed; got != 1 {
				t.Fatalf("Sync.Malformed = %d, want 1", got)
			}
		})
	}
}

// TestFollower: an allow-listed follower may request blocks and gossip
// transactions (it is seen as index -1) but cannot open consensus streams.
func TestFollower(t *testing.T) {
	c := &cluster{keys: genKeys(t, 2)}
	fkey := genKeys(t, 1)[0]
	fid, err := PeerIDFromKey(fkey)
	if err != nil {
		t.Fatal(err)
	}
	h := c.startHost(t, 0, localListen, testLimits(), func(cfg *Config) { cfg.Followers = []peer.ID{fid} })
	h.SetRequestHandler(func(_ context.Context, from int, req []byte) ([]byte, error) {
		return []byte(fmt.Sprintf("%d:%s", from, req)), nil
	})
	f := rawHost(t, fkey)
	rawHello(t, f, h, testChainID)
	s := rawStream(t, f, h, ProtoSync)
	if err := WriteFrame(s, []byte("blocks"), DefaultSyncRequestMax); err != nil {
		t.Fatal(err)
	}
	_ = s.CloseWrite()
	resp, err := ReadFrame(bufio.NewReader(s), 64)
	if err != nil || string(resp) != "\x00-1:blocks" {
		t.Fatalf("follower sync answer %q, %v", resp, err)
	}
	tx := rawStream(t, f, h, ProtoTx)
	if err := WriteFrame(tx, []byte("tx"), DefaultTxFrameMax); err != nil {
		t.Fatal(err)
	}
	if in := recv(t, h); in.From != -1 || in.Peer != fid || in.Proto != ProtoTx || string(in.Data) != "tx" {
		t.Fatalf("follower tx delivered as %+v", in)
	}
	cs := rawStream(t, f, h, ProtoConsensus)
	_ = WriteFrame(cs, []byte("vote"), DefaultConsensusFrameMax)
	waitFor(t, "consensus refusal", func() bool { return h.Metrics().Consensus.Refused == 1 })
	if peers := h.Peers(); len(peers) != 2 || peers[1].Index != -1 || peers[1].Validator || !peers[1].Connected {
		t.Fatalf("peers %+v", peers)
	}
}

// TestOversizedSyncRequestDisconnects: a requester that sends more than
// SyncRequestMax is disconnected by the server.
func TestOversizedSyncRequestDisconnects(t *testing.T) {
	lim := testLimits()
	lim.SyncRequestMax = 8
	c := &cluster{keys: genKeys(t, 2)}
	h := c.startHost(t, 0, localListen, lim, nil)
	h.SetRequestHandler(func(context.Context, int, []byte) ([]byte, error) { return []byte("x"), nil })
	mal := rawHost(t, c.keys[1])
	mal.SetStreamHandler(HelloID, answerHello)
	rawHello(t, mal, h, testChainID)
	s := rawStream(t, mal, h, ProtoSync)
	if err := WriteFrame(s, make([]byte, 9), 9); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "disconnect", func() bool {
		return h.Metrics().Sync.Malformed == 1 && len(h.host.Network().ConnsToPeer(mal.ID())) == 0
	})
}
