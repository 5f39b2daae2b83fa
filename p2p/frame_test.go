package p2p

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
)

func TestAppendFrame(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		limit   int
		want    []byte
		wantErr error
	}{
		{"one byte", []byte{0xaa}, 8, []byte{0x01, 0xaa}, nil},
		{"at limit", []byte{1, 2, 3}, 3, []byte{0x03, 1, 2, 3}, nil},
		{"above limit", []byte{1, 2, 3, 4}, 3, nil, ErrFrameTooLarge},
		{"empty", nil, 3, nil, ErrFrameMalformed},
		{"two-byte prefix", bytes.Repeat([]byte{7}, 128), 200, append([]byte{0x80, 0x01}, bytes.Repeat([]byte{7}, 128)...), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendFrame(nil, tt.payload, tt.limit)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && !bytes.Equal(got, tt.want) {
				t.Fatalf("frame = %x, want %x", got, tt.want)
			}
		})
	}
}

func TestReadFrame(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		limit   int
		want    []byte
		wantErr error
	}{
		{"one byte", []byte{0x01, 0xaa}, 8, []byte{0xaa}, nil},
		{"at limit", []byte{0x03, 1, 2, 3}, 3, []byte{1, 2, 3}, nil},
		{"above limit", []byte{0x04, 1, 2, 3, 4}, 3, nil, ErrFrameTooLarge},
		{"zero length", []byte{0x00}, 3, nil, ErrFrameMalformed},
		{"non-minimal prefix", []byte{0x81, 0x00, 0xaa}, 8, nil, ErrFrameMalformed},
		{"huge announced", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 1 << 20, nil, ErrFrameTooLarge},
		{"prefix overflows 64 bits", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, 8, nil, ErrFrameMalformed},
		{"prefix too long", bytes.Repeat([]byte{0x80}, 11), 8, nil, ErrFrameMalformed},
		{"clean end", nil, 8, nil, io.EOF},
		{"cut in prefix", []byte{0x80}, 8, nil, io.ErrUnexpectedEOF},
		{"cut in body", []byte{0x03, 1}, 8, nil, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadFrame(bufio.NewReader(bytes.NewReader(tt.in)), tt.limit)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("payload = %x, want %x", got, tt.want)
			}
		})
	}
}

func TestIsMisbehaviour(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{ErrFrameTooLarge, true},
		{ErrFrameMalformed, true},
		{io.EOF, false},
		{io.ErrUnexpectedEOF, false},
	}
	for _, tt := range tests {
		if got := IsMisbehaviour(tt.err); got != tt.want {
			t.Errorf("IsMisbehaviour(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// TestReadFrameDoesNotAllocateAnnouncedSize: a peer announcing a 1 TiB frame
// gets an error, not a 1 TiB (or 1 MiB) buffer.
func TestReadFrameDoesNotAllocateAnnouncedSize(t *testing.T) {
	in := []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x20} // 2^40
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 100 {
		_, err := ReadFrame(bufio.NewReaderSize(bytes.NewReader(in), 16), 1<<20)
		if !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("err = %v, want ErrFrameTooLarge", err)
		}
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 100<<10 {
		t.Fatalf("100 refused frames allocated %d bytes", grew)
	}
}

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	payloads := [][]byte{{1}, bytes.Repeat([]byte{2}, 300), {3, 3}}
	for _, p := range payloads {
		if err := WriteFrame(&buf, p, 300); err != nil {
			t.Fatal(err)
		}
	}
	r := bufio.NewReader(&buf)
	for i, want := range payloads {
		got, err := ReadFrame(r, 300)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("frame %d = %x, %v; want %x", i, got, err, want)
		}
	}
	if _, err := ReadFrame(r, 300); err != io.EOF {
		t.Fatalf("after last frame err = %v, want io.EOF", err)
	}
}

// FuzzReadFrame: ReadFrame never panics, never returns more than the limit,
// and whatever it accepts re-encodes to exactly the bytes it consumed.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0x01, 0xaa}, uint16(8))
	f.Add([]byte{0x81, 0x00, 0xaa}, uint16(8))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, uint16(64))
	f.Add([]byte{0x03, 1, 2, 3, 0x01}, uint16(3))
	f.Fuzz(func(t *testing.T, in []byte, limit16 uint16) {
		limit := int(limit16%4096) + 1
		br := bytes.NewReader(in)
		got, err := ReadFrame(bufio.NewReaderSize(br, 16), limit)
		if err != nil {
			if got != nil {
				t.Fatalf("payload %x returned with error %v", got, err)
			}
			return
		}
		if len(got) == 0 || len(got) > limit {
			t.Fatalf("payload of %d bytes accepted with limit %d", len(got), limit)
		}
		enc, err := AppendFrame(nil, got, limit)
		if err != nil {
			t.Fatalf("re-encoding accepted payload: %v", err)
		}
		if !bytes.HasPrefix(in, enc) {
			t.Fatalf("input %x does not start with re-encoded frame %x", in, enc)
		}
	})
}

// TestReadFrameGrowsWithBytesReceived: a frame that announces 4 MiB and
// sends 1 KiB before the stream ends costs a buffer sized by the bytes that
// came, not by the announcement; a whole frame still arrives intact.
func TestReadFrameGrowsWithBytesReceived(t *testing.T) {
	const announced = 4 << 20
	in := append(binary.AppendUvarint(nil, announced), bytes.Repeat([]byte{7}, 1<<10)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		_, err := ReadFrame(bufio.NewReaderSize(bytes.NewReader(in), 4<<10), announced)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
		}
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 10*(frameReadChunk+8<<10) {
		t.Fatalf("10 frames announcing %d bytes and sending 1 KiB allocated %d bytes", announced, grew)
	}
	for _, size := range []int{1, frameReadChunk - 1, frameReadChunk, frameReadChunk + 1, 3*frameReadChunk + 5, announced} {
		payload := make([]byte, size)
		for i := range payload {
			payload[i] = byte(i * 31)
		}
		var w bytes.Buffer
		if err := WriteFrame(&w, payload, announced); err != nil {
			t.Fatal(err)
		}
		w.WriteByte(0xee) // the next frame's first byte must stay unread
		r := bufio.NewReader(&w)
		got, err := ReadFrame(r, announced)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("size %d: got %d bytes, err %v", size, len(got), err)
		}
		if b, err := r.ReadByte(); err != nil || b != 0xee {
			t.Fatalf("size %d: read past the frame (next byte %x, %v)", size, b, err)
		}
	}
}
