package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/bafomet/bafomet/chain"
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
	var rerr gethrpc.Error
	if !errors.As(err, &rerr) {
		return ReasonTransport, outTransport
	}
	switch code := rerr.ErrorCode(); code {
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
func dialHTTP(ctx context.Context, url string, conns int) (*gethrpc.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = conns
	tr.MaxIdleConnsPerHost = conns
	c, err := gethrpc.DialOptions(ctx, url, gethrpc.WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	return c, nil
}

// send submits txs in one request (a batch when more than one) and returns
// each transaction's error.
func send(ctx context.Context, c *gethrpc.Client, timeout time.Duration, txs []signedTx) []error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	errs := make([]error, len(txs))
	if len(txs) == 1 {
		var h chain.Hash
		errs[0] = c.CallContext(ctx, &h, "chain_sendTransaction", hexutil.Bytes(txs[0].raw))
		return errs
	}
	batch := make([]gethrpc.BatchElem, len(txs))
	hashes := make([]chain.Hash, len(txs))
	for i, tx := range txs {
		batch[i] = gethrpc.BatchElem{Method: "chain_sendTransaction", Args: []any{hexutil.Bytes(tx.raw)}, Result: &hashes[i]}
	}
	if err := c.BatchCallContext(ctx, batch); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	for i := range batch {
		errs[i] = batch[i].Error
	}
	return errs
}
