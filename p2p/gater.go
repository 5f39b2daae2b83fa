package p2p

import (
	"log/slog"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// gater admits only the configured validators and followers, and none
// of them while banned. Inbound
// connections are checked once the remote has proved its key (after the
// security handshake); outbound dials are checked before they start.
type gater struct {
	allowed map[peer.ID]bool
	banned  func(peer.ID) bool // a ban in force (see Host.Ban)
	refused *atomic.Uint64
	log     *slog.Logger
}

func (g *gater) admit(p peer.ID, what string) bool {
	if g.allowed[p] && (g.banned == nil || !g.banned(p)) {
		return true
	}
	g.refused.Add(1)
	g.log.Debug("p2p: refused unknown or banned peer", "peer", p, "stage", what)
	return false
}

// InterceptPeerDial refuses dials to peers outside the set.
func (g *gater) InterceptPeerDial(p peer.ID) bool { return g.admit(p, "dial") }

// InterceptAddrDial refuses dials to peers outside the set.
func (g *gater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return g.admit(p, "dial") }

// InterceptAccept lets every raw connection reach the security handshake;
// the remote's identity is unknown before it.
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

// InterceptSecured refuses an authenticated connection from or to a peer
// outside the set.
func (g *gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return g.admit(p, "secured")
}

// InterceptUpgraded accepts: the peer was already checked when secured.
func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
