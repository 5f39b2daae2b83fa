package node

import (
	"context"
	"errors"
	"time"

	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/mempool"
	"github.com/bafomet/bafomet/p2p"
)

// Transaction gossip sends transactions to every validator once they are
// ready (the mempool hands out none queued behind a nonce gap, so one
// node's queue cannot fill its peers'), in batches — one frame per
// interval rather than one write per transaction. A frame is the RLP list
// of the transactions' wire forms.
const (
	gossipInterval = 5 * time.Millisecond
	gossipMaxBatch = 512
	// expireInterval is how often the mempool's time-to-live is enforced,
	// and how often transactions still waiting are sent again.
	expireInterval = time.Second
	// resendAge is how long a transaction waits in the mempool before it
	// is sent to the validators again (mempool.TakeStale).
	resendAge = 2 * time.Second
)

// gossipTxs drains the mempool's gossip queue and broadcasts it in frames
// no larger than the tx-frame limit.
func (n *Node) gossipTxs(ctx context.Context) {
	t := time.NewTicker(gossipInterval)
	defer t.Stop()
	expire := time.NewTicker(expireInterval)
	defer expire.Stop()
	limit := n.cfg.P2P.MaxTxFrameBytes
	for {
		select {
		case <-ctx.Done():
			return
		case <-expire.C:
			n.pool.Expire() // TTLs run out even while no block commits
			// A peer may have dropped a frame or refused a transaction it
			// could not take then; send what still waits once more.
			n.broadcastTxs(n.pool.TakeStale(resendAge, gossipMaxBatch), limit)
			continue
		case <-t.C:
		}
		for {
			txs := n.pool.TakeGossip(gossipMaxBatch)
			if len(txs) == 0 {
				break
			}
			n.broadcastTxs(txs, limit)
		}
	}
}

// broadcastTxs sends txs to every validator in frames of at most limit
// bytes.
func (n *Node) broadcastTxs(txs [][]byte, limit int) {
	for _, frame := range packTxFrames(txs, limit) {
		n.host.Broadcast(p2p.ProtoTx, frame)
	}
}

// packTxFrames splits txs into RLP-list frames of at most limit bytes. A
// single transaction never exceeds the limit (the config check keeps
// max_tx_frame_bytes above genesis max_tx_bytes).
func packTxFrames(txs [][]byte, limit int) [][]byte {
	var frames [][]byte
	start, size := 0, 0
	flush := func(end int) {
		if end > start {
			enc, _ := rlp.EncodeToBytes(txs[start:end]) // [][]byte always encodes
			frames = append(frames, enc)
		}
		start, size = end, 0
	}
	for i, tx := range txs {
		if need := len(tx) + 9; size+need > limit-9 && i > start {
			flush(i)
		}
		size += len(tx) + 9 // RLP string header ≤ 9 bytes
	}
	flush(len(txs))
	return frames
}

// admitGossip admits gossiped transactions; the node runs one such worker
// per core, so signature recovery proceeds in parallel and never delays
// consensus frames, which arrive on a channel of their own.
func (n *Node) admitGossip(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case in, ok := <-n.host.TxInbound():
			if !ok {
				return
			}
			n.addGossiped(in)
		}
	}
}

// addGossiped admits each transaction of a gossip frame through the same
// path as RPC submissions. Refusals are expected (already known, nonce
// overtaken) and only logged at debug.
//
// While block sync runs the frame is skipped: this node's state is behind,
// so most of what peers gossip commits before it reaches the tip, and
// recovering those senders would take the CPU that sync needs. It is
// skipped too while the disk guard pauses the node. Nothing is lost: the
// peers that admitted them keep them and send what still waits
// again (resendAge), and clients may still submit here over RPC.
func (n *Node) addGossiped(in p2p.Inbound) {
	if n.disk.Low() {
		return
	}
	if _, syncing := n.syncer.Status(); syncing {
		n.syncer.gossipSkipped.Add(1)
		return
	}
	var txs [][]byte
	if err := rlp.DecodeBytes(in.Data, &txs); err != nil {
		n.log.Debug("undecodable transaction frame", "from", in.From, "err", err)
		return
	}
	added := 0
	for _, raw := range txs {
		if _, err := n.pool.AddRelayed(raw); err != nil {
			if !errors.Is(err, mempool.ErrAlreadyKnown) {
				n.log.Debug("gossiped transaction refused", "from", in.From, "err", err)
			}
			continue
		}
		added++
	}
	if added > 0 {
		n.wakeDriver()
	}
}

// wakeDriver tells the driver that the mempool changed.
func (n *Node) wakeDriver() {
	select {
	case n.txWake <- struct{}{}:
	default:
	}
}
