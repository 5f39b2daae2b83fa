package bank

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/bafomet/bafomet/chain"
)

// transferVerb is the first word of a transfer payload.
const transferVerb = "transfer"

// Errors returned by ParseTransfer, ParseAddress and ParseAmount.
var (
	ErrBadPayload = errors.New("bank: payload is not \"transfer 0x<address> <amount>\"")
	ErrBadAddress = errors.New("bank: address is not 0x followed by 40 hex digits")
	ErrBadAmount  = errors.New("bank: amount is not a decimal integer from 1 to 18446744073709551615 without leading zeros")
)

// Transfer is a decoded transfer payload.
type Transfer struct {
	To     chain.Address
	Amount uint64
}

// TransferPayload returns the canonical payload moving amount to to.
func TransferPayload(to chain.Address, amount uint64) []byte {
	return []byte(transferVerb + " " + to.Hex() + " " + strconv.FormatUint(amount, 10))
}

// ParseTransfer decodes a transfer payload. It accepts exactly
// "transfer", one space, the address, one space, the amount.
func ParseTransfer(payload []byte) (Transfer, error) {
	parts := strings.Split(string(payload), " ")
	if len(parts) != 3 || parts[0] != transferVerb {
		return Transfer{}, ErrBadPayload
	}
	to, err := ParseAddress(parts[1])
	if err != nil {
		return Transfer{}, err
	}
	amount, err := ParseAmount(parts[2])
	if err != nil {
		return Transfer{}, err
	}
	if amount == 0 {
		return Transfer{}, fmt.Errorf("%w: got 0", ErrBadAmount)
	}
	return Transfer{To: to, Amount: amount}, nil
}

// ParseAddress parses "0x" followed by exactly 40 hex digits, either case.
// The EIP-55 checksum is not enforced.
func ParseAddress(s string) (chain.Address, error) {
	var a chain.Address
	if len(s) != 42 || (s[:2] != "0x" && s[:2] != "0X") {
		return a, fmt.Errorf("%w: %q", ErrBadAddress, s)
	}
	if _, err := hex.Decode(a[:], []byte(s[2:])); err != nil {
		return a, fmt.Errorf("%w: %q", ErrBadAddress, s)
	}
	return a, nil
}

// ParseAmount parses a canonical unsigned decimal: digits only, no leading
// zeros (except "0" itself), at most 2^64−1.
func ParseAmount(s string) (uint64, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%w: %q", ErrBadAmount, s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: %q", ErrBadAmount, s)
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrBadAmount, s)
	}
	return v, nil
}
