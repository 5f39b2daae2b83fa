package p2p

import (
	"bufio"
	"context"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/libp2p/go-libp2p/core/network"
)

// hello is what two peers exchange on /bafomet/hello/1 when they meet, and
// again every Limits.StatusInterval to refresh the status.
type hello struct {
	Version     uint
	ChainID     string
	GenesisHash common.Hash
	Height      uint64
}

// errHelloMismatch marks a hello from a peer of another network.
var errHelloMismatch = errors.New("hello mismatch")

func (h *Host) myHello() hello {
	return hello{Version: protocolVersion, ChainID: h.cfg.ChainID, GenesisHash: h.cfg.GenesisHash, Height: h.height.Load()}
}

// check reports why a remote hello is incompatible with ours, or nil.
func (mine hello) check(theirs hello) error {
	switch {
	case theirs.Version != mine.Version:
		return fmt.Errorf("%w: protocol version %d, want %d", errHelloMismatch, theirs.Version, mine.Version)
	case theirs.ChainID != mine.ChainID:
		return fmt.Errorf("%w: chain id %q, want %q", errHelloMismatch, theirs.ChainID, mine.ChainID)
	case theirs.GenesisHash != mine.GenesisHash:
		return fmt.Errorf("%w: genesis hash %s, want %s", errHelloMismatch, theirs.GenesisHash, mine.GenesisHash)
	}
	return nil
}

func (h *Host) writeHello(s network.Stream) error {
	enc, err := rlp.EncodeToBytes(h.myHello())
	if err != nil {
		return fmt.Errorf("encoding hello: %w", err)
	}
	return WriteFrame(s, enc, h.lim.HelloFrameMax)
}

// readHello reads and checks the remote's hello.
func (h *Host) readHello(s network.Stream) (hello, error) {
	frame, err := ReadFrame(bufio.NewReaderSize(s, 64), h.lim.HelloFrameMax)
	if err != nil {
		return hello{}, fmt.Errorf("reading hello: %w", err)
	}
	theirs, err := decodeHello(frame)
	if err != nil {
		return hello{}, err
	}
	return theirs, h.myHello().check(theirs)
}

// decodeHello decodes a hello frame; anything else is a mismatch.
func decodeHello(frame []byte) (hello, error) {
	var theirs hello
	if err := rlp.DecodeBytes(frame, &theirs); err != nil {
		return hello{}, fmt.Errorf("%w: undecodable hello: %v", errHelloMismatch, err)
	}
	return theirs, nil
}

// sayHello runs the initiator's side of the hello with p: send ours, read
// and check theirs. A mismatch disconnects p.
func (h *Host) sayHello(ctx context.Context, p *peerState) error {
	ctx, cancel := context.WithTimeout(ctx, h.lim.HelloTimeout)
	defer cancel()
	s, err := h.host.NewStream(network.WithNoDial(ctx, "bafomet hello"), p.id, HelloID)
	if err != nil {
		return fmt.Errorf("opening hello stream: %w", err)
	}
	defer func() { _ = s.Close() }()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	if err := h.writeHello(s); err != nil {
		_ = s.Reset()
		return fmt.Errorf("sending hello: %w", err)
	}
	theirs, err := h.readHello(s)
	if err != nil {
		_ = s.Reset()
		h.helloFailed(p, err)
		return err
	}
	if !h.verified(p, theirs.Height) {
		_ = s.Reset()
		return errPeerBanned
	}
	return nil
}

// handleHello is the responder's side: read and check theirs, then answer.
// The peer is marked verified before the answer leaves, so by the time the
// initiator has our hello it may open streams that we will admit.
func (h *Host) handleHello(s network.Stream) {
	if !h.track() {
		_ = s.Reset()
		return
	}
	defer h.wg.Done()
	p := h.byID[s.Conn().RemotePeer()]
	if p == nil {
		_ = s.Reset()
		return
	}
	_ = s.SetDeadline(now().Add(h.lim.HelloTimeout))
	theirs, err := h.readHello(s)
	if err != nil {
		_ = s.Reset()
		h.helloFailed(p, err)
		return
	}
	if !h.verified(p, theirs.Height) {
		_ = s.Reset()
		return
	}
	if err := h.writeHello(s); err != nil {
		_ = s.Reset()
		return
	}
	_ = s.Close()
}

// errPeerBanned is a hello that passed from a peer banned meanwhile.
var errPeerBanned = errors.New("peer banned")

// verified records a passed hello and logs a peer that just came up. A
// peer banned before or while its hello ran stays down: it reports false.
func (h *Host) verified(p *peerState, height uint64) bool {
	if p.bannedFor(now()) > 0 {
		return false
	}
	fresh := p.setVerified(height, now())
	if p.bannedFor(now()) > 0 { // Ban ran between the check and setVerified
		p.setDown()
		return false
	}
	if fresh {
		h.log.Info("p2p: peer connected", "peer", p.index, "id", p.id, "height", height)
	}
	return true
}

// helloFailed logs a failed hello; a mismatch or a malformed hello also
// costs the peer its connection.
func (h *Host) helloFailed(p *peerState, err error) {
	if !errors.Is(err, errHelloMismatch) && !IsMisbehaviour(err) {
		h.log.Debug("p2p: hello failed", "peer", p.index, "id", p.id, "err", err)
		return
	}
	h.ctr.helloRejected.Add(1)
	h.log.Warn("p2p: peer rejected at hello; disconnecting", "peer", p.index, "id", p.id, "reason", err)
	p.setDown()
	if cerr := h.host.Network().ClosePeer(p.id); cerr != nil {
		h.log.Debug("p2p: closing rejected peer", "peer", p.index, "err", cerr)
	}
}
