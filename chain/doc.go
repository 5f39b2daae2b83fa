// Package chain holds bafomet's chain data model and its execution:
// transactions and their wire format, blocks, headers and commit
// certificates, the validator set, the Application interface that a
// state-transition function implements, the executor that applies committed
// blocks, and the Badger-backed block and state stores.
//
// chain knows nothing about networking or PBFT views beyond the view number a
// certificate records.
package chain
