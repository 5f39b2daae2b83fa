package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/bafomet/bafomet/chain"
)

// Subscriptions. Each subscription has two goroutines:
//
//   - the walker reads committed blocks from the backend at heights next,
//     next+1, … up to Height(), then sleeps until the backend reports a
//     commit. Because it walks heights itself, a replay that turns live can
//     have no gap and no duplicate at the seam.
//   - the sender writes the walker's items to the client.
//
// Between them is a channel of SubscriberBuffer items, and every item the
// walker loads takes its encoded size from its connection's byte budget
// (WSBufferBytes, shared by all the subscriptions of one connection) until
// the sender has written it. While replaying, the walker waits for budget
// and channel room as long as it takes, so a replay goes as fast as the
// client reads. Once it has caught up, the buffer and budget absorb a slow
// client and bursts of commits. The client is too slow when the walker has
// waited SubscriberStallTimeout for room, or when one write to it has been
// blocked that long (a client that stopped reading on a quiet chain never
// fills the buffer, and geth's own write timeout would otherwise close the
// connection without a word): the walker stops, and the sender delivers
// what is buffered followed by a final SubscriptionError naming the height
// to resume from.
//
// The sender hands geth one notification at a time and waits until the
// connection has written it (wsConn.Write reports each notification by its
// subscription ID). Until geth has written the subscribe response, its
// Notifier.Notify only appends to an unbounded slice; waiting for the
// write keeps that slice at one notification, whatever state the
// subscription is in.

// subOptions is the optional second argument of chain_subscribe.
type subOptions struct {
	FromHeight *uint64        `json:"fromHeight"`
	Sender     *chain.Address `json:"sender"`
}

// subItem is what one block contributes to a subscription: its
// notifications, encoded, and the budget bytes they hold.
type subItem struct {
	height   uint64
	payloads []json.RawMessage
	weight   int64 // taken from the connection's budget by push
}

// size is the encoded size of the item's notifications.
func (it subItem) size() int64 {
	var n int64
	for _, p := range it.payloads {
		n += int64(len(p))
	}
	return n
}

// encodePayloads encodes each value for a subItem.
func encodePayloads(h uint64, values ...any) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, 0, len(values))
	for _, v := range values {
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode notification for block %d: %w", h, err)
		}
		out = append(out, raw)
	}
	return out, nil
}

type subscription struct {
	s        *Server
	notifier *gethrpc.Notifier
	rpcSub   *gethrpc.Subscription
	conn     *wsConn
	load     func(h uint64) (subItem, error)
	written  chan struct{} // signalled by conn after each notification for this subscription is written
	release  func()        // counts the subscription out of its token's and address's limits

	next       uint64 // walker: next height to load
	out        chan subItem
	wake       chan struct{}
	done       chan struct{}
	stopOnce   sync.Once
	walkerDone chan struct{}
	overflowAt uint64       // set by the walker before it closes out; 0 = none
	failure    error        // set by the walker before it closes out
	writingNs  atomic.Int64 // sender: unix ns when the current write began; 0 when idle
}

// writeStalled reports whether the sender has been blocked in one write
// for longer than SubscriberStallTimeout.
func (sub *subscription) writeStalled() bool {
	t := sub.writingNs.Load()
	return t != 0 && time.Since(time.Unix(0, t)) > sub.s.cfg.SubscriberStallTimeout
}

// NewBlocks is chain_subscribe("newBlocks", {"fromHeight": N}?).
func (api *chainAPI) NewBlocks(ctx context.Context, options *json.RawMessage) (_ *gethrpc.Subscription, err error) {
	defer api.s.observe("chain_subscribe/newBlocks", time.Now(), &err)
	c, err := api.s.admit(ctx, "chain_subscribe")
	if err != nil {
		return nil, err
	}
	opts, err := parseSubOptions(options, false)
	if err != nil {
		return nil, err
	}
	va := api.s.validatorAddrs()
	load := func(h uint64) (subItem, error) {
		sb, err := api.s.backend.BlockByHeight(h)
		if err != nil {
			return subItem{}, err
		}
		if sb == nil {
			return subItem{}, fmt.Errorf("block %d missing at or below height %d", h, api.s.backend.Height())
		}
		b, err := blockJSON(sb, false, va)
		if err != nil {
			return subItem{}, err
		}
		payloads, err := encodePayloads(h, b)
		if err != nil {
			return subItem{}, err
		}
		return subItem{height: h, payloads: payloads}, nil
	}
	return api.s.subscribe(ctx, c, opts, load)
}

