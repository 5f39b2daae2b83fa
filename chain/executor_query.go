package chain

import "fmt"

// Query answers an application query against the latest committed state.
func (e *Executor) Query(path string, data []byte) ([]byte, error) {
	v, err := e.store.StateView()
	if err != nil {
		return nil, err
	}
	defer v.Close()
	return e.app.Query(v, path, data)
}

// ReadState runs fn against a read-only view of the latest committed
// state, closing the view when fn returns. A query method of the
// application (QueryMethod.Run) runs this way.
func (e *Executor) ReadState(fn func(StateReader) error) error {
	v, err := e.store.StateView()
	if err != nil {
		return err
	}
	defer v.Close()
	return fn(v)
}

// CheckTx runs the mempool admission checks that need committed state: the
// chain id and the application's CheckTx, with TxContext.Height set to the
// next height. It does not check the nonce (the mempool queues future
// nonces; Store.Nonce gives the committed next nonce) nor the signature
// (the caller recovered sender).
func (e *Executor) CheckTx(tx *Tx, sender Address) error {
	if tx.ChainID != e.chainID {
		return fmt.Errorf("%w: %q, want %q", ErrTxWrongChainID, tx.ChainID, e.chainID)
	}
	v, err := e.store.StateView()
	if err != nil {
		return err
	}
	defer v.Close()
	ctx := TxContext{Height: v.Height() + 1, Hash: tx.Hash(), Sender: sender, Nonce: tx.Nonce}
	if err := e.app.CheckTx(ctx, tx.Payload, v); err != nil {
		return fmt.Errorf("%s check: %w", e.app.Name(), err)
	}
	return nil
}
