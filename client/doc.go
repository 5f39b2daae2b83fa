// Package client is a Go client for a bafomet node's JSON-RPC API
// (docs/rpc.md): typed reads of blocks, certificates, transactions and
// status; a Sender that signs and submits transactions for one key with
// the nonces managed, safe for concurrent use; WaitTx, which waits for a
// transaction by block subscription; and SubscribeBlocks, which follows
// committed blocks from any height and resumes by itself after a
// disconnect or the node ending a slow subscription, without losing or
// repeating a block.
//
// Refusals by the node are *Error values that match this package's
// sentinels with errors.Is (ErrNonceTooLow, ErrMempoolFull, …), so callers
// branch on the reason, not on message text. TLS with a private CA, static
// bearer tokens and JWTs are Options of Dial.
package client
