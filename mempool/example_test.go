package mempool_test

import (
	"errors"
	"fmt"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/mempool"
	"github.com/ethereum/go-ethereum/crypto"
)

// nonces is a committed state without application rules.
type nonces map[chain.Address]uint64

func (n nonces) NextNonce(a chain.Address) (uint64, error) { return n[a], nil }
func (n nonces) CheckTx(chain.TxContext, []byte) error     { return nil }

// Example shows a transaction's path: admission, a gap that fills, reaping
// for a block, and the commit.
func Example() {
	key, _ := crypto.GenerateKey()
	sender := crypto.PubkeyToAddress(key.PublicKey)
	sign := func(nonce uint64) []byte {
		tx, err := chain.SignTx(key, "demo", nonce, []byte("k=v"))
		if err != nil {
			panic(err)
		}
		return tx.Bytes()
	}
	state := nonces{}
	mp := mempool.New(mempool.Config{}, "demo", state)

	mp.Add(sign(1)) // held behind the missing nonce 0
	info, _ := mp.SenderInfo(sender)
	fmt.Println(len(info.Ready), len(info.Queued), info.Gap)

	mp.Add(sign(0)) // fills the gap
	_, err := mp.Add(sign(0))
	fmt.Println(errors.Is(err, mempool.ErrAlreadyKnown), mempool.ReasonOf(err))

	batch := mp.Reap(100, 1<<20)
	fmt.Println(batch.Len(), "reaped;", mp.Reap(100, 1<<20).Len(), "more while reserved")

	state[sender] = 2 // the executor committed both
	mp.Update(1, &chain.Block{Txs: batch.Txs, Senders: batch.Senders})
	fmt.Println(mp.Stats().Size, "held after commit")
	// Output:
	// 0 1 waiting for nonce 0
	// true already_known
	// 2 reaped; 0 more while reserved
	// 0 held after commit
}