// Transactions is chain_subscribe("transactions", {"sender": addr?,
// "fromHeight": N?}).
func (api *chainAPI) Transactions(ctx context.Context, options *json.RawMessage) (_ *gethrpc.Subscription, err error) {
	defer api.s.observe("chain_subscribe/transactions", time.Now(), &err)
	c, err := api.s.admit(ctx, "chain_subscribe")
	if err != nil {
		return nil, err
	}
	opts, err := parseSubOptions(options, true)
	if err != nil {
		return nil, err
	}
	load := func(h uint64) (subItem, error) { return api.s.loadTxEvents(h, opts.Sender) }
	return api.s.subscribe(ctx, c, opts, load)
}

func parseSubOptions(raw *json.RawMessage, allowSender bool) (subOptions, error) {
	var opts subOptions
	if !present(raw) {
		return opts, nil
	}
	dec := json.NewDecoder(bytes.NewReader(*raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&opts); err != nil {
		return opts, invalidParams("options", "%v", err)
	}
	if opts.Sender != nil && !allowSender {
		return opts, invalidParams("options", `"sender" applies only to "transactions"`)
	}
	return opts, nil
}

// loadTxEvents returns the receipts of block h, only sender's when set.
func (s *Server) loadTxEvents(h uint64, sender *chain.Address) (subItem, error) {
	sb, err := s.backend.BlockByHeight(h)
	if err != nil {
		return subItem{}, err
	}
	if sb == nil {
		return subItem{}, fmt.Errorf("block %d missing", h)
	}
	receipts, err := s.backend.Receipts(h)
	if err != nil {
		return subItem{}, err
	}
	b := sb.Block
	if len(receipts) != len(b.Txs) {
		return subItem{}, fmt.Errorf("block %d has %d transactions but %d receipts", h, len(b.Txs), len(receipts))
	}
	var events []any
	hashes := b.TxHashes()
	for i, raw := range b.Txs {
		from := senderAt(b, i)
		if sender != nil && from != *sender {
			continue
		}
		tx, err := chain.DecodeTxHashed(raw, 0, hashes[i])
		if err != nil {
			return subItem{}, fmt.Errorf("block %d transaction %d: %w", h, i, err)
		}
		events = append(events, &TxEvent{
			Hash: tx.Hash(), Height: h, Index: i, Sender: from, Nonce: tx.Nonce, Receipt: receiptJSON(receipts[i]),
		})
	}
	payloads, err := encodePayloads(h, events...)
	if err != nil {
		return subItem{}, err
	}
	return subItem{height: h, payloads: payloads}, nil
}

// subscribe creates a subscription for caller c and starts its
// goroutines.
func (s *Server) subscribe(ctx context.Context, c *caller, opts subOptions, load func(uint64) (subItem, error)) (*gethrpc.Subscription, error) {
	notifier, ok := gethrpc.NotifierFromContext(ctx)
	if !ok {
		return nil, gethrpc.ErrNotificationsUnsupported
	}
	release, err := s.takeSub(c)
	if err != nil {
		return nil, err
	}
	next := s.backend.Height() + 1
	if opts.FromHeight != nil {
		next = max(*opts.FromHeight, 1)
		if e := s.backend.NodeStatus().EarliestHeight; next < e {
			release()
			return nil, prunedError(&chain.PrunedError{Earliest: e})
		}
	}
	sub := &subscription{
		s: s, notifier: notifier, load: load, next: next,
		out:  make(chan subItem, s.cfg.SubscriberBuffer),
		wake: make(chan struct{}, 1), done: make(chan struct{}), walkerDone: make(chan struct{}),
		written: make(chan struct{}, 1), release: release,
	}
	if err := s.register(sub, gethrpc.PeerInfoFromContext(ctx).RemoteAddr); err != nil {
		release()
		return nil, err
	}
	sub.rpcSub = notifier.CreateSubscription()
	sub.conn.track(string(sub.rpcSub.ID), sub.written)
	go sub.walk()
	go sub.send()
	return sub.rpcSub, nil
}

// register adds sub to the server and to its websocket connection, counting
// it against the connection's limit, and reserves its two goroutines in the
// wait group. Subscriptions are served only on the server's own websocket
// connections, whose writes pace them.
func (s *Server) register(sub *subscription, connKey string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return &Error{Code: CodeInternal, Message: "server is shutting down"}
	}
	c := s.wsConns[connKey]
	if c == nil {
		return gethrpc.ErrNotificationsUnsupported
	}
	if c.subs >= s.cfg.MaxSubsPerConn {
		return &Error{Code: CodeTooManySubs, Message: fmt.Sprintf("too many subscriptions on this connection: limit %d", s.cfg.MaxSubsPerConn)}
	}
	c.subs++
	sub.conn = c
	s.subs[sub] = struct{}{}
	s.metrics.subscribers.Inc()
	s.wg.Add(2)
	return nil
}

