package rpc

import (
	"errors"
	"fmt"

	"github.com/bafomet/bafomet/chain"
)

// JSON-RPC error codes. The standard ones come from the JSON-RPC 2.0
// specification; the application codes are bafomet's public contract and
// are listed in docs/rpc.md. They avoid -32002 and -32003, which geth's
// server uses for timeouts and oversized responses.
const (
	CodeParseError     = -32700 // malformed JSON
	CodeInvalidRequest = -32600 // not a JSON-RPC request, batch or body too large
	CodeMethodNotFound = -32601 // unknown method
	CodeInvalidParams  = -32602 // wrong argument count, type, hex or transaction encoding
	CodeInternal       = -32000 // the node failed to answer (storage error, shutting down)

	CodeBadSignature     = -32010 // transaction signature malformed or does not verify
	CodeWrongChainID     = -32011 // transaction signed for another chain
	CodeTxTooLarge       = -32012 // transaction exceeds the mempool's max_tx_bytes
	CodeNonceTooLow      = -32013 // nonce already used in committed state
	CodeNonceTooFarAhead = -32014 // nonce beyond the per-sender window of future nonces
	CodeRejectedByApp    = -32015 // the application's admission check refused it
	CodeAlreadyKnown     = -32016 // the mempool already holds (or held) this transaction
	CodeMempoolFull      = -32017 // the mempool is at its count or byte limit
	CodeNonceTaken       = -32018 // another pending transaction has this sender and nonce
	CodeSenderFull       = -32019 // the sender has too many pending transactions

	CodeSubscriberTooSlow = -32020 // the subscription's buffer overflowed; resume with fromHeight
	CodeTooManySubs       = -32021 // the connection has too many subscriptions
	CodeAppNotServed      = -32022 // this chain does not run the queried application
	CodeServerBusy        = -32023 // rpc.response_buffer_bytes is in use by responses clients have not read; retry
	CodePruned            = -32024 // the height asked for is below the earliest block this node holds (node.retain_blocks, or a node restored from a snapshot)

	CodeUnauthenticated = -32030 // no valid bearer token (rpc.auth): HTTP 401
	CodeForbidden       = -32031 // the token lacks the permission the method needs
	CodeRateLimited     = -32032 // over a request, transaction or subscription limit of the token or address; retry later
	CodeDiskLow         = -32033 // the node's free disk space is below node.min_free_disk: it accepts no transactions until space is freed
)

// Sentinel errors a Backend returns (wrapped) so that the server can answer
// with the matching code. The message sent to the client is the whole
// wrapped error text.
var (
	ErrBadSignature     = errors.New("bad signature")
	ErrWrongChainID     = errors.New("wrong chain id")
	ErrTxTooLarge       = errors.New("transaction too large")
	ErrNonceTooLow      = errors.New("nonce too low")
	ErrNonceTooFarAhead = errors.New("nonce too far ahead")
	ErrRejectedByApp    = errors.New("rejected by application")
	ErrAlreadyKnown     = errors.New("transaction already known")
	ErrMempoolFull      = errors.New("mempool full")
	ErrNonceTaken       = errors.New("nonce already used by a pending transaction")
	ErrSenderFull       = errors.New("sender has too many pending transactions")
	ErrAppNotServed     = errors.New("application not served by this chain")
	ErrDiskLow          = errors.New("node low on disk space")
	// ErrPruned is chain.ErrPruned: a read of a height below the earliest
	// block the node holds. The server answers it with CodePruned and the
	// message "pruned: the earliest block this node holds is H".
	ErrPruned = chain.ErrPruned
	// ErrMalformedTx reports a transaction that does not decode; the
	// server answers it with CodeInvalidParams.
	ErrMalformedTx = errors.New("undecodable transaction")
)

var sentinelCodes = []struct {
	err  error
	code int
}{
	{ErrBadSignature, CodeBadSignature},
	{ErrWrongChainID, CodeWrongChainID},
	{ErrTxTooLarge, CodeTxTooLarge},
	{ErrNonceTooLow, CodeNonceTooLow},
	{ErrNonceTooFarAhead, CodeNonceTooFarAhead},
	{ErrRejectedByApp, CodeRejectedByApp},
	{ErrAlreadyKnown, CodeAlreadyKnown},
	{ErrMempoolFull, CodeMempoolFull},
	{ErrNonceTaken, CodeNonceTaken},
	{ErrSenderFull, CodeSenderFull},
	{ErrAppNotServed, CodeAppNotServed},
	{ErrDiskLow, CodeDiskLow},
	{ErrPruned, CodePruned},
	{ErrMalformedTx, CodeInvalidParams},
}

// Error is a JSON-RPC error with a code. geth's server sends Code as the
// error's code and Error() as its message.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string { return e.Message }

// ErrorCode returns the JSON-RPC error code.
func (e *Error) ErrorCode() int { return e.Code }

// codeError is any error that carries its own JSON-RPC code (geth's
// rpc.Error interface).
type codeError interface {
	error
	ErrorCode() int
}

// ErrorCode returns the JSON-RPC code the server answers err with: the code
// of the first sentinel err matches, err's own code when it has one, and
// CodeInternal otherwise.
func ErrorCode(err error) int {
	for _, s := range sentinelCodes {
		if errors.Is(err, s.err) {
			return s.code
		}
	}
	var ce codeError
	if errors.As(err, &ce) {
		return ce.ErrorCode()
	}
	return CodeInternal
}

// toRPCError converts a backend error into the error geth sends.
func toRPCError(err error) error {
	if err == nil {
		return nil
	}
	return internalError("", err)
}

// internalError wraps a backend failure with what the server was doing. A
// failure with a code of its own (a sentinel: the mempool's refusals and
// the like) is sent as it is; any other is an internal error, whose text
// (storage errors name files and directories) is logged, not sent.
func internalError(what string, err error) error {
	if perr := prunedError(err); perr != nil {
		return perr
	}
	if code := ErrorCode(err); code != CodeInternal {
		msg := err.Error()
		if what != "" {
			msg = what + ": " + msg
		}
		return &Error{Code: code, Message: msg}
	}
	return &hiddenError{what: what, err: err}
}

// prunedError returns the CodePruned error for an error that wraps a
// *chain.PrunedError, whose message is exactly "pruned: the earliest block
// this node holds is H"; nil for any other error.
func prunedError(err error) *Error {
	var pe *chain.PrunedError
	if !errors.As(err, &pe) {
		return nil
	}
	return &Error{Code: CodePruned, Message: pe.Error()}
}

// internalMessage is what a client is told of an internal error.
const internalMessage = "internal error (details in the node's log)"

// hiddenError is an internal error: the client gets what the server was
// doing and internalMessage; Server.observe logs err.
type hiddenError struct {
	what string
	err  error
}

func (e *hiddenError) Error() string {
	if e.what == "" {
		return internalMessage
	}
	return e.what + ": " + internalMessage
}

// ErrorCode implements geth's rpc.Error.
func (e *hiddenError) ErrorCode() int { return CodeInternal }

func (e *hiddenError) Unwrap() error { return e.err }

// invalidParams reports a bad parameter, naming it.
func invalidParams(param string, format string, args ...any) error {
	return &Error{Code: CodeInvalidParams, Message: fmt.Sprintf("invalid params: parameter %q: ", param) + fmt.Sprintf(format, args...)}
}

// missingParam reports a required parameter that was not given.
func missingParam(param string) error {
	return &Error{Code: CodeInvalidParams, Message: fmt.Sprintf("invalid params: missing required parameter %q", param)}
}
