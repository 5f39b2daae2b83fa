package ordering

import (
	"crypto/ecdsa"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bafomet/bafomet/chain"
)

// DefaultMaxMessageBytes is the default limit DecodeMessage callers pass for
// one encoded consensus message. The largest messages are a pre-prepare
// (one block) and a NewView (see MaxNewViewBytes); the node passes its
// configured frame limit instead.
const DefaultMaxMessageBytes = 64 << 20

// Domain tags of the digests validators sign, one per message type. Commit
// uses chain.DomainCommit so that commits assemble into certificates.
const (
	DomainPrePrepare = "bafomet/preprepare/v1"
	DomainPrepare    = "bafomet/prepare/v1"
	DomainCheckpoint = "bafomet/checkpoint/v1"
	DomainViewChange = "bafomet/viewchange/v1"
	DomainNewView    = "bafomet/newview/v1"
)

// Errors returned by DecodeMessage and VerifyMessage.
var (
	ErrMsgTooLarge     = errors.New("message too large")
	ErrMsgMalformed    = errors.New("malformed message")
	ErrMsgUnknownType  = errors.New("unknown message type")
	ErrMsgUnknownFrom  = errors.New("unknown sender")
	ErrMsgBadSignature = errors.New("bad message signature")
)

// String names the message type.
func (t MsgType) String() string {
	switch t {
	case MsgPrePrepare:
		return "PrePrepare"
	case MsgPrepare:
		return "Prepare"
	case MsgCommit:
		return "Commit"
	case MsgCheckpoint:
		return "Checkpoint"
	case MsgViewChange:
		return "ViewChange"
	case MsgNewView:
		return "NewView"
	default:
		return fmt.Sprintf("MsgType(%d)", uint8(t))
	}
}

// EncodeMessage returns the canonical RLP encoding of m.
func EncodeMessage(m *Message) ([]byte, error) {
	enc, err := rlp.EncodeToBytes(m)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", m.Type, err)
	}
	return enc, nil
}

// DecodeMessage decodes one message from b, strictly: b must hold exactly
// one canonical RLP message of at most maxBytes bytes (0 means
// DefaultMaxMessageBytes) whose fields, and those of every nested message,
// are well-formed for their type. It never panics. The signature is not
// checked; VerifyMessage does that.
func DecodeMessage(b []byte, maxBytes int) (*Message, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxMessageBytes
	}
	if len(b) > maxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMsgTooLarge, len(b), maxBytes)
	}
	var m Message
	if err := rlp.DecodeBytes(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMsgMalformed, err)
	}
	if err := checkShape(&m, true); err != nil {
		return nil, err
	}
	return &m, nil
}

// checkShape checks that m carries exactly the fields its type uses. Nested
// messages may not themselves nest (outer=false), which bounds recursion.
func checkShape(m *Message, outer bool) error {
	if m == nil {
		return fmt.Errorf("%w: nil message", ErrMsgMalformed)
	}
	if len(m.Signature) != chain.SignatureLength {
		return fmt.Errorf("%w: %s signature is %d bytes", ErrMsgMalformed, m.Type, len(m.Signature))
	}
	hasBlock, hasVC, hasNV := m.Block != nil, m.ViewChange != nil, m.NewView != nil
	want := [3]bool{}
	switch m.Type {
	case MsgPrePrepare:
		want[0] = true
	case MsgPrepare, MsgCommit, MsgCheckpoint:
	case MsgViewChange:
		want[1] = true
	case MsgNewView:
		want[2] = true
	default:
		return fmt.Errorf("%w: %d", ErrMsgUnknownType, uint8(m.Type))
	}
	if [3]bool{hasBlock, hasVC, hasNV} != want {
		return fmt.Errorf("%w: %s has the wrong optional fields", ErrMsgMalformed, m.Type)
	}
	if m.Type != MsgCheckpoint && m.AppHash != (chain.Hash{}) {
		return fmt.Errorf("%w: %s carries an appHash", ErrMsgMalformed, m.Type)
	}
	if (hasVC || hasNV) && !outer {
		return fmt.Errorf("%w: nested %s", ErrMsgMalformed, m.Type)
	}
	if hasVC {
		return checkViewChangeShape(m.ViewChange)
	}
	if hasNV {
		return checkNewViewShape(m.NewView)
	}
	return nil
}

