package rpc

import (
	"fmt"
	"slices"

	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/ordering"
)

// validatorAddrs maps validator indexes to addresses for certificates.
type validatorAddrs []chain.Address

func (s *Server) validatorAddrs() validatorAddrs {
	vals := s.backend.Validators()
	out := make(validatorAddrs, len(vals))
	for i, v := range vals {
		out[i] = v.Validator.Address
	}
	return out
}

func (va validatorAddrs) at(i uint32) chain.Address {
	if int64(i) < int64(len(va)) {
		return va[i]
	}
	return chain.Address{}
}

// certificateJSON converts a commit certificate.
func certificateJSON(c *chain.Certificate, va validatorAddrs) *Certificate {
	if c == nil {
		return nil
	}
	out := &Certificate{Height: c.Height, View: c.View, BlockHash: c.BlockHash, Signatures: make([]CertSignature, len(c.Signatures))}
	for i, s := range c.Signatures {
		out.Signatures[i] = CertSignature{Validator: s.Validator, Address: va.at(s.Validator), Signature: s.Signature}
	}
	return out
}

// blockJSON converts a stored block; with full, transactions are decoded.
func blockJSON(sb *StoredBlock, full bool, va validatorAddrs) (*Block, error) {
	b := sb.Block
	h := &b.Header
	out := &Block{
		Height:         h.Height,
		Hash:           b.Hash(),
		ParentHash:     h.ParentHash,
		Timestamp:      h.Timestamp,
		Proposer:       h.Proposer,
		TxRoot:         h.TxRoot,
		AppHash:        h.AppHash,
		ValidatorsHash: h.ValidatorsHash,
		Certificate:    certificateJSON(sb.Certificate, va),
	}
	if sb.Certificate != nil {
		out.View = sb.Certificate.View
	}
	if !full {
		out.Transactions.Hashes = slices.Clone(b.TxHashes())
		return out, nil
	}
	hashes := b.TxHashes()
	out.Transactions.Full = make([]*Transaction, len(b.Txs))
	for i, raw := range b.Txs {
		tx, err := chain.DecodeTxHashed(raw, 0, hashes[i])
		if err != nil {
			return nil, fmt.Errorf("block %d transaction %d: %w", h.Height, i, err)
		}
		out.Transactions.Full[i] = &Transaction{
			Hash: tx.Hash(), ChainID: tx.ChainID, Nonce: tx.Nonce, Payload: tx.Payload,
			Signature: tx.Signature, Sender: senderAt(b, i), Height: h.Height, Index: i,
		}
	}
	return out, nil
}

func senderAt(b *chain.Block, i int) chain.Address {
	if i < len(b.Senders) {
		return b.Senders[i]
	}
	return chain.Address{}
}

// receiptJSON converts a receipt; events are never null.
func receiptJSON(r chain.Receipt) Receipt {
	ev := r.Events
	if ev == nil {
		ev = []chain.Event{}
	}
	return Receipt{Code: r.Code, Message: r.Message, Events: ev}
}

// txResultJSON converts the node's view of a transaction.
func txResultJSON(hash chain.Hash, info *TxInfo) *TxResult {
	nonce, sender := info.Nonce, info.Sender
	out := &TxResult{Hash: hash, Status: info.Status, Nonce: &nonce, Sender: &sender}
	if info.Tx != nil {
		nonce = info.Tx.Nonce
		payload := hexutil.Bytes(info.Tx.Payload)
		out.Payload = &payload
	}
	switch info.Status {
	case TxCommitted:
		height, index := info.Height, info.Index
		out.Height, out.Index = &height, &index
		if info.Receipt != nil {
			r := receiptJSON(*info.Receipt)
			out.Receipt = &r
		}
	case TxDropped:
		reason := info.Reason
		out.Reason = &reason
	}
	return out
}

// msgTypeNames names consensus message types in evidence.
var msgTypeNames = map[ordering.MsgType]string{
	ordering.MsgPrePrepare: "prePrepare",
	ordering.MsgPrepare:    "prepare",
	ordering.MsgCommit:     "commit",
	ordering.MsgCheckpoint: "checkpoint",
	ordering.MsgViewChange: "viewChange",
	ordering.MsgNewView:    "newView",
}

func msgTypeName(t ordering.MsgType) string {
	if n, ok := msgTypeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type%d", t)
}

func evidenceMessageJSON(m *ordering.Message) EvidenceMessage {
	if m == nil {
		return EvidenceMessage{}
	}
	return EvidenceMessage{Type: msgTypeName(m.Type), View: m.View, Height: m.Height, Digest: m.Digest, Signature: m.Signature}
}

// evidenceJSON converts equivocation evidence; pairs with a nil message
// are skipped since they prove nothing.
func evidenceJSON(evs []ordering.Evidence) []Evidence {
	out := make([]Evidence, 0, len(evs))
	for _, e := range evs {
		if e.A == nil || e.B == nil {
			continue
		}
		out = append(out, Evidence{
			Validator: e.A.From, Type: msgTypeName(e.A.Type), View: e.A.View, Height: e.A.Height,
			First: evidenceMessageJSON(e.A), Second: evidenceMessageJSON(e.B),
		})
	}
	return out
}

// certificateVerdict verifies a copy of sb's certificate (Verify memoizes
// into the certificate it checks) against vs, and checks that it
// certifies sb's block.
func certificateVerdict(chainID string, vs *chain.ValidatorSet, sb *StoredBlock) *CertificateVerdict {
	c := *sb.Certificate
	out := &CertificateVerdict{Height: c.Height, View: c.View, BlockHash: c.BlockHash, Quorum: vs.Quorum(),
		Validators: vs.Size(), Signers: make([]uint32, 0, len(c.Signatures))}
	for _, sig := range c.Signatures {
		out.Signers = append(out.Signers, sig.Validator)
	}
	err := c.Verify(chainID, vs)
	if err == nil && (c.BlockHash != sb.Block.Hash() || c.Height != sb.Block.Header.Height) {
		err = fmt.Errorf("certificate for block %s at height %d, the stored block is %s at height %d",
			c.BlockHash, c.Height, sb.Block.Hash(), sb.Block.Header.Height)
	}
	if err != nil {
		msg := err.Error()
		out.Error = &msg
	} else {
		out.Valid = true
	}
	return out
}
