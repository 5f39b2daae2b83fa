package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bafomet/bafomet/client"
	"github.com/bafomet/bafomet/rpc"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		err    error
		reason string
		out    outcome
	}{
		{nil, "", outAccepted},
		{&client.Error{Method: "chain_sendTransaction", Code: rpc.CodeMempoolFull}, ReasonMempoolFull, outRetry},
		{&client.Error{Method: "chain_sendTransaction", Code: rpc.CodeSenderFull}, ReasonSenderFull, outRetry},
		{&client.Error{Method: "chain_sendTransaction", Code: rpc.CodeNonceTooFarAhead}, ReasonNonceTooFar, outRetry},
		{&client.Error{Method: "chain_sendTransaction", Code: rpc.CodeInternal}, ReasonInternal, outRetry},
		{&client.Error{Method: "chain_sendTransaction", Code: rpc.CodeAlreadyKnown}, ReasonAlreadyKnown, outHeld},
		{&client.Error{Method: "chain_sendTransaction", Code: rpc.CodeNonceTaken}, ReasonNonceTaken, outHeld},
		{&client.Error{Method: "chain_sendTransaction", Code: rpc.CodeNonceTooLow}, ReasonNonceTooLow, outHeld},
		{&client.Error{Method: "chain_sendTransaction", Code: rpc.CodeBadSignature}, ReasonBadSignature, outFinal},
		{&client.Error{Method: "chain_sendTransaction", Code: rpc.CodeWrongChainID}, ReasonWrongChainID, outFinal},
		{&client.Error{Method: "chain_sendTransaction", Code: rpc.CodeTxTooLarge}, ReasonTooLarge, outFinal},
		{&client.Error{Method: "chain_sendTransaction", Code: rpc.CodeRejectedByApp}, ReasonRejectedByApp, outFinal},
		{&client.Error{Method: "chain_sendTransaction", Code: rpc.CodeInvalidParams}, ReasonInvalidParams, outFinal},
		{&client.Error{Method: "chain_sendTransaction", Code: -32099}, "code_-32099", outFinal},
		{context.DeadlineExceeded, ReasonTransport, outTransport},
	}
	for _, tt := range tests {
		reason, out := classify(tt.err)
		if reason != tt.reason || out != tt.out {
			t.Errorf("classify(%v) = %q, %d; want %q, %d", tt.err, reason, out, tt.reason, tt.out)
		}
	}
}

func TestSendSingleAndBatch(t *testing.T) {
	url := serveFake(t, newFakeChain())
	senders, err := makeSenders(Config{Targets: []Target{{URL: url}}, Presign: 4, Senders: 1, Window: 4, PayloadBytes: 40}, "fake-chain")
	if err != nil {
		t.Fatal(err)
	}
	c, err := dialHTTP(context.Background(), url, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	txs := senders[0].txs
	if errs := send(context.Background(), c, time.Second, txs[:1]); errs[0] != nil {
		t.Fatalf("nonce 0: %v", errs[0])
	}
	// Batch of nonces 1, 2, 3: nonce 2 is refused once, so 3 finds a gap.
	errs := send(context.Background(), c, time.Second, txs[1:])
	got := make([]string, len(errs))
	for i, err := range errs {
		got[i], _ = classify(err)
	}
	if strings.Join(got, ",") != ","+ReasonMempoolFull+","+ReasonNonceTooFar {
		t.Fatalf("batch reasons = %q", got)
	}
	dead, err := dialHTTP(context.Background(), "http://127.0.0.1:1", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	if reason, _ := classify(send(context.Background(), dead, time.Second, txs[:2])[1]); reason != ReasonTransport {
		t.Fatalf("unreachable node: reason %q, want transport", reason)
	}
}

func TestRunAgainstFakeChain(t *testing.T) {
	for _, tt := range []struct {
		name  string
		rate  float64
		batch int
	}{{"closed loop", 0, 1}, {"open loop", 400, 1}, {"batches", 0, 4}} {
		t.Run(tt.name, func(t *testing.T) {
			fc := newFakeChain()
			url := serveFake(t, fc)
			var progress bytes.Buffer
			rep, err := Run(context.Background(), Config{
				Targets: []Target{{Name: "fake", URL: url}}, Rate: tt.rate, Batch: tt.batch,
				Duration: 600 * time.Millisecond, Warmup: 200 * time.Millisecond, WarmupSet: true, Drain: 2 * time.Second,
				Senders: 4, Window: 8, Presign: 1200, PayloadBytes: 40, RetryDelay: 5 * time.Millisecond,
				Progress: &progress, ProgressInterval: 200 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			fc.mu.Lock()
			gaps, accepted := fc.gaps, fc.accepted
			fc.mu.Unlock()
			if tt.batch == 1 && gaps != 0 {
				t.Errorf("%d submissions out of nonce order with one transaction per request; rejections %v", gaps, rep.Rejections)
			}
			wantSetup := RunSetup{Nodes: 1, Observer: "fake", Rate: "max", DurationS: 0.6, WarmupS: 0.2, Senders: 4, Window: 8,
				Batch: tt.batch, PayloadBytes: 40, TxBytes: 123, Presigned: 1200, ChainID: "fake-chain", StartHeight: rep.Setup.StartHeight}
			if tt.rate > 0 {
				wantSetup.Rate = "400"
			}
			if rep.Setup != wantSetup {
				t.Errorf("setup = %+v\nwant    %+v", rep.Setup, wantSetup)
			}
			if rep.Committed == 0 || rep.Uncommitted != 0 || rep.Blocks.Count == 0 || rep.LatencyMs.Samples == 0 {
				t.Errorf("committed %d, uncommitted %d, blocks %d, latency samples %d; want committed > 0, nothing left, blocks and samples",
					rep.Committed, rep.Uncommitted, rep.Blocks.Count, rep.LatencyMs.Samples)
			}
			if rep.Rejections[ReasonMempoolFull] == 0 {
				t.Errorf("rejections = %v, want some mempool_full", rep.Rejections)
			}
			if tt.rate > 0 && (rep.Offered < 200 || rep.Offered > 260) {
				t.Errorf("offered %d in 0.6 s at 400 tx/s, want about 240", rep.Offered)
			}
			if accepted == 0 || !strings.Contains(progress.String(), "measure") || rep.Nodes[0].Error != "process id unknown" || rep.Bench.Samples == 0 {
				t.Errorf("accepted %d; progress %q; nodes %+v; bench %+v", accepted, progress.String(), rep.Nodes, rep.Bench)
			}
		})
	}
}
