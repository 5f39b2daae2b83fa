package p2p

import (
	"crypto/ecdsa"
	"errors"
	"fmt"

	ethcrypto "github.com/ethereum/go-ethereum/crypto"
	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// PrivKey converts a validator's go-ethereum secp256k1 key into the libp2p
// private key that is the node's network identity.
func PrivKey(key *ecdsa.PrivateKey) (libp2pcrypto.PrivKey, error) {
	if key == nil {
		return nil, errors.New("p2p: no private key")
	}
	priv, err := libp2pcrypto.UnmarshalSecp256k1PrivateKey(ethcrypto.FromECDSA(key))
	if err != nil {
		return nil, fmt.Errorf("p2p: converting secp256k1 key: %w", err)
	}
	return priv, nil
}

// PeerIDFromKey returns the libp2p peer ID of the validator holding key.
func PeerIDFromKey(key *ecdsa.PrivateKey) (peer.ID, error) {
	priv, err := PrivKey(key)
	if err != nil {
		return "", err
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("p2p: peer id from key: %w", err)
	}
	return id, nil
}

// PeerIDFromPubKey returns the libp2p peer ID of the validator whose 33-byte
// compressed (or 65-byte uncompressed) secp256k1 public key is pub.
func PeerIDFromPubKey(pub []byte) (peer.ID, error) {
	if len(pub) == 65 {
		k, err := ethcrypto.UnmarshalPubkey(pub)
		if err != nil {
			return "", fmt.Errorf("p2p: bad public key: %w", err)
		}
		pub = ethcrypto.CompressPubkey(k)
	}
	if len(pub) != 33 {
		return "", fmt.Errorf("p2p: public key is %d bytes, want 33", len(pub))
	}
	k, err := libp2pcrypto.UnmarshalSecp256k1PublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("p2p: bad public key: %w", err)
	}
	id, err := peer.IDFromPublicKey(k)
	if err != nil {
		return "", fmt.Errorf("p2p: peer id from public key: %w", err)
	}
	return id, nil
}
