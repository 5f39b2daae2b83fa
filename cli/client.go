package cli

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/rpc"
)

// Client commands: they talk to a node over its JSON-RPC API (docs/rpc.md).

const defaultRPCURL = "http://" + rpc.DefaultListenAddr

// waitPollInterval is how often `tx send --wait` polls for the receipt.
const waitPollInterval = 200 * time.Millisecond

func init() {
	registerSub("tx", "sign and decode transactions", &command{
		name: "send", summary: "sign and submit a transaction over JSON-RPC", run: runTxSend,
	})
	registerSub("block", "read blocks over JSON-RPC", &command{
		name: "get", summary: "print a block as JSON", run: runBlockGet,
	})
	register(&command{name: "status", summary: "print a node's chain_status as JSON", run: runStatus})
	register(&command{name: "subscribe", summary: "print committed blocks as they commit, one JSON per line", run: runSubscribe})
}

// runTxSend implements `bafomet tx send`.
func runTxSend(args []string, stdout, stderr io.Writer) int {
	f := newFlags("tx send", "--rpc URL [--ca FILE] [--token-file FILE|--jwt-secret FILE] --key FILE --payload STRING [--nonce auto|N] [--chain-id ID] [--wait]",
		"Sign a transaction with the key in FILE and submit it with chain_sendTransaction; print its hash.\n"+
			"With --wait, poll chain_getTransaction until it is committed or dropped and print that as JSON.\n"+
			"A token with only the submit permission needs --chain-id and --nonce N (the defaults ask the node).")
	conn := addRPCFlags(f, defaultRPCURL, "node JSON-RPC URL")
	keyFile := f.String("key", "", "sender's key file")
	payload := f.String("payload", "", "payload as text, e.g. key=value for the kv app")
	nonceArg := f.String("nonce", "auto", `the nonce, or "auto" for chain_getNonce(sender, "pending")`)
	chainID := f.String("chain-id", "", "chain id (default: from chain_status)")
	wait := f.Bool("wait", false, "wait until the transaction is committed or dropped")
	timeout := f.Duration("timeout", time.Minute, "how long to wait for the node, including --wait")
	f.require("key", "payload")
	if _, code, ok := f.parse(args, 0, stdout, stderr); !ok {
		return code
	}
	key, err := loadKeyFile(*keyFile)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c, err := conn.dial(ctx, *conn.url)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	defer c.Close()
	tx, err := buildTx(ctx, c, key, *chainID, *nonceArg, []byte(*payload))
	if err != nil {
		return fail(stderr, f.name, err)
	}
	var hash chain.Hash
	if err := c.CallContext(ctx, &hash, "chain_sendTransaction", hexutil.Encode(tx.Bytes())); err != nil {
		return fail(stderr, f.name, fmt.Errorf("chain_sendTransaction: %w", err))
	}
	if !*wait {
		fmt.Fprintln(stdout, hash.Hex())
		return exitOK
	}
	res, err := waitForTx(ctx, c, hash)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	fmt.Fprintln(stdout, string(res))
	return exitOK
}

// buildTx fills in the chain id and nonce from the node when asked to and
// signs the transaction.
func buildTx(ctx context.Context, c *gethrpc.Client, priv *ecdsa.PrivateKey, chainID, nonceArg string, payload []byte) (*chain.Tx, error) {
	if chainID == "" {
		var st rpc.Status
		if err := c.CallContext(ctx, &st, "chain_status"); err != nil {
			return nil, fmt.Errorf("chain_status: %w", err)
		}
		chainID = st.ChainID
	}
	var nonce uint64
	var err error
	if nonceArg == "auto" {
		addr := crypto.PubkeyToAddress(priv.PublicKey)
		if err := c.CallContext(ctx, &nonce, "chain_getNonce", addr, "pending"); err != nil {
			return nil, fmt.Errorf("chain_getNonce: %w", err)
		}
	} else if nonce, err = strconv.ParseUint(nonceArg, 10, 64); err != nil {
		return nil, fmt.Errorf(`--nonce: want "auto" or a number, got %q`, nonceArg)
	}
	return chain.SignTx(priv, chainID, nonce, payload)
}

// waitForTx polls until the transaction is committed or dropped and
// returns chain_getTransaction's result.
func waitForTx(ctx context.Context, c *gethrpc.Client, hash chain.Hash) (json.RawMessage, error) {
	t := time.NewTicker(waitPollInterval)
	defer t.Stop()
	for {
		var raw json.RawMessage
		if err := c.CallContext(ctx, &raw, "chain_getTransaction", hash); err != nil {
			return nil, fmt.Errorf("chain_getTransaction: %w", err)
		}
		var res rpc.TxResult
		if err := json.Unmarshal(raw, &res); err == nil && (res.Status == rpc.TxCommitted || res.Status == rpc.TxDropped) {
			return raw, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %s: %w", hash.Hex(), ctx.Err())
		case <-t.C:
		}
	}
}