func (s *Server) unregister(sub *subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.subs, sub)
	s.metrics.subscribers.Dec()
	sub.conn.subs--
	sub.conn.untrack(string(sub.rpcSub.ID))
	sub.release()
}

// fanOut wakes every subscription after each commit.
func (s *Server) fanOut() {
	notify := s.backend.BlockNotify()
	for {
		select {
		case <-s.quit:
			return
		case <-notify:
			s.mu.Lock()
			for sub := range s.subs {
				select {
				case sub.wake <- struct{}{}:
				default:
				}
			}
			s.mu.Unlock()
		}
	}
}

func (sub *subscription) stop() { sub.stopOnce.Do(func() { close(sub.done) }) }

// walk loads heights in order into out until stopped, overflowed or failed.
func (sub *subscription) walk() {
	defer sub.s.wg.Done()
	defer close(sub.walkerDone)
	defer close(sub.out)
	live := false
	for {
		for sub.next <= sub.s.backend.Height() {
			item, err := sub.load(sub.next)
			if err != nil {
				sub.failure = err
				return
			}
			if !sub.push(item, live) {
				return
			}
			sub.next++
		}
		live = true
		if !sub.waitLive() {
			return
		}
	}
}

// waitLive sleeps until the next commit. It returns false when the walker
// must stop: the subscription ended, or the sender's write has stalled
// (then overflowAt is set).
func (sub *subscription) waitLive() bool {
	check := time.NewTicker(sub.s.cfg.SubscriberStallTimeout / 4)
	defer check.Stop()
	for {
		select {
		case <-sub.wake:
			return true
		case <-sub.done:
			return false
		case <-check.C:
			if sub.writeStalled() {
				sub.overflowAt = sub.next
				return false
			}
		}
	}
}

// push takes the item's bytes from the connection's budget and hands it
// to the sender. It returns false when the walker must stop: the
// subscription ended, or (once live) the walker waited
// SubscriberStallTimeout for budget or buffer room. While replaying it
// waits as long as the client takes to read.
func (sub *subscription) push(item subItem, live bool) bool {
	if len(item.payloads) == 0 {
		return true
	}
	var stalled <-chan time.Time
	if live {
		if sub.writeStalled() {
			sub.overflowAt = item.height
			return false
		}
		timer := time.NewTimer(sub.s.cfg.SubscriberStallTimeout)
		defer timer.Stop()
		stalled = timer.C
	}
	budget := sub.conn.budget
	if !budget.acquire(item.size(), sub.done, stalled) {
		if !sub.isDone() {
			sub.overflowAt = item.height
		}
		return false
	}
	item.weight = budget.weight(item.size())
	select {
	case sub.out <- item:
		return true
	case <-sub.done:
	case <-stalled: // nil while replaying: never fires
		sub.overflowAt = item.height
	}
	budget.release(item.weight)
	return false
}

