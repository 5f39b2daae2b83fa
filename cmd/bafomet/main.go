// Command bafomet is the bafomet node and its tools (package cli) with the
// built-in applications, kv and bank.
package main

import (
	"os"

	"github.com/bafomet/bafomet/chain/apps"
	"github.com/bafomet/bafomet/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.Options{Apps: apps.Builtin()}))
}
