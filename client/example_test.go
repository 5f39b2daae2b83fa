package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/client"
	"github.com/bafomet/bafomet/rpc"
)

// Submit a transaction, wait for its commit and read the state it wrote.
func Example() {
	node, err := startLocalNode(nil) // a one-validator kv chain; yours has a URL like http://127.0.0.1:26601
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()
	ctx := context.Background()

	c, err := client.Dial(ctx, node.URL, client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	sender, err := c.NewSender(ctx, node.User)
	if err != nil {
		log.Fatal(err)
	}
	tx, err := sender.Send(ctx, []byte("color=blue"))
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.WaitTx(ctx, tx.Hash())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Status, "with code", res.Receipt.Code)

	var kv rpc.KVValue
	if err := c.Call(ctx, &kv, "kv_get", "color"); err != nil {
		log.Fatal(err)
	}
	fmt.Println("color is", *kv.Value)
	// Output:
	// committed with code 0
	// color is blue
}

// Follow committed blocks from height 1; the subscription resumes by
// itself after a disconnect without losing or repeating a block.
func ExampleClient_SubscribeBlocks() {
	node, err := startLocalNode(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()
	ctx := context.Background()
	c, err := client.Dial(ctx, node.URL, client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	sub, err := c.SubscribeBlocks(ctx, 1)
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Unsubscribe()
	sender, err := c.NewSender(ctx, node.User)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := sender.Send(ctx, []byte("greeting=hello")); err != nil {
		log.Fatal(err)
	}
	b := <-sub.C
	fmt.Println("block", b.Height, "with", len(b.Transactions.Hashes), "transaction")
	// Output: block 1 with 1 transaction
}

// Branch on why the node refused a transaction.
func ExampleError() {
	node, err := startLocalNode(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()
	ctx := context.Background()
	c, err := client.Dial(ctx, node.URL, client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	tx, err := chain.SignTx(node.User, "not-this-chain", 0, []byte("a=1"))
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.SendRawTx(ctx, tx)
	var refused *client.Error
	if errors.As(err, &refused) {
		fmt.Println("refused with code", refused.Code)
	}
	fmt.Println("wrong chain:", errors.Is(err, client.ErrWrongChainID), "mempool full:", errors.Is(err, client.ErrMempoolFull))
	// Output:
	// refused with code -32011
	// wrong chain: true mempool full: false
}
