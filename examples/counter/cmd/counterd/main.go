// Command counterd is a bafomet node binary whose chains may run the
// counter application besides kv and bank: it has every bafomet
// subcommand, and genesis files, testnets and devnets may name "counter"
// as their app (counterd testnet --app counter ...). Clients read counters
// with the JSON-RPC method counter_value.
package main

import (
	"os"

	"github.com/bafomet/bafomet/chain/apps"
	"github.com/bafomet/bafomet/cli"
	"github.com/bafomet/bafomet/examples/counter"
)

func main() {
	reg := apps.Builtin()
	reg[counter.Name] = counter.New
	os.Exit(cli.Main(os.Args[1:], cli.Options{Apps: reg}))
}
