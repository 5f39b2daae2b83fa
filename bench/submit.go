package bench

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/bafomet/bafomet/client"
	"github.com/bafomet/bafomet/rpc"
)

// Rejection reasons as they appear in reports. Each JSON-RPC error code of
// chain_sendTransaction (docs/rpc.md) has its own; others are "code_<n>".
const (
	ReasonMempoolFull   = "mempool_full"
	ReasonSenderFull    = "sender_full"
	ReasonNonceTooFar   = "nonce_too_far_ahead"
	ReasonNonceTooLow   = "nonce_too_low"
	ReasonAlreadyKnown  = "already_known"
	ReasonNonceTaken    = "nonce_taken"
	ReasonBadSignature  = "bad_signature"
	ReasonWrongChainID  = "wrong_chain_id"
	ReasonTooLarge      = "tx_too_large"
	ReasonRejectedByApp = "rejected_by_app"
	ReasonInvalidParams = "invalid_params"
	ReasonInternal      = "internal"
	ReasonTransport     = "transport" // no JSON-RPC answer: connection or timeout
)

// outcome is what the harness does with a transaction after an answer.
type outcome int

const (
	outAccepted  outcome = iota // the node holds it: wait for its commit
	outHeld                     // refused, but the node holds or committed it: wait for its commit
	outRetry                    // refused for now: send it again after RetryDelay
	outFinal                    // refused for good: give up on it
	outTransport                // no answer: it may be held; send again
)

// classify maps a chain_sendTransaction error to its reason and outcome.
func classify(err error) (string, outcome) {
	if err == nil {
		return "", outAccepted
	}
	var rerr *client.Error
	if !errors.As(err, &rerr) {
		return ReasonTransport, outTransport
	}
	switch code := rerr.Code; code {
	case rpc.CodeMempoolFull:
		return ReasonMempoolFull, outRetry
	case rpc.CodeSenderFull:
		return ReasonSenderFull, outRetry
	case rpc.CodeNonceTooFarAhead:
		return ReasonNonceTooFar, outRetry
	case rpc.CodeInternal:
		return ReasonInternal, outRetry
	case rpc.CodeAlreadyKnown:
		return ReasonAlreadyKnown, outHeld
	case rpc.CodeNonceTaken:
		return ReasonNonceTaken, outHeld
	case rpc.CodeNonceTooLow:
		return ReasonNonceTooLow, outHeld
	case rpc.CodeBadSignature:
		return ReasonBadSignature, outFinal
	case rpc.CodeWrongChainID:
		return ReasonWrongChainID, outFinal
	case rpc.CodeTxTooLarge:
		return ReasonTooLarge, outFinal
	case rpc.CodeRejectedByApp:
		return ReasonRejectedByApp, outFinal
	case rpc.CodeInvalidParams:
		return ReasonInvalidParams, outFinal
	default:
		return "code_" + strconv.Itoa(code), outFinal
	}
}

// dialHTTP opens a JSON-RPC client over HTTP that keeps up to conns
// connections alive to the node.
func dialHTTP(ctx context.Context, url string, conns int) (*client.Client, error) {
	return client.Dial(ctx, url, client.Options{MaxConns: conns})
}

// send submits txs in one request (a batch when more than one) and returns
// each transaction's error.
func send(ctx context.Context, c *client.Client, timeout time.Duration, txs []signedTx) []error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	raws := make([][]byte, len(txs))
	for i, tx := range txs {
		raws[i] = tx.raw
	}
	return c.SendTxs(ctx, raws)
}
