// Package p2p is bafomet's libp2p networking layer. It moves bytes between
// validators and decides nothing about consensus.
//
// Identity and admission: the validator's secp256k1 key is its libp2p
// identity, so a peer ID proves which validator is speaking. A connection
// gater admits only the peers derived from the genesis validator keys (plus
// an allow-list of follower peer IDs); any other peer is refused once the
// Noise handshake has authenticated it, and we never dial it. Transport is
// TCP with Noise and yamux; there is no relay, mDNS, DHT or NAT traversal.
//
// Meeting: on every new connection both sides run /bafomet/hello/1, which
// exchanges protocol version, chain id, genesis hash and the current height.
// A mismatch disconnects the peer with a logged reason. No consensus, tx or
// sync stream is admitted from a peer before its hello passed.
//
// Protocols:
//
//   - /bafomet/consensus/1 and /bafomet/tx/1: one long-lived outbound stream
//     per peer and protocol carrying frames (uvarint length, then payload)
//     up to a per-protocol size limit. Send and Broadcast only enqueue into a
//     bounded per-peer queue, so a slow or dead peer never blocks traffic to
//     the others. Received consensus frames wait in a bounded queue per
//     peer, which drops the peer's newest frame when full, and come out of
//     Inbound() one peer at a time in turn, so a peer that floods uses up
//     only its own share. Received transaction frames come out of
//     TxInbound(). A peer that sends an oversized or malformed frame has its
//     stream reset and its connections closed.
//   - /bafomet/sync/1: request/response on a fresh stream per request, with
//     its own request and response size limits and a deadline.
//
// Connections: both sides of a pair dial each other when not connected and
// redial with capped exponential backoff; see keepConnected.
//
// Bans: the node, which judges messages, may Ban a validator for a while;
// the host then closes its connections and refuses its connections,
// streams and frames, and does not dial it, until the ban ends.
//
// Lifecycle: New, Start, then Close, which stops every goroutine the host
// started, waits for them and closes Inbound().
package p2p
