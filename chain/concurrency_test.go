package chain_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/bafomet/bafomet/chain/apps/kv"
)

// TestQueriesSeeWholeBlocks queries while blocks are applied: every answer
// must come from one committed height, never from a half-applied block.
// Block h sets "h" to h, so the value read must equal the height reported.
func TestQueriesSeeWholeBlocks(t *testing.T) {
	n := newTestNode(t, kv.New(), `{"entries":[{"key":"h","value":"0"}]}`)
	defer n.close()
	const blocks = 30
	k := keyN(t, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			out, err := n.exec.Query(kv.QueryGet, []byte("h"))
			if err != nil {
				errs <- err
				return
			}
			var r kv.GetResult
			if err := json.Unmarshal(out, &r); err != nil || r.Value != fmt.Sprint(r.Height) {
				errs <- fmt.Errorf("read %q at height %d (%v)", r.Value, r.Height, err)
				return
			}
		}
	}()
	for i := uint64(0); i < blocks; i++ {
		n.apply(sign(t, k, i, fmt.Sprintf("h=%d", i+1)), sign(t, keyN(t, 2), i, "other=x"))
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}
