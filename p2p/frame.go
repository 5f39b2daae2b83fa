package p2p

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Frame errors. A peer that produces ErrFrameTooLarge or ErrFrameMalformed
// is misbehaving: its stream is reset and its connection closed.
var (
	ErrFrameTooLarge  = errors.New("frame exceeds size limit")
	ErrFrameMalformed = errors.New("malformed frame")
)

// FrameReader is what ReadFrame reads from; *bufio.Reader is one.
type FrameReader interface {
	io.Reader
	io.ByteReader
}

// maxPrefixLen is the longest uvarint prefix we accept (any int64 fits).
const maxPrefixLen = binary.MaxVarintLen64

// AppendFrame appends the frame for payload (uvarint length, then payload)
// to dst. It rejects an empty payload or one longer than limit.
func AppendFrame(dst, payload []byte, limit int) ([]byte, error) {
	if len(payload) == 0 {
		return dst, fmt.Errorf("%w: empty payload", ErrFrameMalformed)
	}
	if len(payload) > limit {
		return dst, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, len(payload), limit)
	}
	dst = binary.AppendUvarint(dst, uint64(len(payload)))
	return append(dst, payload...), nil
}

// WriteFrame writes one frame to w in a single Write call.
func WriteFrame(w io.Writer, payload []byte, limit int) error {
	_, err := writeFrameIn(w, make([]byte, 0, maxPrefixLen+len(payload)), payload, limit)
	return err
}

// writeFrameIn is WriteFrame building the frame in buf's storage; it
// returns the buffer, grown if need be, for the next frame.
func writeFrameIn(w io.Writer, buf, payload []byte, limit int) ([]byte, error) {
	buf, err := AppendFrame(buf[:0], payload, limit)
	if err != nil {
		return buf, err
	}
	if _, err := w.Write(buf); err != nil {
		return buf, fmt.Errorf("writing frame: %w", err)
	}
	return buf, nil
}

// frameReadChunk is the payload buffer ReadFrame starts a frame with (or
// the announced length, if smaller). The buffer doubles each time it is
// full, up to the announced length, so what a frame holds is at most about
// twice the bytes that actually arrived, whatever length was announced.
const frameReadChunk = 16 << 10

// ReadFrame reads one frame from r and returns its payload. The length prefix
// must be a minimal uvarint between 1 and limit. The payload buffer grows
// with the bytes received (see frameReadChunk), not with the announced
// length, so a peer that announces a large frame and sends little of it
// pins little memory. io.EOF is returned unwrapped when r ends cleanly
// before a frame starts; a frame cut short gives io.ErrUnexpectedEOF.
func ReadFrame(r FrameReader, limit int) ([]byte, error) {
	n, err := readPrefix(r)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: zero length", ErrFrameMalformed)
	}
	if n > uint64(limit) {
		return nil, fmt.Errorf("%w: %d bytes announced, limit %d", ErrFrameTooLarge, n, limit)
	}
	size := int(n)
	buf := make([]byte, 0, min(size, frameReadChunk))
	for len(buf) < size {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(size-len(buf), cap(buf)))
		}
		end := min(cap(buf), size)
		got, err := io.ReadFull(r, buf[len(buf):end])
		buf = buf[:len(buf)+got]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("reading %d-byte frame after %d bytes: %w", n, len(buf), err)
		}
	}
	return buf, nil
}

// readPrefix reads a minimal (canonical) uvarint.
func readPrefix(r io.ByteReader) (uint64, error) {
	var x uint64
	for i := 0; i < maxPrefixLen; i++ {
		b, err := r.ReadByte()
		if err != nil {
			if i == 0 && errors.Is(err, io.EOF) {
				return 0, io.EOF
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, fmt.Errorf("reading frame length: %w", err)
		}
		if i == maxPrefixLen-1 && b > 1 {
			return 0, fmt.Errorf("%w: length overflows 64 bits", ErrFrameMalformed)
		}
		x |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			if b == 0 && i > 0 {
				return 0, fmt.Errorf("%w: non-minimal length prefix", ErrFrameMalformed)
			}
			return x, nil
		}
	}
	return 0, fmt.Errorf("%w: length prefix too long", ErrFrameMalformed)
}

// IsMisbehaviour reports whether err from ReadFrame is the peer's fault
// (oversized or malformed frame) rather than a transport failure.
func IsMisbehaviour(err error) bool {
	return errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrFrameMalformed)
}
