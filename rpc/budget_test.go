package rpc

import (
	"encoding/json"
	"testing"
	"time"
)

func TestByteBudgetFIFOAndCancel(t *testing.T) {
	b := newByteBudget(100)
	if !b.acquire(60, nil, nil) {
		t.Fatal("first acquire failed")
	}
	// Past the limit: waits, and a timeout gives up without taking bytes.
	if b.acquire(41, nil, time.After(20*time.Millisecond)) {
		t.Fatal("acquired past the limit")
	}
	if got := b.inUse(); got != 60 {
		t.Fatalf("in use %d after a timed-out acquire, want 60", got)
	}
	// At the limit: fits.
	if !b.acquire(40, nil, nil) {
		t.Fatal("acquire at the limit failed")
	}
	b.release(40)
	// FIFO: a large waiter is not overtaken by a small one.
	bigDone := make(chan bool)
	go func() { bigDone <- b.acquire(80, nil, nil) }()
	waitFor(t, "the large waiter to queue", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.waiters) == 1 })
	if b.acquire(10, nil, time.After(20*time.Millisecond)) {
		t.Fatal("a small acquire overtook a queued large one")
	}
	b.release(60)
	if !<-bigDone {
		t.Fatal("large waiter not granted")
	}
	// Larger than the whole budget: takes all of it, once free.
	cancel := make(chan struct{})
	close(cancel)
	if b.acquire(500, cancel, nil) {
		t.Fatal("acquired the whole budget while 80 bytes are in use")
	}
	b.release(80)
	if !b.acquire(500, nil, nil) || b.inUse() != 100 {
		t.Fatalf("oversized acquire: in use %d, want 100", b.inUse())
	}
}

func TestNotificationID(t *testing.T) {
	// The field order of geth's jsonrpcMessage and subscriptionResultEnc.
	type params struct {
		Subscription string `json:"subscription"`
		Result       any    `json:"result"`
	}
	msg, err := json.Marshal(struct {
		Version string `json:"jsonrpc"`
		Method  string `json:"method"`
		Params  params `json:"params"`
	}{"2.0", "chain_subscription", params{"0xabc", 1}})
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := notificationID(msg); !ok || id != "0xabc" {
		t.Fatalf("notificationID(%s) = %q, %v", msg, id, ok)
	}
	for _, m := range []string{
		`{"jsonrpc":"2.0","id":1,"result":"0xabc"}`,
		`{"jsonrpc":"2.0","method":"chain_subscription","params":{"subscription":"0xabc`,
	} {
		if id, ok := notificationID([]byte(m)); ok {
			t.Fatalf("notificationID(%s) = %q", m, id)
		}
	}
}
