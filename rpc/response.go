package rpc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Response limits. An HTTP response is built in memory before any of it
// is sent, so that its size is known: one larger than MaxResponseBytes is
// replaced by a -32003 error. A response takes its bytes from the server's
// ResponseBufferBytes, shared by every HTTP and websocket response, as it
// is built and until the client has taken it (or the write timeout cut it
// off). A response that finds the shared budget full is replaced by a
// -32023 error at once, so that clients that do not read cannot make the
// server hold more than the budget.
//
// The server answers an HTTP batch itself, one call at a time through
// geth: each call's response takes its bytes from the budget before the
// next call runs, so a batch in progress holds no more than what the
// budget has granted it plus one call being answered (when geth answers a
// batch, it holds all of its results before any is counted). Once a
// batch's responses pass MaxBatchResponseBytes the remaining calls are
// answered with -32003, as geth does.

// errResponseTooLarge is geth's code for an oversized response.
const codeResponseTooLarge = -32003

// bufferedResponse collects what geth writes for one HTTP request, headers
// included (geth sets Content-Length for the body it meant to send),
// taking its bytes from the server's response budget as they come.
type bufferedResponse struct {
	header http.Header
	status int
	buf    bytes.Buffer
	limit  int
	budget *responseBudget
	ip     string // the client's, whose share of the budget buf takes
	taken  int64  // budget bytes held for buf
	over   bool   // more than limit bytes were written; buf was dropped
	busy   bool   // the budget was full; buf was dropped
}

func newBufferedResponse(w http.ResponseWriter, r *http.Request, limit int, budget *responseBudget) *bufferedResponse {
	return &bufferedResponse{header: w.Header().Clone(), limit: limit, budget: budget, ip: requestIP(r)}
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.over || b.busy {
		return len(p), nil
	}
	if b.buf.Len()+len(p) > b.limit {
		b.over = true
		b.drop()
		return len(p), nil
	}
	w, ok := b.budget.take(b.ip, int64(len(p)))
	if !ok {
		b.busy = true
		b.drop()
		return len(p), nil
	}
	b.taken += w
	return b.buf.Write(p)
}

// drop discards the body and gives its budget back.
func (b *bufferedResponse) drop() {
	b.buf = bytes.Buffer{}
	b.budget.release(b.ip, b.taken)
	b.taken = 0
}

// serveBuffered runs geth's HTTP handler into a buffer and sends the
// result within the response limits.
func (s *Server) serveBuffered(w http.ResponseWriter, r *http.Request) {
	b := newBufferedResponse(w, r, s.cfg.MaxResponseBytes, s.responses)
	defer b.drop()
	s.rpc.ServeHTTP(b, r)
	switch {
	case b.over:
		s.metrics.responsesRefused.WithLabelValues("too_large").Inc()
		writeHTTPError(w, http.StatusOK, codeResponseTooLarge,
			"response too large: over %d bytes (rpc.max_response_bytes)", s.cfg.MaxResponseBytes)
		return
	case b.busy:
		s.metrics.responsesRefused.WithLabelValues("busy").Inc()
		writeHTTPError(w, http.StatusServiceUnavailable, CodeServerBusy,
			"%s", s.busyMessage())
		return
	}
	h := w.Header()
	for k, v := range b.header {
		h[k] = v
	}
	h.Set("Content-Length", strconv.Itoa(b.buf.Len()))
	if b.status != 0 {
		w.WriteHeader(b.status)
	}
	if _, err := w.Write(b.buf.Bytes()); err != nil {
		s.log.Debug("http response write failed", "remote", r.RemoteAddr, "err", err)
	}
}

