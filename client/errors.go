package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/bafomet/bafomet/rpc"
)

// Sentinels for the node's error codes (docs/rpc.md, "Errors"). An *Error
// from the node matches the sentinel of its code with errors.Is; those
// the rpc package defines too are the same values.
var (
	ErrInvalidParams     = errors.New("invalid params")
	ErrMethodNotFound    = errors.New("method not found")
	ErrBadSignature      = rpc.ErrBadSignature
	ErrWrongChainID      = rpc.ErrWrongChainID
	ErrTxTooLarge        = rpc.ErrTxTooLarge
	ErrNonceTooLow       = rpc.ErrNonceTooLow
	ErrNonceTooFarAhead  = rpc.ErrNonceTooFarAhead
	ErrRejectedByApp     = rpc.ErrRejectedByApp
	ErrAlreadyKnown      = rpc.ErrAlreadyKnown
	ErrMempoolFull       = rpc.ErrMempoolFull
	ErrNonceTaken        = rpc.ErrNonceTaken
	ErrSenderFull        = rpc.ErrSenderFull
	ErrSubscriberTooSlow = errors.New("subscriber too slow")
	ErrTooManySubs       = errors.New("too many subscriptions")
	ErrAppNotServed      = rpc.ErrAppNotServed
	ErrServerBusy        = errors.New("server busy")
	ErrUnauthenticated   = errors.New("unauthenticated")
	ErrForbidden         = errors.New("forbidden")
	ErrRateLimited       = errors.New("rate limited")
	ErrDiskLow           = rpc.ErrDiskLow
	// ErrPruned matches the answer for a height below the earliest block
	// the node holds (code -32024; the message names that height, see
	// PrunedEarliest). It is chain.ErrPruned.
	ErrPruned = rpc.ErrPruned

	// ErrNotFound is returned by reads of a block, certificate or
	// transaction the node does not have (a null result).
	ErrNotFound = errors.New("not found")
	// ErrClosed is returned by calls on a closed Client, and ends its
	// subscriptions.
	ErrClosed = errors.New("client closed")
	// ErrDropped is returned by WaitTx for a transaction that left the
	// mempool without committing; the *Tx returned with it has the reason.
	ErrDropped = errors.New("transaction dropped")
)

var codeSentinels = map[int]error{
	rpc.CodeInvalidParams:     ErrInvalidParams,
	rpc.CodeMethodNotFound:    ErrMethodNotFound,
	rpc.CodeBadSignature:      ErrBadSignature,
	rpc.CodeWrongChainID:      ErrWrongChainID,
	rpc.CodeTxTooLarge:        ErrTxTooLarge,
	rpc.CodeNonceTooLow:       ErrNonceTooLow,
	rpc.CodeNonceTooFarAhead:  ErrNonceTooFarAhead,
	rpc.CodeRejectedByApp:     ErrRejectedByApp,
	rpc.CodeAlreadyKnown:      ErrAlreadyKnown,
	rpc.CodeMempoolFull:       ErrMempoolFull,
	rpc.CodeNonceTaken:        ErrNonceTaken,
	rpc.CodeSenderFull:        ErrSenderFull,
	rpc.CodeSubscriberTooSlow: ErrSubscriberTooSlow,
	rpc.CodeTooManySubs:       ErrTooManySubs,
	rpc.CodeAppNotServed:      ErrAppNotServed,
	rpc.CodeServerBusy:        ErrServerBusy,
	rpc.CodeUnauthenticated:   ErrUnauthenticated,
	rpc.CodeForbidden:         ErrForbidden,
	rpc.CodeRateLimited:       ErrRateLimited,
	rpc.CodeDiskLow:           ErrDiskLow,
	rpc.CodePruned:            ErrPruned,
}

// Error is an error answer of the node: its JSON-RPC code and message, and
// the method called. errors.Is matches it against the sentinel of its
// code.
type Error struct {
	Method  string
	Code    int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s (code %d)", e.Method, e.Message, e.Code) }

// Is reports whether target is the sentinel of e's code.
func (e *Error) Is(target error) bool {
	s, ok := codeSentinels[e.Code]
	return ok && s == target
}

// wrapErr turns the node's answer to method into an *Error where it
// carries a JSON-RPC code (in a JSON-RPC error, or in the body of an HTTP
// error such as 401 or 503), and wraps anything else with the method.
func wrapErr(method string, err error) error {
	if err == nil {
		return nil
	}
	var ce gethrpc.Error
	if errors.As(err, &ce) {
		return &Error{Method: method, Code: ce.ErrorCode(), Message: ce.Error()}
	}
	var he gethrpc.HTTPError
	if errors.As(err, &he) {
		var body struct {
			Error *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(he.Body, &body) == nil && body.Error != nil {
			return &Error{Method: method, Code: body.Error.Code, Message: body.Error.Message}
		}
	}
	return fmt.Errorf("%s: %w", method, err)
}

// permanent reports whether asking again cannot succeed: the caller lacks
// credentials or permission, or the call itself is wrong.
func (e *Error) permanent() bool {
	switch e.Code {
	case rpc.CodeUnauthenticated, rpc.CodeForbidden, rpc.CodeMethodNotFound, rpc.CodeInvalidParams, rpc.CodePruned:
		return true
	}
	return false
}

// prunedPrefix starts the message of a CodePruned answer, which ends with
// the earliest height the node holds.
const prunedPrefix = "pruned: the earliest block this node holds is "

// PrunedEarliest returns the earliest height the node holds when err is
// its answer for a pruned height (ErrPruned), and false otherwise.
func PrunedEarliest(err error) (uint64, bool) {
	var e *Error
	if !errors.As(err, &e) || e.Code != rpc.CodePruned {
		return 0, false
	}
	i := strings.LastIndex(e.Message, prunedPrefix)
	if i < 0 {
		return 0, false
	}
	h, perr := strconv.ParseUint(e.Message[i+len(prunedPrefix):], 10, 64)
	return h, perr == nil
}
