package client_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/bafomet/bafomet/client"
	"github.com/bafomet/bafomet/rpc"
)

// TestPrunedAnswers: a node's answer for a pruned height matches
// ErrPruned (not ErrNotFound), names the earliest height held, and
// Status carries earliestHeight.
func TestPrunedAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch req.Method {
		case "chain_status":
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"chainId":"c","height":90,"earliestHeight":70,"syncing":false,"sync":null}}`, req.ID)
		default:
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":%d,"message":"pruned: the earliest block this node holds is 70"}}`, req.ID, rpc.CodePruned)
		}
	}))
	defer srv.Close()
	ctx := ctxT(t)
	c := dial(t, srv.URL, client.Options{})
	st, err := c.Status(ctx)
	if err != nil || st.EarliestHeight != 70 || st.Height != 90 {
		t.Fatalf("status: %+v, %v", st, err)
	}
	_, err = c.BlockByNumber(ctx, 5)
	if !errors.Is(err, client.ErrPruned) || errors.Is(err, client.ErrNotFound) {
		t.Fatalf("block of a pruned height: %v, want ErrPruned", err)
	}
	if h, ok := client.PrunedEarliest(err); !ok || h != 70 {
		t.Fatalf("PrunedEarliest = %d, %v", h, ok)
	}
	if _, ok := client.PrunedEarliest(errors.New("x")); ok {
		t.Fatal("PrunedEarliest of another error")
	}
}
