package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/bafomet/bafomet/chain"
)

// chainAPI serves the chain_ namespace. Method names are the Go names with
// the first letter lowered (geth's rule): SendTransaction is
// chain_sendTransaction. Parameters are *json.RawMessage; see params.go.
type chainAPI struct{ s *Server }

// SendTransaction submits a signed transaction in wire form and returns its
// hash.
func (api *chainAPI) SendTransaction(ctx context.Context, txHex *json.RawMessage) (_ chain.Hash, err error) {
	defer api.s.observe("chain_sendTransaction", time.Now(), &err)
	if _, err := api.s.admit(ctx, "chain_sendTransaction"); err != nil {
		return chain.Hash{}, err
	}
	raw, err := hexParam("txHex", txHex)
	if err != nil {
		return chain.Hash{}, err
	}
	tx, err := chain.DecodeTx(raw, 0)
	if err != nil {
		return chain.Hash{}, decodeTxError(err)
	}
	if err := api.s.backend.SendTx(tx); err != nil {
		return chain.Hash{}, toRPCError(err)
	}
	return tx.Hash(), nil
}

// signatureFormErrs are DecodeTx errors about the signature rather than the
// encoding; they get CodeBadSignature, not invalid params.
var signatureFormErrs = []error{chain.ErrTxSigLength, chain.ErrTxSigHighS, chain.ErrTxSigBadV, chain.ErrTxSigInvalid}

func decodeTxError(err error) error {
	for _, s := range signatureFormErrs {
		if errors.Is(err, s) {
			return &Error{Code: CodeBadSignature, Message: fmt.Sprintf("%v: %v", ErrBadSignature, err)}
		}
	}
	return invalidParams("txHex", "%v: %v", ErrMalformedTx, err)
}

// GetTransaction returns a transaction's status, or null when unknown.
func (api *chainAPI) GetTransaction(ctx context.Context, hash *json.RawMessage) (_ *TxResult, err error) {
	defer api.s.observe("chain_getTransaction", time.Now(), &err)
	if _, err := api.s.admit(ctx, "chain_getTransaction"); err != nil {
		return nil, err
	}
	h, err := hashParam("hash", hash)
	if err != nil {
		return nil, err
	}
	info, err := api.s.backend.Transaction(h)
	if err != nil {
		return nil, internalError("get transaction", err)
	}
	if info == nil {
		return nil, nil
	}
	return txResultJSON(h, info), nil
}

// BlockNumber returns the latest committed height.
func (api *chainAPI) BlockNumber(ctx context.Context) (_ uint64, err error) {
	defer api.s.observe("chain_blockNumber", time.Now(), &err)
	if _, err := api.s.admit(ctx, "chain_blockNumber"); err != nil {
		return 0, err
	}
	return api.s.backend.Height(), nil
}

// GetBlockByNumber returns the block at a height (or "latest"), or null.
func (api *chainAPI) GetBlockByNumber(ctx context.Context, number, fullTransactions *json.RawMessage) (_ *Block, err error) {
	defer api.s.observe("chain_getBlockByNumber", time.Now(), &err)
	if _, err := api.s.admit(ctx, "chain_getBlockByNumber"); err != nil {
		return nil, err
	}
	h, err := api.s.heightParam("number", number)
	if err != nil {
		return nil, err
	}
	full, err := boolParam("fullTransactions", fullTransactions)
	if err != nil {
		return nil, err
	}
	sb, err := api.s.backend.BlockByHeight(h)
	return api.s.blockResult(sb, err, full)
}

// GetBlockByHash returns the block with a hash, or null.
func (api *chainAPI) GetBlockByHash(ctx context.Context, hash, fullTransactions *json.RawMessage) (_ *Block, err error) {
	defer api.s.observe("chain_getBlockByHash", time.Now(), &err)
	if _, err := api.s.admit(ctx, "chain_getBlockByHash"); err != nil {
		return nil, err
	}
	h, err := hashParam("hash", hash)
	if err != nil {
		return nil, err
	}
	full, err := boolParam("fullTransactions", fullTransactions)
	if err != nil {
		return nil, err
	}
	sb, err := api.s.backend.BlockByHash(h)
	return api.s.blockResult(sb, err, full)
}

// GetCertificate returns the commit certificate of a height, or null.
func (api *chainAPI) GetCertificate(ctx context.Context, number *json.RawMessage) (_ *Certificate, err error) {
	defer api.s.observe("chain_getCertificate", time.Now(), &err)
	sb, err := api.certifiedBlock(ctx, "chain_getCertificate", number)
	if sb == nil || err != nil {
		return nil, err
	}
	return certificateJSON(sb.Certificate, api.s.validatorAddrs()), nil
}

// VerifyCertificate checks the commit certificate of a height against the
// genesis validator set, as `bafomet verify block` does, and returns the
// verdict, or null when there is no block at that height.
func (api *chainAPI) VerifyCertificate(ctx context.Context, number *json.RawMessage) (_ *CertificateVerdict, err error) {
	defer api.s.observe("chain_verifyCertificate", time.Now(), &err)
	sb, err := api.certifiedBlock(ctx, "chain_verifyCertificate", number)
	if sb == nil || err != nil {
		return nil, err
	}
	infos := api.s.backend.Validators()
	vals := make([]chain.Validator, len(infos))
	for i, v := range infos {
		vals[i] = v.Validator
	}
	vs, err := chain.NewValidatorSet(vals)
	if err != nil {
		return nil, internalError("validator set", err)
	}
	return certificateVerdict(api.s.backend.ChainID(), vs, sb), nil
}

