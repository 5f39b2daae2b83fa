package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bafomet/bafomet/chain"
)

// Application query methods (chain.QueryService). geth's server finds the
// methods of a namespace by reflection on Go method names, so methods known
// only at run time cannot be registered with it. The server registers one
// method instead, bafomet_appQuery, and rewrites every call whose
// namespace is an application's (or bafomet's own) into a call of it
// before geth reads the request: {"method":"counter_value","params":P}
// becomes {"method":"bafomet_appQuery","params":["counter_value",P]}.
// bafomet_appQuery looks the original name up, so a call naming bafomet_
// directly is answered as an unknown method.

const (
	appQueryNamespace = "bafomet"
	appQueryMethod    = appQueryNamespace + "_appQuery"
)

// reservedNamespaces are the server's own namespaces, which no application
// may take.
var reservedNamespaces = []string{"chain", "mempool", "rpc", appQueryNamespace}

// appMethod is one application query method the server serves.
type appMethod struct {
	app string
	m   chain.QueryMethod
}

// appMethodsOf collects the query methods of apps by their full names
// (kv_get), and the names of the applications that have any, refusing an application whose name is not a usable namespace,
// two applications of one name, and invalid method declarations.
func appMethodsOf(apps []chain.Application) (map[string]*appMethod, map[string]bool, error) {
	methods := make(map[string]*appMethod)
	namespaces := make(map[string]bool)
	seen := make(map[string]bool)
	for _, app := range apps {
		name := app.Name()
		if seen[name] {
			return nil, nil, fmt.Errorf("application %q given twice", name)
		}
		seen[name] = true
		ms := chain.QueryMethodsOf(app)
		if len(ms) == 0 {
			continue
		}
		if err := checkNamespace(name); err != nil {
			return nil, nil, err
		}
		if err := chain.ValidateQueryMethods(ms); err != nil {
			return nil, nil, fmt.Errorf("application %q: %w", name, err)
		}
		namespaces[name] = true
		for _, m := range ms {
			methods[name+"_"+m.Name] = &appMethod{app: name, m: m}
		}
	}
	return methods, namespaces, nil
}

func checkNamespace(name string) error {
	if name == "" || strings.ContainsAny(name, "_ \t\r\n\"") {
		return fmt.Errorf("application name %q cannot be a JSON-RPC namespace: it must be non-empty, without '_', spaces or quotes", name)
	}
	for _, r := range reservedNamespaces {
		if name == r {
			return fmt.Errorf("application name %q is a namespace of the server itself", name)
		}
	}
	return nil
}

// appMethodPermission is the permission every application query method
// needs.
const appMethodPermission = PermRead

// permissionOf returns the permission method needs, 0 for a method no
// token may call.
func (s *Server) permissionOf(method string) Permission {
	if p, ok := methodPermissions[method]; ok {
		return p
	}
	if s.appMethods[method] != nil {
		return appMethodPermission
	}
	return 0
}

