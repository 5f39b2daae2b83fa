package p2p

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

// readBufSize is the read-ahead buffer of an inbound frame stream.
const readBufSize = 4 << 10

// retainWriteBufBytes bounds the frame buffer a write loop keeps between
// frames; a larger one (a big block) is dropped after its write.
const retainWriteBufBytes = 256 << 10

// writeLoop owns the one outbound stream to p for proto. It takes frames
// from p's queue in order, waits while p is not connected, and writes each
// frame with a deadline, so a peer that stops reading only ever fills its
// own queue.
func (h *Host) writeLoop(p *peerState, proto Protocol) {
	var s network.Stream
	defer func() {
		if s != nil {
			_ = s.Close()
		}
	}()
	q := p.queues[proto]
	var buf []byte // reused for every frame: no garbage per message
	for {
		select {
		case <-h.ctx.Done():
			return
		case frame := <-q:
			var err error
			s, err = h.deliver(p, proto, s, frame, &buf)
			if err != nil {
				if h.ctx.Err() != nil {
					return
				}
				h.ctr.proto[proto].droppedOut.Add(1)
				h.log.Debug("p2p: frame dropped", "peer", p.index, "proto", proto, "err", err)
			}
		}
	}
}

// deliver writes frame on s, opening a stream first if s is nil. A reused
// stream that fails (the peer restarted, say) is replaced once and the frame
// retried on the fresh stream. It returns the stream to use next time.
// The frame is built in *buf, which is kept for the next one.
func (h *Host) deliver(p *peerState, proto Protocol, s network.Stream, frame []byte, buf *[]byte) (network.Stream, error) {
	for attempt := 0; ; attempt++ {
		fresh := s == nil
		if fresh {
			var err error
			if s, err = h.openStream(p, proto); err != nil {
				return nil, err
			}
		}
		err := h.writeFrame(s, proto, frame, buf)
		if err == nil {
			h.ctr.proto[proto].msgsOut.Add(1)
			h.ctr.proto[proto].bytesOut.Add(uint64(len(frame)))
			p.bytesOut.Add(uint64(len(frame)))
			return s, nil
		}
		_ = s.Reset()
		s = nil
		if fresh || attempt > 0 {
			return nil, err
		}
	}
}

func (h *Host) writeFrame(s network.Stream, proto Protocol, frame []byte, buf *[]byte) error {
	if err := s.SetWriteDeadline(now().Add(h.lim.WriteTimeout)); err != nil {
		return fmt.Errorf("setting write deadline: %w", err)
	}
	b, err := writeFrameIn(s, *buf, frame, h.lim.frameMax(proto))
	if cap(b) <= retainWriteBufBytes {
		*buf = b
	} else {
		*buf = nil
	}
	return err
}

// openStream waits until p is connected and verified, then opens a stream
// for proto. It never dials: connecting is the keeper's job.
func (h *Host) openStream(p *peerState, proto Protocol) (network.Stream, error) {
	select {
	case <-h.ctx.Done():
		return nil, h.ctx.Err()
	case <-p.readyCh():
	}
	ctx, cancel := context.WithTimeout(h.ctx, h.lim.HelloTimeout)
	defer cancel()
	s, err := h.host.NewStream(network.WithNoDial(ctx, "bafomet stream"), p.id, proto.ID())
	if err != nil {
		return nil, fmt.Errorf("opening %s stream: %w", proto, err)
	}
	return s, nil
}

// frameHandler returns the handler of inbound consensus or tx streams: it
// reads frames until the stream ends and hands each to Inbound(). A peer
// has at most Limits.InboundStreamsPerPeer such streams open; more are
// reset and counted as refused.
func (h *Host) frameHandler(proto Protocol) network.StreamHandler {
	return func(s network.Stream) {
		if !h.track() {
			_ = s.Reset()
			return
		}
		defer h.wg.Done()
		p := h.admit(s, proto)
		if p == nil {
			_ = s.Reset()
			return
		}
		if !p.openInbound(h.lim.InboundStreamsPerPeer) {
			h.ctr.proto[proto].refused.Add(1)
			h.log.Debug("p2p: inbound stream over the per-peer limit refused", "peer", p.index, "proto", proto, "limit", h.lim.InboundStreamsPerPeer)
			_ = s.Reset()
			return
		}
		defer p.closeInbound()
		h.readFrames(p, proto, s)
	}
}

// readFrames waits without a deadline for each frame to begin, then gives
// the whole frame Limits.FrameReadTimeout to arrive: an idle stream costs
// its read buffer only, and a peer that trickles a frame is reset.
func (h *Host) readFrames(p *peerState, proto Protocol, s network.Stream) {
	r := bufio.NewReaderSize(s, readBufSize)
	ctr := &h.ctr.proto[proto]
	limit := h.lim.frameMax(proto)
	for {
		frame, err := h.readFrameWithin(r, s, limit)
		switch {
		case err == nil:
		case IsMisbehaviour(err):
			_ = s.Reset()
			h.misbehaved(p, proto, err)
			return
		case errors.Is(err, io.EOF):
			_ = s.Close()
			return
		default:
			_ = s.Reset()
			if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
				h.log.Info("p2p: peer too slow sending a frame; stream reset", "peer", p.index, "proto", proto, "timeout", h.lim.FrameReadTimeout, "err", err)
			}
			return
		}
		t := now()
		p.seen(t)
		p.bytesIn.Add(uint64(len(frame)))
		ctr.msgsIn.Add(1)
		ctr.bytesIn.Add(uint64(len(frame)))
		in := Inbound{From: p.index, Peer: p.id, Proto: proto, Data: frame}
		if proto == ProtoTx {
			select { // back-pressure: stop reading this stream until there is room
			case h.txInbound <- in:
			case <-h.ctx.Done():
				_ = s.Reset()
				return
			}
			continue
		}
		h.enqueueConsensus(p, in)
	}
}

// readFrameWithin reads one frame from r, the reader of s, with a read
// deadline of Limits.FrameReadTimeout set once its first byte is there and
// cleared once it is read. The deadline is skipped when the whole frame is
// already buffered, as it is for most small frames.
func (h *Host) readFrameWithin(r *bufio.Reader, s network.Stream, limit int) ([]byte, error) {
	if _, err := r.Peek(1); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("waiting for a frame: %w", err)
	}
	if frameBuffered(r) {
		return ReadFrame(r, limit)
	}
	if err := s.SetReadDeadline(now().Add(h.lim.FrameReadTimeout)); err != nil {
		return nil, fmt.Errorf("setting read deadline: %w", err)
	}
	frame, err := ReadFrame(r, limit)
	if err != nil {
		return nil, err
	}
	if err := s.SetReadDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("clearing read deadline: %w", err)
	}
	return frame, nil
}

// frameBuffered reports whether r's buffer holds a whole frame: a complete
// length prefix and at least that many bytes after it.
func frameBuffered(r *bufio.Reader) bool {
	b, _ := r.Peek(r.Buffered())
	n, k := binary.Uvarint(b)
	return k > 0 && uint64(len(b)-k) >= n
}

// jitter spreads d by up to a fifth either way, so peers that lost each
// other at the same moment do not redial in lockstep.
func jitter(d time.Duration, r func(int64) int64) time.Duration {
	spread := int64(d) / 5
	if spread <= 0 {
		return d
	}
	return d - time.Duration(spread) + time.Duration(r(2*spread+1))
}