// runBlockGet implements `bafomet block get N|latest`.
func runBlockGet(args []string, stdout, stderr io.Writer) int {
	f := newFlags("block get", "--rpc URL [--ca FILE] [--token-file FILE|--jwt-secret FILE] [--full] N|latest",
		"Print the committed block at height N (or the latest) as chain_getBlockByNumber returns it.")
	conn := addRPCFlags(f, defaultRPCURL, "node JSON-RPC URL")
	full := f.Bool("full", false, "include full transactions instead of hashes")
	timeout := f.Duration("timeout", 30*time.Second, "how long to wait for the node")
	pos, code, ok := f.parse(args, 1, stdout, stderr)
	if !ok {
		return code
	}
	var number any = "latest"
	if pos[0] != "latest" {
		n, err := strconv.ParseUint(pos[0], 10, 64)
		if err != nil {
			return f.usageError(stderr, fmt.Sprintf("want a height or latest, got %q", pos[0]))
		}
		number = n
	}
	return callAndPrint(f.name, conn, *timeout, stdout, stderr, "chain_getBlockByNumber", number, *full)
}

// runStatus implements `bafomet status`.
func runStatus(args []string, stdout, stderr io.Writer) int {
	f := newFlags("status", "--rpc URL [--ca FILE] [--token-file FILE|--jwt-secret FILE]", "Print the node's chain_status as JSON.")
	conn := addRPCFlags(f, defaultRPCURL, "node JSON-RPC URL")
	timeout := f.Duration("timeout", 30*time.Second, "how long to wait for the node")
	if _, code, ok := f.parse(args, 0, stdout, stderr); !ok {
		return code
	}
	return callAndPrint(f.name, conn, *timeout, stdout, stderr, "chain_status")
}

// callAndPrint calls one method and prints its JSON result on one line;
// a null result (nothing there) fails.
func callAndPrint(name string, conn *rpcFlags, timeout time.Duration, stdout, stderr io.Writer, method string, params ...any) int {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := conn.dial(ctx, *conn.url)
	if err != nil {
		return fail(stderr, name, err)
	}
	defer c.Close()
	var raw json.RawMessage
	if err := c.CallContext(ctx, &raw, method, params...); err != nil {
		return fail(stderr, name, fmt.Errorf("%s: %w", method, err))
	}
	if string(raw) == "null" {
		return fail(stderr, name, errors.New("not found"))
	}
	fmt.Fprintln(stdout, string(raw))
	return exitOK
}

// runSubscribe implements `bafomet subscribe`.
func runSubscribe(args []string, stdout, stderr io.Writer) int {
	f := newFlags("subscribe", "--rpc URL [--ca FILE] [--token-file FILE|--jwt-secret FILE] [--from N] [--count N]",
		"Subscribe to newBlocks over websocket and print each committed block as one line of JSON.\n"+
			"With --from, replay from height N first. If the node ends the subscription as too slow,\n"+
			"resubscribe from the height it names, so no block is skipped or repeated.")
	conn := addRPCFlags(f, defaultRPCURL, "node JSON-RPC URL (http:// is dialled as ws://, https:// as wss://)")
	from := f.Uint64("from", 0, "first height to print (default: the next block)")
	count := f.Uint64("count", 0, "exit after this many blocks (default: run until interrupted)")
	if _, code, ok := f.parse(args, 0, stdout, stderr); !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := subscribeBlocks(ctx, conn, *from, *count, stdout, stderr); err != nil {
		if errors.Is(err, context.Canceled) {
			return exitOK
		}
		return fail(stderr, f.name, err)
	}
	return exitOK
}

// wsURLOf turns an http(s) URL into the ws(s) URL of the same endpoint.
func wsURLOf(url string) string {
	switch {
	case strings.HasPrefix(url, "http://"):
		return "ws://" + strings.TrimPrefix(url, "http://")
	case strings.HasPrefix(url, "https://"):
		return "wss://" + strings.TrimPrefix(url, "https://")
	}
	return url
}

// subscribeBlocks prints blocks from height from (0: the next one) until
// ctx ends or count blocks were printed, resubscribing where the node says
// when it ends the subscription.
func subscribeBlocks(ctx context.Context, conn *rpcFlags, from, count uint64, stdout, stderr io.Writer) error {
	c, err := conn.dial(ctx, wsURLOf(*conn.url))
	if err != nil {
		return err
	}
	defer c.Close()
	printed := uint64(0)
	for {
		var opts []any
		if from > 0 {
			opts = append(opts, map[string]uint64{"fromHeight": from})
		}
		ch := make(chan json.RawMessage, 64)
		sub, err := c.Subscribe(ctx, "chain", ch, append([]any{"newBlocks"}, opts...)...)
		if err != nil {
			return fmt.Errorf("chain_subscribe: %w", err)
		}
		next, err := printBlocks(ctx, sub, ch, stdout, count, &printed)
		sub.Unsubscribe()
		if err != nil || next == 0 {
			return err
		}
		fmt.Fprintf(stderr, "subscription ended by the node; resuming from height %d\n", next)
		from = next
	}
}

// printBlocks prints notifications until the subscription ends. It returns
// the height to resume from when the node ended it with a
// SubscriptionError, and 0 when done.
func printBlocks(ctx context.Context, sub *gethrpc.ClientSubscription, ch chan json.RawMessage, stdout io.Writer, count uint64, printed *uint64) (uint64, error) {
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case err := <-sub.Err():
			return 0, fmt.Errorf("subscription: %w", err)
		case raw := <-ch:
			var b rpc.Block
			err := json.Unmarshal(raw, &b)
			var end *rpc.SubscriptionError
			if errors.As(err, &end) {
				return end.FromHeight, nil
			}
			if err != nil {
				return 0, fmt.Errorf("decode block: %w", err)
			}
			fmt.Fprintln(stdout, string(raw))
			*printed++
			if count > 0 && *printed >= count {
				return 0, nil
			}
		}
	}
}