// rewriteAppCalls rewrites the calls of an application's namespace in a
// request body, one call or a batch, into calls of bafomet_appQuery. A
// body with none, or that does not decode, is returned as it is (geth
// answers it).
func (s *Server) rewriteAppCalls(body []byte) []byte {
	if len(s.appNamespaces) == 0 || !s.mayCallApp(body) {
		return body
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '[' {
		if out, ok := s.rewriteAppCall(trimmed); ok {
			return out
		}
		return body
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(trimmed, &elems); err != nil {
		return body
	}
	changed := false
	for i, e := range elems {
		if out, ok := s.rewriteAppCall(e); ok {
			elems[i], changed = out, true
		}
	}
	if !changed {
		return body
	}
	out, err := marshalNoEscape(elems)
	if err != nil {
		return body
	}
	return out
}

// rewriteAppCall rewrites one call; false when it is not for an
// application's namespace or bafomet's.
func (s *Server) rewriteAppCall(raw []byte) ([]byte, bool) {
	if !s.mayCallApp(raw) {
		return nil, false
	}
	var call map[string]json.RawMessage
	if err := json.Unmarshal(raw, &call); err != nil {
		return nil, false
	}
	var method string
	if err := json.Unmarshal(call["method"], &method); err != nil {
		return nil, false
	}
	ns, _, ok := strings.Cut(method, "_")
	if !ok || (!s.appNamespaces[ns] && ns != appQueryNamespace) {
		return nil, false
	}
	params := bytes.TrimSpace(call["params"])
	if len(params) == 0 {
		params = []byte("null")
	}
	name, err := marshalNoEscape(method)
	if err != nil {
		return nil, false
	}
	call["method"] = json.RawMessage(`"` + appQueryMethod + `"`)
	call["params"] = json.RawMessage(append(append(append(append([]byte("["), name...), ','), params...), ']'))
	out, err := marshalNoEscape(call)
	if err != nil {
		return nil, false
	}
	return out, true
}

// mayCallApp reports whether raw may hold a call of an application's
// namespace or bafomet's: a string that starts with such a namespace and
// "_", or a \u escape, which could spell one. Anything else (every
// chain_sendTransaction, say) is passed to geth without being decoded here.
func (s *Server) mayCallApp(raw []byte) bool {
	if bytes.Contains(raw, []byte(`\u`)) {
		return true
	}
	for _, m := range s.appMarkers {
		if bytes.Contains(raw, m) {
			return true
		}
	}
	return false
}

// appMarkers returns `"<namespace>_` for each namespace the rewrite
// serves.
func appMarkers(namespaces map[string]bool) [][]byte {
	out := [][]byte{[]byte(`"` + appQueryNamespace + `_`)}
	for ns := range namespaces {
		out = append(out, []byte(`"`+ns+`_`))
	}
	return out
}

// marshalNoEscape encodes v as JSON without escaping <, > and &, so that
// strings (ids) reach geth as the client wrote them.
func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// appRewriteSlack is how much longer rewriting can make one call beyond
// repeating its method name.
const appRewriteSlack = len(appQueryMethod) + len(`,"params":[,]`) + 8

// appQueryAPI serves bafomet_appQuery, the method application calls are
// rewritten into.
type appQueryAPI struct{ s *Server }

// AppQuery serves the application query method named method with the
// call's params.
func (api *appQueryAPI) AppQuery(ctx context.Context, method string, params *json.RawMessage) (_ any, err error) {
	am := api.s.appMethods[method]
	if am == nil {
		return nil, &Error{Code: CodeMethodNotFound, Message: fmt.Sprintf("the method %s does not exist/is not available", method)}
	}
	defer api.s.observe(method, time.Now(), &err)
	if _, err := api.s.admit(ctx, method); err != nil {
		return nil, err
	}
	args, err := appArgs(am.m.Params, params)
	if err != nil {
		return nil, err
	}
	var res any
	err = api.s.backend.ReadAppState(am.app, func(st chain.StateReader) error {
		var err error
		res, err = am.m.Run(st, args)
		return err
	})
	if err != nil {
		return nil, appQueryError(method, err)
	}
	return res, nil
}

// appArgs decodes a call's positional arguments as geth does for its own
// methods (too many is an error, a missing optional one is nil), naming
// the parameter in every error.
func appArgs(params []chain.QueryParam, raw *json.RawMessage) ([]any, error) {
	var elems []json.RawMessage
	if present(raw) {
		if err := json.Unmarshal(*raw, &elems); err != nil {
			return nil, &Error{Code: CodeInvalidParams, Message: "non-array args"}
		}
	}
	if len(elems) > len(params) {
		return nil, &Error{Code: CodeInvalidParams, Message: fmt.Sprintf("too many arguments, want at most %d", len(params))}
	}
	args := make([]any, len(params))
	for i, p := range params {
		if i >= len(elems) || !present(&elems[i]) {
			if p.Optional {
				continue
			}
			return nil, missingParam(p.Name)
		}
		v, err := p.Decode(elems[i])
		if err != nil {
			return nil, invalidParams(p.Name, "%v", err)
		}
		args[i] = v
	}
	return args, nil
}

// appQueryError maps a failed application query: a refused argument is
// invalid params naming it, an application this chain does not run keeps
// its own code, anything else is internal.
func appQueryError(method string, err error) error {
	var pe *chain.InvalidParamError
	if errors.As(err, &pe) {
		return invalidParams(pe.Param, "%v", pe.Err)
	}
	if errors.Is(err, ErrAppNotServed) {
		return toRPCError(err)
	}
	return internalError(method, err)
}
