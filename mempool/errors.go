package mempool

import (
	"errors"
	"fmt"
)

// Reason names why Add refused a transaction. The RPC layer maps each
// reason to one of its error codes; metrics count rejections by reason.
type Reason uint8

// Rejection reasons. ReasonNone is the reason of a nil error or of an error
// that is not a rejection (for example a failed state read).
const (
	ReasonNone Reason = iota
	ReasonMalformed
	ReasonWrongChain
	ReasonTooLarge
	ReasonBadSignature
	ReasonNonceTooLow
	ReasonNonceTooFarAhead
	ReasonNonceTaken
	ReasonSenderFull
	ReasonRejectedByApp
	ReasonAlreadyKnown
	ReasonFull
	numReasons
)

var reasonNames = [numReasons]string{
	ReasonNone:             "none",
	ReasonMalformed:        "malformed",
	ReasonWrongChain:       "wrong_chain",
	ReasonTooLarge:         "too_large",
	ReasonBadSignature:     "bad_signature",
	ReasonNonceTooLow:      "nonce_too_low",
	ReasonNonceTooFarAhead: "nonce_too_far_ahead",
	ReasonNonceTaken:       "nonce_taken",
	ReasonSenderFull:       "sender_full",
	ReasonRejectedByApp:    "rejected_by_app",
	ReasonAlreadyKnown:     "already_known",
	ReasonFull:             "mempool_full",
}

// String returns the reason's stable snake_case name, suitable as a metric
// label.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Reasons returns every rejection reason except ReasonNone, in order.
func Reasons() []Reason {
	out := make([]Reason, 0, numReasons-1)
	for r := ReasonMalformed; r < numReasons; r++ {
		out = append(out, r)
	}
	return out
}

// Sentinel errors, one per rejection reason. Errors returned by Add match
// exactly one of them with errors.Is.
var (
	ErrMalformed        = errors.New("malformed transaction")
	ErrWrongChain       = errors.New("wrong chain id")
	ErrTooLarge         = errors.New("transaction too large")
	ErrBadSignature     = errors.New("bad signature")
	ErrNonceTooLow      = errors.New("nonce too low")
	ErrNonceTooFarAhead = errors.New("nonce too far ahead")
	ErrNonceTaken       = errors.New("nonce already used by a pending transaction")
	ErrSenderFull       = errors.New("sender has too many pending transactions")
	ErrRejectedByApp    = errors.New("rejected by application")
	ErrAlreadyKnown     = errors.New("transaction already known")
	ErrFull             = errors.New("mempool full")
)

var reasonErrs = [numReasons]error{
	ReasonMalformed:        ErrMalformed,
	ReasonWrongChain:       ErrWrongChain,
	ReasonTooLarge:         ErrTooLarge,
	ReasonBadSignature:     ErrBadSignature,
	ReasonNonceTooLow:      ErrNonceTooLow,
	ReasonNonceTooFarAhead: ErrNonceTooFarAhead,
	ReasonNonceTaken:       ErrNonceTaken,
	ReasonSenderFull:       ErrSenderFull,
	ReasonRejectedByApp:    ErrRejectedByApp,
	ReasonAlreadyKnown:     ErrAlreadyKnown,
	ReasonFull:             ErrFull,
}

// RejectError is the error Add returns when it refuses a transaction. It
// matches its reason's sentinel with errors.Is and unwraps to the
// underlying cause, if any (for example a chain decoding error or the
// application's CheckTx error).
type RejectError struct {
	Reason Reason
	Detail string // human-readable detail; may be empty
	Cause  error  // underlying error; may be nil
}

// Error returns the reason, then the detail and the cause when present.
func (e *RejectError) Error() string {
	msg := reasonErrs[e.Reason].Error()
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

// Is reports whether target is this error's reason sentinel.
func (e *RejectError) Is(target error) bool { return target == reasonErrs[e.Reason] }

// Unwrap returns the underlying cause.
func (e *RejectError) Unwrap() error { return e.Cause }

// ReasonOf returns the rejection reason carried by err, or ReasonNone when
// err is nil or not a rejection.
func ReasonOf(err error) Reason {
	var re *RejectError
	if errors.As(err, &re) {
		return re.Reason
	}
	return ReasonNone
}

func reject(r Reason, cause error, format string, args ...any) *RejectError {
	return &RejectError{Reason: r, Detail: fmt.Sprintf(format, args...), Cause: cause}
}
