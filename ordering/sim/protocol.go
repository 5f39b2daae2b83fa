package sim

import (
	"fmt"

	"github.com/bafomet/bafomet/ordering"
)

// encodeMessage is the wire encoding every consensus message crosses the
// virtual network in.
func encodeMessage(m *ordering.Message) ([]byte, error) {
	b, err := ordering.EncodeMessage(m)
	if err != nil {
		return nil, fmt.Errorf("sim encode: %w", err)
	}
	return b, nil
}

// decodeMessage decodes a received consensus message with the node's
// default size limit.
func decodeMessage(b []byte) (*ordering.Message, error) {
	m, err := ordering.DecodeMessage(b, 0)
	if err != nil {
		return nil, fmt.Errorf("sim decode: %w", err)
	}
	return m, nil
}
