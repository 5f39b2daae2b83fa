// Package apps is the registry of bafomet's built-in applications.
package apps

import (
	"github.com/bafomet/bafomet/chain"
	"github.com/bafomet/bafomet/chain/apps/bank"
	"github.com/bafomet/bafomet/chain/apps/kv"
)

// Builtin returns a fresh registry of the built-in applications, "kv" and
// "bank". Callers may add their own applications to the returned map.
func Builtin() chain.Apps {
	return chain.Apps{
		kv.Name:   kv.New,
		bank.Name: bank.New,
	}
}
