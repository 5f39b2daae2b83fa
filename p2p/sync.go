package p2p

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

// Sync response status bytes: a response frame is one status byte followed
// by the handler's answer (status ok) or its error text (status error).
const (
	syncOK    byte = 0
	syncError byte = 1
	// syncErrorTextMax bounds the error text sent back to a requester.
	syncErrorTextMax = 512
)

// Request errors.
var (
	ErrUnknownPeer  = errors.New("p2p: unknown validator")
	ErrPeerNotReady = errors.New("p2p: peer not connected")
)

// RemoteError is an error returned by the serving peer's request handler.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return "p2p: peer answered: " + e.Msg }

// SetRequestHandler installs the function that serves sync requests. Until
// it is set, requests are answered with an error.
func (h *Host) SetRequestHandler(f RequestHandler) { h.handler.Store(&f) }

// Request sends req to validator to on /bafomet/sync/1 and returns the
// response. The exchange ends at ctx's deadline or after
// Limits.SyncTimeout, whichever is first. req may be at most
// Limits.SyncRequestMax bytes; a response above Limits.SyncResponseMax is
// refused without being read.
func (h *Host) Request(ctx context.Context, to int, req []byte) ([]byte, error) {
	p := h.byIdx[to]
	if p == nil {
		return nil, fmt.Errorf("%w %d", ErrUnknownPeer, to)
	}
	if len(req) == 0 {
		return nil, fmt.Errorf("p2p: empty sync request: %w", ErrFrameMalformed)
	}
	if len(req) > h.lim.SyncRequestMax {
		return nil, fmt.Errorf("p2p: sync request of %d bytes: %w (limit %d)", len(req), ErrFrameTooLarge, h.lim.SyncRequestMax)
	}
	if h.isClosed() || !p.isVerified() {
		return nil, fmt.Errorf("%w: validator %d", ErrPeerNotReady, to)
	}
	ctx, cancel := context.WithTimeout(ctx, h.lim.SyncTimeout)
	defer cancel()
	s, err := h.host.NewStream(network.WithNoDial(ctx, "bafomet sync"), p.id, SyncID)
	if err != nil {
		return nil, fmt.Errorf("p2p: sync request to validator %d: %w", to, err)
	}
	// Reset the stream if ctx ends first, so that a blocked read returns.
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	resp, err := h.exchange(s, p, req)
	var remoteErr *RemoteError
	if errors.As(err, &remoteErr) && expired(ctx) == nil {
		_ = s.Close()
		return nil, remoteErr
	}
	if err != nil {
		_ = s.Reset()
		// The server runs its own SyncTimeout from when the request
		// arrived, so its reset (or its handler's deadline error) can reach
		// us a moment before our own timer has fired: report those as the
		// deadline they are.
		if cerr := expired(ctx); cerr != nil {
			err = fmt.Errorf("%w (%w)", err, cerr)
		}
		return nil, fmt.Errorf("p2p: sync request to validator %d: %w", to, err)
	}
	_ = s.Close()
	return resp, nil
}

// expired reports ctx's error, or DeadlineExceeded once its deadline has
// passed even if the timer that cancels it has not run yet.
func expired(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

func (h *Host) exchange(s network.Stream, p *peerState, req []byte) ([]byte, error) {
	ctr := &h.ctr.proto[ProtoSync]
	if err := WriteFrame(s, req, h.lim.SyncRequestMax); err != nil {
		return nil, err
	}
	ctr.msgsOut.Add(1)
	ctr.bytesOut.Add(uint64(len(req)))
	p.bytesOut.Add(uint64(len(req)))
	if err := s.CloseWrite(); err != nil {
		return nil, fmt.Errorf("closing request side: %w", err)
	}
	frame, err := ReadFrame(bufio.NewReaderSize(s, readBufSize), h.lim.SyncResponseMax+1)
	if err != nil {
		if IsMisbehaviour(err) {
			ctr.malformed.Add(1)
		}
		return nil, fmt.Errorf("reading response: %w", err)
	}
	ctr.msgsIn.Add(1)
	ctr.bytesIn.Add(uint64(len(frame)))
	p.bytesIn.Add(uint64(len(frame)))
	p.seen(now())
	switch frame[0] {
	case syncOK:
		return frame[1:], nil
	case syncError:
		return nil, &RemoteError{Msg: string(frame[1:])}
	}
	ctr.malformed.Add(1)
	return nil, fmt.Errorf("%w: response status %d", ErrFrameMalformed, frame[0])
}

// handleSync serves one request. At most Limits.SyncServeMax requests are
// served at once; more are refused at once, so serving never queues up work
// that could starve the node.
func (h *Host) handleSync(s network.Stream) {
	if !h.track() {
		_ = s.Reset()
		return
	}
	defer h.wg.Done()
	p := h.admit(s, ProtoSync)
	if p == nil {
		_ = s.Reset()
		return
	}
	select {
	case h.syncSem <- struct{}{}:
		defer func() { <-h.syncSem }()
	default:
		h.ctr.proto[ProtoSync].refused.Add(1)
		_ = s.Reset()
		return
	}
	ctx, cancel := context.WithTimeout(h.ctx, h.lim.SyncTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	if badPeer, err := h.serve(ctx, s, p); err != nil {
		_ = s.Reset()
		if badPeer {
			h.misbehaved(p, ProtoSync, err)
			return
		}
		h.log.Debug("p2p: sync request not served", "peer", p.index, "err", err)
		return
	}
	_ = s.Close()
}

// serve reads one request and writes the answer. badPeer reports that the
// request itself was oversized or malformed.
func (h *Host) serve(ctx context.Context, s network.Stream, p *peerState) (badPeer bool, err error) {
	ctr := &h.ctr.proto[ProtoSync]
	req, err := ReadFrame(bufio.NewReaderSize(s, 512), h.lim.SyncRequestMax)
	if err != nil {
		return IsMisbehaviour(err), err
	}
	ctr.msgsIn.Add(1)
	ctr.bytesIn.Add(uint64(len(req)))
	p.bytesIn.Add(uint64(len(req)))
	p.seen(now())
	resp := h.answer(ctx, p, req)
	if err := WriteFrame(s, resp, h.lim.SyncResponseMax+1); err != nil {
		return false, err
	}
	ctr.msgsOut.Add(1)
	ctr.bytesOut.Add(uint64(len(resp)))
	p.bytesOut.Add(uint64(len(resp)))
	return false, nil
}

// answer runs the handler and builds the response frame payload.
func (h *Host) answer(ctx context.Context, p *peerState, req []byte) []byte {
	f := h.handler.Load()
	if f == nil {
		return h.errorResponse("no request handler")
	}
	resp, err := (*f)(ctx, p.index, req)
	if err != nil {
		return h.errorResponse(err.Error())
	}
	if len(resp) > h.lim.SyncResponseMax {
		h.log.Warn("p2p: sync response above limit not sent", "peer", p.index, "bytes", len(resp), "limit", h.lim.SyncResponseMax)
		return h.errorResponse(fmt.Sprintf("response of %d bytes exceeds limit %d", len(resp), h.lim.SyncResponseMax))
	}
	out := make([]byte, 1+len(resp))
	out[0] = syncOK
	copy(out[1:], resp)
	return out
}

// errorResponse builds an error answer, its text cut to fit both
// syncErrorTextMax and the response limit.
func (h *Host) errorResponse(msg string) []byte {
	if n := min(syncErrorTextMax, h.lim.SyncResponseMax); len(msg) > n {
		msg = msg[:n]
	}
	return append([]byte{syncError}, msg...)
}