// serveBatch answers the HTTP batch body call by call (see above). It
// returns false, having written nothing, for a body that is not a batch of
// 1 to MaxBatchLength elements: geth answers those (with its errors).
func (s *Server) serveBatch(w http.ResponseWriter, r *http.Request, body []byte) bool {
	var calls []json.RawMessage
	if err := json.Unmarshal(body, &calls); err != nil || len(calls) == 0 || len(calls) > s.cfg.MaxBatchLength {
		return false
	}
	var held []*bufferedResponse
	defer func() {
		for _, b := range held {
			b.drop()
		}
	}()
	parts := make([][]byte, 0, len(calls))
	total, tooLarge := 0, false
	for _, c := range calls {
		var head struct {
			ID json.RawMessage `json:"id"`
		}
		_ = json.Unmarshal(c, &head) // geth answers a malformed element itself
		if tooLarge {
			if len(head.ID) > 0 { // a call (not a notification) gets its error
				parts = append(parts, errorResponse(head.ID, codeResponseTooLarge, "response too large"))
			}
			continue
		}
		sub := r.Clone(r.Context())
		sub.Body = io.NopCloser(bytes.NewReader(c))
		sub.ContentLength = int64(len(c))
		b := newBufferedResponse(w, r, s.cfg.MaxResponseBytes, s.responses)
		held = append(held, b)
		s.rpc.ServeHTTP(b, sub)
		var part []byte
		switch {
		case b.busy:
			s.metrics.responsesRefused.WithLabelValues("busy").Inc()
			writeHTTPError(w, http.StatusServiceUnavailable, CodeServerBusy,
				"%s", s.busyMessage())
			return true
		case b.over:
			s.metrics.responsesRefused.WithLabelValues("too_large").Inc()
			part = errorResponse(head.ID, codeResponseTooLarge,
				fmt.Sprintf("response too large: over %d bytes (rpc.max_response_bytes)", s.cfg.MaxResponseBytes))
		default:
			part = bytes.TrimRight(b.buf.Bytes(), "\n")
		}
		if len(part) == 0 {
			continue // a notification: no response
		}
		parts = append(parts, part)
		if total += len(part); total > s.cfg.MaxBatchResponseBytes {
			tooLarge = true
		}
	}
	if len(parts) == 0 {
		return true // only notifications: geth sends an empty body too
	}
	size := 1 + len(parts) // brackets and commas
	for _, p := range parts {
		size += len(p)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(size))
	bw := bufio.NewWriterSize(w, 32<<10)
	_ = bw.WriteByte('[')
	for i, p := range parts {
		if i > 0 {
			_ = bw.WriteByte(',')
		}
		_, _ = bw.Write(p)
	}
	_ = bw.WriteByte(']')
	if err := bw.Flush(); err != nil {
		s.log.Debug("http response write failed", "remote", r.RemoteAddr, "err", err)
	}
	return true
}

// errorResponse encodes a JSON-RPC error response for id.
func errorResponse(id json.RawMessage, code int, message string) []byte {
	type errObj struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	body, _ := json.Marshal(struct {
		Version string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   errObj          `json:"error"`
	}{"2.0", id, errObj{code, message}})
	return body
}

// busyMessage is the -32023 error's message.
func (s *Server) busyMessage() string {
	return fmt.Sprintf("server busy: responses waiting for their clients to read them fill rpc.response_buffer_bytes (%d) or this address's share of it (%d); retry",
		s.cfg.ResponseBufferBytes, s.responses.perIP)
}

// closedTimer fires at once: acquire with it only takes free bytes.
var closedTimer = func() <-chan time.Time {
	c := make(chan time.Time)
	close(c)
	return c
}()

// checkResponse applies the response limits to one websocket message
// (not a subscription notification, which the connection's own budget
// bounds). It returns the budget bytes taken, to release after the write,
// or an error: then the message must not be sent. ip is the client's.
func (s *Server) checkResponse(ip string, msg []byte) (int64, *Error) {
	n := int64(len(msg))
	if n > int64(s.cfg.MaxResponseBytes) {
		s.metrics.responsesRefused.WithLabelValues("too_large").Inc()
		return 0, &Error{Code: codeResponseTooLarge, Message: fmt.Sprintf("response too large: %d bytes, over %d (rpc.max_response_bytes)", n, s.cfg.MaxResponseBytes)}
	}
	taken, ok := s.responses.take(ip, n)
	if !ok {
		s.metrics.responsesRefused.WithLabelValues("busy").Inc()
		return 0, &Error{Code: CodeServerBusy, Message: fmt.Sprintf("%s", s.busyMessage())}
	}
	return taken, nil
}

// responseError is the error message sent in place of the websocket
// response msg: for the same id, or in a batch of one for a batch's first
// id (as geth answers a batch that is too long).
func responseError(msg []byte, e *Error) []byte {
	batch := len(msg) > 0 && msg[0] == '['
	body := errorResponse(responseID(msg), e.Code, e.Message)
	if batch {
		return append(append([]byte{'['}, body...), ']')
	}
	return body
}

// responsePrefix begins every response geth writes (its jsonrpcMessage
// fields in order, with an id); a batch begins with '[' and then this.
const responsePrefix = `{"jsonrpc":"2.0","id":`

// responseID returns the id of the (first) response in msg, or null. An id
// is a number, a string or null, so the first `,"` after it ends it: a
// string cannot hold an unescaped quote.
func responseID(msg []byte) json.RawMessage {
	rest := bytes.TrimPrefix(msg, []byte{'['})
	if !bytes.HasPrefix(rest, []byte(responsePrefix)) {
		return json.RawMessage("null")
	}
	rest = rest[len(responsePrefix):]
	end := bytes.Index(rest[:min(len(rest), 1024)], []byte(`,"`))
	if end <= 0 || !json.Valid(rest[:end]) {
		return json.RawMessage("null")
	}
	return json.RawMessage(rest[:end])
}
