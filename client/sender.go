package client

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"sync"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bafomet/bafomet/chain"
)

// Sender signs and submits transactions for one key, choosing their
// nonces. It is safe for concurrent use: submissions of one Sender are
// serialized, so its nonces are consecutive and a refused transaction
// leaves no gap (its nonce goes to the next one). Other writers with the
// same key are noticed when the node answers "nonce too low" or "nonce
// taken": the Sender asks the node for the next nonce and tries once more.
type Sender struct {
	c       *Client
	key     *ecdsa.PrivateKey
	addr    chain.Address
	chainID string

	mu    sync.Mutex
	next  uint64
	known bool // next is what the node expects
}

// NewSender returns a Sender for key on the node's chain.
func (c *Client) NewSender(ctx context.Context, key *ecdsa.PrivateKey) (*Sender, error) {
	st, err := c.Status(ctx)
	if err != nil {
		return nil, err
	}
	return &Sender{c: c, key: key, addr: crypto.PubkeyToAddress(key.PublicKey), chainID: st.ChainID}, nil
}

// Address returns the sender's account address.
func (s *Sender) Address() chain.Address { return s.addr }

// Send signs payload with the next nonce, submits it and returns the
// transaction. A refusal by the node is an *Error (errors.Is it against
// ErrMempoolFull, ErrRejectedByApp, …) and uses up no nonce.
func (s *Sender) Send(ctx context.Context, payload []byte) (*chain.Tx, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if !s.known {
			n, err := s.c.Nonce(ctx, s.addr, true)
			if err != nil {
				return nil, err
			}
			s.next, s.known = n, true
		}
		tx, err := chain.SignTx(s.key, s.chainID, s.next, payload)
		if err != nil {
			return nil, fmt.Errorf("sign transaction: %w", err)
		}
		_, err = s.c.SendRawTx(ctx, tx)
		if err == nil {
			s.next++
			return tx, nil
		}
		var refused *Error
		if !errors.As(err, &refused) {
			// The node may or may not have taken it: ask it next time.
			s.known = false
			return nil, err
		}
		if attempt == 0 && (errors.Is(err, ErrNonceTooLow) || errors.Is(err, ErrNonceTaken)) {
			s.known = false
			continue
		}
		return nil, err
	}
}