func (sub *subscription) isDone() bool {
	select {
	case <-sub.done:
		return true
	default:
		return false
	}
}

// send writes items to the client until the walker stops or the
// subscription ends, then ends it with an error notification if the
// walker stopped on an overflow or a failure.
func (sub *subscription) send() {
	defer sub.s.wg.Done()
	defer func() {
		sub.stop()
		<-sub.walkerDone
		for item := range sub.out { // the walker closed out: give back what was not written
			sub.conn.budget.release(item.weight)
		}
		sub.s.unregister(sub)
	}()
	for {
		select {
		case item, ok := <-sub.out:
			if !ok {
				sub.sendEnd()
				return
			}
			if !sub.deliver(item) {
				return
			}
		case <-sub.rpcSub.Err():
			return
		case <-sub.s.quit:
			return
		}
	}
}

// deliver writes an item's notifications one at a time, each handed to
// geth only once the previous one has been written, and then gives back
// the item's budget. It returns false when the subscription must end.
func (sub *subscription) deliver(item subItem) bool {
	defer sub.conn.budget.release(item.weight)
	for _, p := range item.payloads {
		if sub.isDone() {
			return false
		}
		sub.writingNs.Store(time.Now().UnixNano())
		err := sub.notifier.Notify(sub.rpcSub.ID, p)
		if err == nil {
			err = sub.awaitWritten()
		}
		sub.writingNs.Store(0)
		if err != nil {
			sub.s.log.Debug("subscription write failed", "id", sub.rpcSub.ID, "err", err)
			return false
		}
	}
	return true
}

// errSubEnded is awaitWritten's answer when the subscription or its
// connection ended before the notification was written.
var errSubEnded = errors.New("subscription ended before the notification was written")

// awaitWritten waits until the connection has written the notification
// just handed to geth: at once when the subscription is active, after the
// subscribe response otherwise (geth holds it until then).
func (sub *subscription) awaitWritten() error {
	select {
	case <-sub.written:
		return nil
	case <-sub.done:
	case <-sub.rpcSub.Err():
	case <-sub.conn.closed:
	case <-sub.s.quit:
	}
	return errSubEnded
}

// sendEnd sends the final error notification after the walker stopped on
// its own (closing out after an overflow or a failure).
func (sub *subscription) sendEnd() {
	var end *SubscriptionError
	switch {
	case sub.overflowAt != 0:
		end = &SubscriptionError{
			Code: CodeSubscriberTooSlow,
			Message: fmt.Sprintf("subscriber too slow: not reading for over %s (buffer %d notifications)",
				sub.s.cfg.SubscriberStallTimeout, sub.s.cfg.SubscriberBuffer),
			FromHeight: sub.overflowAt,
		}
		sub.s.metrics.dropped.Inc()
	case prunedError(sub.failure) != nil:
		// Pruned between subscribing and reading: nothing to hide.
		perr := prunedError(sub.failure)
		end = &SubscriptionError{Code: perr.Code, Message: perr.Message, FromHeight: sub.next}
	case sub.failure != nil:
		// The failure's text can name files: it is logged, not sent.
		end = &SubscriptionError{Code: CodeInternal, Message: "reading blocks: " + internalMessage, FromHeight: sub.next}
		sub.s.log.Error("subscription failed", "id", sub.rpcSub.ID, "height", sub.next, "err", sub.failure)
	default:
		return // stopped by the client or the server
	}
	sub.s.log.Info("subscription ended", "id", sub.rpcSub.ID, "code", end.Code, "fromHeight", end.FromHeight)
	if err := sub.notifier.Notify(sub.rpcSub.ID, subscriptionEnd{Error: end}); err != nil {
		sub.s.log.Debug("subscription end write failed", "id", sub.rpcSub.ID, "err", err)
	}
}
