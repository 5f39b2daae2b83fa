package node

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/genesis"
	"github.com/bafomet/bafomet/mempool"
	"github.com/bafomet/bafomet/ordering"
	"github.com/bafomet/bafomet/rpc"
)

// backend serves the RPC server from the node's store, mempool, driver
// state and p2p host. Every method is safe for concurrent use.
type backend struct{ n *Node }

var _ rpc.Backend = (*backend)(nil)

func (b *backend) ChainID() string              { return b.n.gen.ChainID }
func (b *backend) GenesisHash() chain.Hash      { return b.n.genesisHash }
func (b *backend) Height() uint64               { return b.n.height.Load() }
func (b *backend) BlockNotify() <-chan struct{} { return b.n.blockNotify }

func (b *backend) BlockByHeight(h uint64) (*rpc.StoredBlock, error) {
	if h == 0 || h > b.n.height.Load() {
		return nil, nil
	}
	return b.stored(b.n.store().Block(h))
}

func (b *backend) BlockByHash(hash chain.Hash) (*rpc.StoredBlock, error) {
	return b.stored(b.n.store().BlockByHash(hash))
}

func (b *backend) stored(blk *chain.Block, err error) (*rpc.StoredBlock, error) {
	if errors.Is(err, chain.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cert, err := b.n.store().Certificate(blk.Header.Height)
	if err != nil {
		return nil, err
	}
	return &rpc.StoredBlock{Block: blk, Certificate: cert}, nil
}

func (b *backend) Receipts(h uint64) ([]chain.Receipt, error) {
	rs, err := b.n.store().Receipts(h)
	if errors.Is(err, chain.ErrNotFound) {
		return nil, nil
	}
	return rs, err
}

func (b *backend) Transaction(hash chain.Hash) (*rpc.TxInfo, error) {
	rec, err := b.n.store().Tx(hash)
	switch {
	case err == nil:
		return b.committedTx(rec)
	case !errors.Is(err, chain.ErrNotFound):
		return nil, err
	}
	st, ok := b.n.pool.Lookup(hash)
	if !ok {
		return nil, nil
	}
	info := &rpc.TxInfo{Sender: st.Sender, Nonce: st.Nonce, Tx: st.Tx}
	switch st.Status {
	case mempool.StatusPending:
		info.Status = rpc.TxPending
	case mempool.StatusQueued:
		info.Status = rpc.TxQueued
	default:
		info.Status, info.Reason = rpc.TxDropped, dropReason(st)
	}
	return info, nil
}

// dropReasons phrase the mempool's drop rules for clients.
var dropReasons = map[mempool.DropKind]string{
	mempool.DropTTL:            "time-to-live expired",
	mempool.DropNonceOvertaken: "nonce overtaken by a committed transaction",
	mempool.DropRecheck:        "rejected by the application after a commit",
	mempool.DropEvicted:        "evicted to make room",
}

// dropReason is "<rule> (<detail>)", e.g. "time-to-live expired (held
// 10m0.2s, ttl 10m0s)".
func dropReason(st mempool.TxStatus) string {
	rule, ok := dropReasons[st.Drop]
	if !ok {
		rule = st.Drop.String()
	}
	if st.Reason == "" {
		return rule
	}
	return rule + " (" + st.Reason + ")"
}

func (b *backend) committedTx(rec *chain.TxRecord) (*rpc.TxInfo, error) {
	blk, err := b.n.store().Block(rec.Height)
	if err != nil {
		return nil, err
	}
	if rec.Index >= uint64(len(blk.Txs)) {
		return nil, fmt.Errorf("tx index %d out of range in block %d", rec.Index, rec.Height)
	}
	tx, err := chain.DecodeTx(blk.Txs[rec.Index], 0)
	if err != nil {
		return nil, fmt.Errorf("decode committed tx: %w", err)
	}
	receipt := rec.Receipt
	return &rpc.TxInfo{
		Status: rpc.TxCommitted, Tx: tx, Sender: blk.Senders[rec.Index],
		Height: rec.Height, Index: int(rec.Index), Receipt: &receipt,
	}, nil
}

// mempoolToRPC maps each mempool refusal to the RPC error it is reported as.
var mempoolToRPC = []struct{ from, to error }{
	{mempool.ErrMalformed, rpc.ErrMalformedTx},
	{mempool.ErrWrongChain, rpc.ErrWrongChainID},
	{mempool.ErrTooLarge, rpc.ErrTxTooLarge},
	{mempool.ErrBadSignature, rpc.ErrBadSignature},
	{mempool.ErrNonceTooLow, rpc.ErrNonceTooLow},
	{mempool.ErrNonceTooFarAhead, rpc.ErrNonceTooFarAhead},
	{mempool.ErrNonceTaken, rpc.ErrNonceTaken},
	{mempool.ErrSenderFull, rpc.ErrSenderFull},
	{mempool.ErrRejectedByApp, rpc.ErrRejectedByApp},
	{mempool.ErrAlreadyKnown, rpc.ErrAlreadyKnown},
	{mempool.ErrFull, rpc.ErrMempoolFull},
}

func (b *backend) SendTx(tx *chain.Tx) error {
	if b.n.disk.Low() {
		return b.n.disk.refusal()
	}
	if _, err := b.n.pool.AddTx(tx); err != nil {
		for _, m := range mempoolToRPC {
			if errors.Is(err, m.from) {
				return &rpcRefusal{code: m.to, err: err}
			}
		}
		return err
	}
	b.n.wakeDriver()
	return nil
}

// rpcRefusal reports a mempool refusal as the RPC error code sentinel
// matches, with one message: the mempool's, which already starts with the
// same words ("wrong chain id: got …"), or the sentinel's before it when it
// does not.
type rpcRefusal struct {
	code error // an rpc sentinel, for errors.Is
	err  error // the mempool's refusal
}

func (e *rpcRefusal) Error() string {
	msg := e.err.Error()
	if prefix := e.code.Error(); !strings.HasPrefix(msg, prefix) {
		msg = prefix + ": " + msg
	}
	return msg
}

func (e *rpcRefusal) Is(target error) bool { return target == e.code }
func (e *rpcRefusal) Unwrap() error        { return e.err }

func (b *backend) Nonce(addr chain.Address, pending bool) (uint64, error) {
	if pending {
		return b.n.pool.PendingNonce(addr)
	}
	return b.n.store().Nonce(addr)
}

func (b *backend) NodeStatus() rpc.NodeStatus {
	st := rpc.NodeStatus{
		NodeAddress: b.n.vals.Validator(b.n.self).Address,
		PeerID:      b.n.host.PeerID().String(),
	}
	st.EarliestHeight, _ = b.n.store().EarliestHeight()
	if s := b.n.soft.Load(); s != nil {
		st.View = s.View
		st.Primary = b.n.vals.Validator(s.Primary).Address
	}
	if p, restoring := b.n.stateSyncProgress(); restoring {
		st.Syncing = true
		st.Sync = &rpc.SyncProgress{Mode: "state", Current: b.n.height.Load(), Target: p.Height, State: &rpc.StateSyncProgress{
			SnapshotHeight: p.Height, ChunksDone: p.ChunksDone, Chunks: p.Chunks, Bytes: p.Bytes, TotalBytes: p.TotalBytes,
			BytesPerSec: p.BytesPerSec, EtaSeconds: p.ETA.Seconds(), Faults: p.Faults,
		}}
	} else if ss, syncing := b.n.syncer.Status(); syncing {
		st.Syncing = true
		st.Sync = &rpc.SyncProgress{Mode: "block", Current: b.n.height.Load(), Target: ss.Target, BlocksPerSec: ss.BlocksPerSec}
	}
	for _, p := range b.n.host.Peers() {
		if p.Validator && p.Connected {
			st.Peers++
		}
	}
	return st
}

func (b *backend) Validators() []rpc.ValidatorInfo {
	online := make(map[int]bool)
	for _, p := range b.n.host.Peers() {
		if p.Validator && p.Connected {
			online[p.Index] = true
		}
	}
	online[b.n.self] = true
	out := make([]rpc.ValidatorInfo, b.n.vals.Size())
	for i := range out {
		v := b.n.vals.Validator(i)
		id, _ := genesis.PeerID(v.PubKey) // the set was built from valid keys
		out[i] = rpc.ValidatorInfo{Validator: v, PeerID: id.String(), Online: online[i]}
	}
	return out
}

func (b *backend) Evidence() []ordering.Evidence { return b.n.evidence.list() }

// Applications returns the application the chain runs and a fresh
// instance of every other application of the node's registry.
func (b *backend) Applications() []chain.Application {
	running := b.n.exec().App()
	out := []chain.Application{running}
	for _, name := range b.n.apps.Names() {
		if name == running.Name() {
			continue
		}
		app, err := b.n.apps.New(name)
		if err != nil {
			continue // a registered name always has a factory
		}
		out = append(out, app)
	}
	return out
}

func (b *backend) ReadAppState(app string, fn func(chain.StateReader) error) error {
	if app != b.n.gen.App {
		return fmt.Errorf("%w: this chain runs %q", rpc.ErrAppNotServed, b.n.gen.App)
	}
	return b.n.exec().ReadState(fn)
}

func (b *backend) MempoolStatus() rpc.MempoolStatus {
	st := b.n.pool.Stats()
	c := b.n.pool.Config()
	return rpc.MempoolStatus{Size: st.Size, Bytes: int64(st.Bytes), Limit: c.MaxTxs, BytesLimit: int64(c.MaxBytes),
		Queued: st.Queued, QueuedLimit: c.MaxQueued}
}
