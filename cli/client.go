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
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/client"
	"github.com/bafomet/bafomet/rpc"
)

// Client commands: they talk to a node over its JSON-RPC API (docs/rpc.md).

const defaultRPCURL = "http://" + rpc.DefaultListenAddr

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
			"With --wait, wait (by block subscription) until it is committed or dropped and print chain_getTransaction's JSON.\n"+
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
	c, err := conn.dial(ctx)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	defer c.Close()
	tx, err := buildTx(ctx, c, key, *chainID, *nonceArg, []byte(*payload))
	if err != nil {
		return fail(stderr, f.name, err)
	}
	hash, err := c.SendRawTx(ctx, tx)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	if !*wait {
		fmt.Fprintln(stdout, hash.Hex())
		return exitOK
	}
	res, err := c.WaitTx(ctx, hash)
	if err != nil && !errors.Is(err, client.ErrDropped) {
		return fail(stderr, f.name, err)
	}
	out, err := json.Marshal(res)
	if err != nil {
		return fail(stderr, f.name, err)
	}
	fmt.Fprintln(stdout, string(out))
	return exitOK
}

// buildTx fills in the chain id and nonce from the node when asked to and
// signs the transaction.
func buildTx(ctx context.Context, c *client.Client, priv *ecdsa.PrivateKey, chainID, nonceArg string, payload []byte) (*chain.Tx, error) {
	if chainID == "" {
		st, err := c.Status(ctx)
		if err != nil {
			return nil, err
		}
		chainID = st.ChainID
	}
	var nonce uint64
	var err error
	if nonceArg == "auto" {
		if nonce, err = c.Nonce(ctx, crypto.PubkeyToAddress(priv.PublicKey), true); err != nil {
			return nil, err
		}
	} else if nonce, err = strconv.ParseUint(nonceArg, 10, 64); err != nil {
		return nil, fmt.Errorf(`--nonce: want "auto" or a number, got %q`, nonceArg)
	}
	return chain.SignTx(priv, chainID, nonce, payload)
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
	c, err := conn.dial(ctx)
	if err != nil {
		return fail(stderr, name, err)
	}
	defer c.Close()
	var raw json.RawMessage
	if err := c.Call(ctx, &raw, method, params...); err != nil {
		return fail(stderr, name, err)
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
			"or the connection drops, resubscribe from the next height, so no block is skipped or repeated.")
	conn := addRPCFlags(f, defaultRPCURL, "node JSON-RPC URL (http:// is dialled as ws://, https:// as wss://)")
	from := f.Uint64("from", 0, "first height to print (default: the next block)")
	count := f.Uint64("count", 0, "exit after this many blocks (default: run until interrupted)")
	if _, code, ok := f.parse(args, 0, stdout, stderr); !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := subscribeBlocks(ctx, conn, *from, *count, stdout); err != nil {
		if errors.Is(err, context.Canceled) {
			return exitOK
		}
		return fail(stderr, f.name, err)
	}
	return exitOK
}

// subscribeBlocks prints blocks from height from (0: the next one) until
// ctx ends or count blocks were printed. The client's subscription
// resumes by itself from the next height when the node ends it as too
// slow or the connection drops.
func subscribeBlocks(ctx context.Context, conn *rpcFlags, from, count uint64, stdout io.Writer) error {
	c, err := conn.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	sub, err := c.SubscribeBlocks(ctx, from)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	printed := uint64(0)
	for b := range sub.C {
		out, err := json.Marshal(b)
		if err != nil {
			return fmt.Errorf("encode block %d: %w", b.Height, err)
		}
		fmt.Fprintln(stdout, string(out))
		if printed++; count > 0 && printed >= count {
			return nil
		}
	}
	return sub.Err()
}
