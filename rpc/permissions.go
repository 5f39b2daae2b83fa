package rpc

import (
	"fmt"
	"strings"
)

// Permission is a set of rights a bearer token grants (docs/rpc.md,
// "Authentication").
type Permission uint8

// The permissions. Every served method needs exactly one of them
// (methodPermissions).
const (
	// PermRead: the chain_ queries, application query methods (kv_get,
	// bank_getBalance, those of a custom application) and subscriptions.
	PermRead Permission = 1 << iota
	// PermSubmit: chain_sendTransaction.
	PermSubmit
	// PermAdmin: node introspection (mempool_).
	PermAdmin

	permAll = PermRead | PermSubmit | PermAdmin
)

var permissionNames = []struct {
	p    Permission
	name string
}{{PermRead, "read"}, {PermSubmit, "submit"}, {PermAdmin, "admin"}}

// ParsePermissions reads a list of permission names (read, submit,
// admin). The list must not be empty nor name one twice.
func ParsePermissions(names []string) (Permission, error) {
	if len(names) == 0 {
		return 0, fmt.Errorf("no permissions: want one or more of read, submit, admin")
	}
	var set Permission
	for _, n := range names {
		p := permissionNamed(n)
		if p == 0 {
			return 0, fmt.Errorf("unknown permission %q: want read, submit or admin", n)
		}
		if set&p != 0 {
			return 0, fmt.Errorf("permission %q given twice", n)
		}
		set |= p
	}
	return set, nil
}

func permissionNamed(name string) Permission {
	for _, pn := range permissionNames {
		if pn.name == name {
			return pn.p
		}
	}
	return 0
}

// Has reports whether every permission of q is in p.
func (p Permission) Has(q Permission) bool { return p&q == q }

// String lists the permissions, comma-separated, in the order read,
// submit, admin.
func (p Permission) String() string {
	var out []string
	for _, pn := range permissionNames {
		if p&pn.p != 0 {
			out = append(out, pn.name)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ",")
}

// methodPermissions is the permission each of the server's own methods
// needs; application query methods need appMethodPermission. A method
// not listed here nor an application's is refused to every token
// (TestEveryMethodHasAPermission keeps the table complete). geth's own rpc_modules and chain_unsubscribe
// need only authentication: the first lists the namespaces, the second
// acts on the caller's own subscriptions.
var methodPermissions = map[string]Permission{
	"chain_sendTransaction":   PermSubmit,
	"chain_getTransaction":    PermRead,
	"chain_blockNumber":       PermRead,
	"chain_getBlockByNumber":  PermRead,
	"chain_getBlockByHash":    PermRead,
	"chain_getCertificate":    PermRead,
	"chain_verifyCertificate": PermRead,
	"chain_getNonce":          PermRead,
	"chain_status":            PermRead,
	"chain_validators":        PermRead,
	"chain_evidence":          PermRead,
	"chain_subscribe":         PermRead,
	"mempool_status":          PermAdmin,
}