// certifiedBlock admits a call of method and reads the stored block at the
// height its number parameter names; nil (and no error) when there is
// none.
func (api *chainAPI) certifiedBlock(ctx context.Context, method string, number *json.RawMessage) (*StoredBlock, error) {
	if _, err := api.s.admit(ctx, method); err != nil {
		return nil, err
	}
	h, err := api.s.heightParam("number", number)
	if err != nil {
		return nil, err
	}
	sb, err := api.s.backend.BlockByHeight(h)
	if err != nil {
		return nil, internalError("get certificate", err)
	}
	return sb, nil
}

// GetNonce returns an address's next nonce: committed, or counting the
// mempool when the second parameter is "pending".
func (api *chainAPI) GetNonce(ctx context.Context, address, tag *json.RawMessage) (_ uint64, err error) {
	defer api.s.observe("chain_getNonce", time.Now(), &err)
	if _, err := api.s.admit(ctx, "chain_getNonce"); err != nil {
		return 0, err
	}
	addr, err := addressParam("address", address)
	if err != nil {
		return 0, err
	}
	pending := false
	if present(tag) {
		t, err := stringParam("tag", tag)
		if err != nil {
			return 0, err
		}
		switch t {
		case "pending":
			pending = true
		case "latest":
		default:
			return 0, invalidParams("tag", `want "pending" or "latest", got %s`, strconv.Quote(t))
		}
	}
	n, err := api.s.backend.Nonce(addr, pending)
	if err != nil {
		return 0, internalError("get nonce", err)
	}
	return n, nil
}

// Status returns the node's view of the chain.
func (api *chainAPI) Status(ctx context.Context) (_ *Status, err error) {
	defer api.s.observe("chain_status", time.Now(), &err)
	if _, err := api.s.admit(ctx, "chain_status"); err != nil {
		return nil, err
	}
	b := api.s.backend
	ns := b.NodeStatus()
	st := &Status{
		ChainID: b.ChainID(), GenesisHash: b.GenesisHash(), NodeAddress: ns.NodeAddress, PeerID: ns.PeerID,
		Height: b.Height(), EarliestHeight: max(ns.EarliestHeight, 1), View: ns.View, Primary: ns.Primary,
		Syncing: ns.Syncing, Peers: ns.Peers, Sync: ns.Sync,
	}
	if st.Height == 0 {
		return st, nil
	}
	sb, err := b.BlockByHeight(st.Height)
	if err != nil {
		return nil, internalError("status: read latest block", err)
	}
	if sb != nil {
		hash, ts := sb.Block.Hash(), sb.Block.Header.Timestamp
		st.LatestBlockHash, st.LatestBlockTime = &hash, &ts
	}
	return st, nil
}

// Validators returns the validator set with each validator's liveness.
func (api *chainAPI) Validators(ctx context.Context) (_ []Validator, err error) {
	defer api.s.observe("chain_validators", time.Now(), &err)
	if _, err := api.s.admit(ctx, "chain_validators"); err != nil {
		return nil, err
	}
	vals := api.s.backend.Validators()
	out := make([]Validator, len(vals))
	for i, v := range vals {
		out[i] = Validator{
			Name: v.Validator.Name, Address: v.Validator.Address, PublicKey: v.Validator.PubKey,
			PeerID: v.PeerID, Online: v.Online,
		}
	}
	return out, nil
}

// Evidence returns the equivocation evidence the node has seen.
func (api *chainAPI) Evidence(ctx context.Context) (_ []Evidence, err error) {
	defer api.s.observe("chain_evidence", time.Now(), &err)
	if _, err := api.s.admit(ctx, "chain_evidence"); err != nil {
		return nil, err
	}
	return evidenceJSON(api.s.backend.Evidence()), nil
}

// heightParam decodes a height or "latest" (the current height).
func (s *Server) heightParam(name string, raw *json.RawMessage) (uint64, error) {
	h, latest, err := blockNumberParam(name, raw)
	if err != nil {
		return 0, err
	}
	if latest {
		return s.backend.Height(), nil
	}
	return h, nil
}

func (s *Server) blockResult(sb *StoredBlock, err error, full bool) (*Block, error) {
	if err != nil {
		return nil, internalError("get block", err)
	}
	if sb == nil {
		return nil, nil
	}
	b, err := blockJSON(sb, full, s.validatorAddrs())
	if err != nil {
		return nil, internalError("get block", err)
	}
	return b, nil
}

// mempoolAPI serves the mempool_ namespace.
type mempoolAPI struct{ s *Server }

// Status returns the mempool's occupancy and limits.
func (api *mempoolAPI) Status(ctx context.Context) (_ *Mempool, err error) {
	defer api.s.observe("mempool_status", time.Now(), &err)
	if _, err := api.s.admit(ctx, "mempool_status"); err != nil {
		return nil, err
	}
	m := api.s.backend.MempoolStatus()
	return &Mempool{Size: m.Size, Bytes: m.Bytes, Limit: m.Limit, BytesLimit: m.BytesLimit, Queued: m.Queued, QueuedLimit: m.QueuedLimit}, nil
}