func checkViewChangeShape(vc *ViewChange) error {
	if cp := vc.Checkpoint; cp != nil {
		if err := checkAllType(cp.Checkpoints, MsgCheckpoint); err != nil {
			return err
		}
	}
	for _, p := range vc.Prepared {
		if p == nil || p.PrePrepare == nil || p.PrePrepare.Type != MsgPrePrepare {
			return fmt.Errorf("%w: prepared proof without pre-prepare", ErrMsgMalformed)
		}
		if err := checkShape(p.PrePrepare, false); err != nil {
			return err
		}
		if err := checkAllType(p.Prepares, MsgPrepare); err != nil {
			return err
		}
	}
	return nil
}

func checkNewViewShape(nv *NewView) error {
	for _, vc := range nv.ViewChanges {
		if vc == nil || vc.Type != MsgViewChange {
			return fmt.Errorf("%w: new view holds a non view-change", ErrMsgMalformed)
		}
		// A view change inside a new view is checked as an outer message
		// of its own; it cannot nest further because its shape forbids a
		// NewView body.
		if err := checkShape(vc, true); err != nil {
			return err
		}
	}
	return checkAllType(nv.PrePrepares, MsgPrePrepare)
}

func checkAllType(ms []*Message, t MsgType) error {
	for _, m := range ms {
		if m == nil || m.Type != t {
			return fmt.Errorf("%w: expected %s", ErrMsgMalformed, t)
		}
		if err := checkShape(m, false); err != nil {
			return err
		}
	}
	return nil
}

// bodyHash commits to a message's optional body.
func bodyHash(m *Message) chain.Hash {
	var body any
	switch {
	case m.Block != nil:
		return m.Block.Hash() // the header commits to the transactions via TxRoot
	case m.ViewChange != nil:
		body = m.ViewChange
	case m.NewView != nil:
		body = m.NewView
	default:
		return chain.Hash{}
	}
	enc, err := rlp.EncodeToBytes(body)
	if err != nil {
		panic(fmt.Sprintf("ordering: encoding %s body: %v", m.Type, err))
	}
	return crypto.Keccak256Hash(enc)
}

func domainOf(t MsgType) string {
	switch t {
	case MsgPrePrepare:
		return DomainPrePrepare
	case MsgPrepare:
		return DomainPrepare
	case MsgCheckpoint:
		return DomainCheckpoint
	case MsgViewChange:
		return DomainViewChange
	case MsgNewView:
		return DomainNewView
	}
	return ""
}

// SigningDigest returns the digest the sender of m signs: for a Commit
// exactly chain.CommitDigest(chainID, Height, View, Digest); for every other
// type chain.SigningDigest with the type's domain over the chain id, the
// type, the sender and every field but the signature.
func SigningDigest(chainID string, m *Message) chain.Hash {
	if m.Type == MsgCommit {
		return chain.CommitDigest(chainID, m.Height, m.View, m.Digest)
	}
	return chain.SigningDigest(domainOf(m.Type), []any{
		chainID, uint64(m.Type), uint64(m.From), m.View, m.Height, m.Digest, m.AppHash, bodyHash(m),
	})
}

// SignMessage sets m.Signature to signer's signature over SigningDigest.
func SignMessage(signer Signer, chainID string, m *Message) error {
	sig, err := signer.Sign(SigningDigest(chainID, m))
	if err != nil {
		return fmt.Errorf("sign %s at view %d height %d: %w", m.Type, m.View, m.Height, err)
	}
	m.Signature = sig
	return nil
}

// VerifyMessage checks m's shape and that its signature was made by
// validator m.From of vs. It does not check nested messages; the core does
// that with the protocol rules that give them meaning.
func VerifyMessage(chainID string, vs *chain.ValidatorSet, m *Message) error {
	if err := checkShape(m, true); err != nil {
		return err
	}
	return verifySig(chainID, vs, m)
}

func verifySig(chainID string, vs *chain.ValidatorSet, m *Message) error {
	if int64(m.From) >= int64(vs.Size()) {
		return fmt.Errorf("%w: index %d of %d", ErrMsgUnknownFrom, m.From, vs.Size())
	}
	if err := vs.VerifySignature(int(m.From), SigningDigest(chainID, m), m.Signature); err != nil {
		return fmt.Errorf("%w: %s from %d: %v", ErrMsgBadSignature, m.Type, m.From, err)
	}
	return nil
}

// KeySigner is a Signer backed by an in-memory secp256k1 key.
type KeySigner struct {
	key *ecdsa.PrivateKey
}

// NewKeySigner returns a Signer that signs with key.
func NewKeySigner(key *ecdsa.PrivateKey) *KeySigner { return &KeySigner{key: key} }

// Sign signs digest; the signature is deterministic (RFC 6979).
func (s *KeySigner) Sign(digest chain.Hash) ([]byte, error) {
	return chain.Sign(s.key, digest)
}

func encodeRLP(v any) ([]byte, error) { return rlp.EncodeToBytes(v) }
