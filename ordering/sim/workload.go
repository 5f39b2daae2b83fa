package sim

import (
	"crypto/ecdsa"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain"
)

// Clients is the number of simulated client accounts that submit
// transactions, round robin.
const Clients = 4

// txHash returns the hash of a transaction's wire form, looked up for a
// transaction the clients submitted (blocks near max_block_bytes make
// hashing their transactions again the simulator's largest cost).
func (w *workload) txHash(tx []byte) chain.Hash {
	if h, ok := w.hashes[string(tx)]; ok {
		return h
	}
	return crypto.Keccak256Hash(tx)
}

// certKey identifies a certificate by the hash of its encoding.
func certKey(c *chain.Certificate) chain.Hash {
	enc, err := rlp.EncodeToBytes(c)
	if err != nil {
		panic(fmt.Sprintf("sim: encoding certificate: %v", err))
	}
	return crypto.Keccak256Hash(enc)
}

// submittedTx is a transaction a client submitted.
type submittedTx struct {
	raw    []byte
	hash   chain.Hash
	sender chain.Address
}

// workload is the simulated clients: real signed chain.Tx values with
// per-client nonces, numbered in submission order.
type workload struct {
	chainID string
	keys    []*ecdsa.PrivateKey
	addrs   []chain.Address
	nonces  []uint64
	txs     []submittedTx
	index   map[chain.Hash]int    // tx hash → position in txs
	hashes  map[string]chain.Hash // wire form → hash of every tx in txs
	padding int                   // bytes added to each payload (FaultBigBlocks)
}

func newWorkload(seed uint64, chainID string) *workload {
	w := &workload{chainID: chainID, index: make(map[chain.Hash]int), hashes: make(map[string]chain.Hash)}
	for i := range Clients {
		k := DeriveKey(domainClientKey, seed, i)
		w.keys = append(w.keys, k)
		w.addrs = append(w.addrs, crypto.PubkeyToAddress(k.PublicKey))
		w.nonces = append(w.nonces, 0)
	}
	return w
}

// next signs the next client transaction.
func (w *workload) next() (submittedTx, error) {
	n := len(w.txs)
	c := n % Clients
	payload := fmt.Appendf(nil, "k%d=v%d", n, n)
	for i := range w.padding {
		payload = append(payload, byte('a'+i%26))
	}
	tx, err := chain.SignTx(w.keys[c], w.chainID, w.nonces[c], payload)
	if err != nil {
		return submittedTx{}, fmt.Errorf("sim workload tx %d: %w", n, err)
	}
	w.nonces[c]++
	st := submittedTx{raw: tx.Bytes(), hash: tx.Hash(), sender: w.addrs[c]}
	w.index[st.hash] = n
	w.hashes[string(st.raw)] = st.hash
	w.txs = append(w.txs, st)
	return st, nil
}

// Errors returned by the simulator's ProposalChecker.
var (
	ErrTxNotSubmitted = errors.New("transaction was never submitted")
	ErrTxWrongSender  = errors.New("transaction sender does not match its submitter")
	ErrTxDuplicate    = errors.New("transaction appears twice in the block")
)

// proposalChecker is the simulator's ordering.ProposalChecker: every
// transaction in a proposal was submitted by a client, is attributed to the
// client that submitted it, and appears once. A tx is never unsubmitted, so
// the answer for a given block never changes once it is yes.
type proposalChecker struct{ w *workload }

// CheckProposal implements ordering.ProposalChecker.
func (pc proposalChecker) CheckProposal(b *chain.Block) error {
	if len(b.Txs) != len(b.Senders) {
		return fmt.Errorf("%w: %d txs, %d senders", chain.ErrSendersMismatch, len(b.Txs), len(b.Senders))
	}
	seen := make(map[chain.Hash]struct{}, len(b.Txs))
	for i, tx := range b.Txs {
		h := pc.w.txHash(tx)
		j, ok := pc.w.index[h]
		if !ok {
			return fmt.Errorf("tx %d %s: %w", i, short(h), ErrTxNotSubmitted)
		}
		if pc.w.txs[j].sender != b.Senders[i] {
			return fmt.Errorf("tx %d %s: %w", i, short(h), ErrTxWrongSender)
		}
		if _, dup := seen[h]; dup {
			return fmt.Errorf("tx %d %s: %w", i, short(h), ErrTxDuplicate)
		}
		seen[h] = struct{}{}
	}
	return nil
}
