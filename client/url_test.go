package client

import "testing"

func TestWebsocketURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:26601":   "ws://127.0.0.1:26601",
		"https://node.example:443": "wss://node.example:443",
		"ws://already":             "ws://already",
		"wss://already":            "wss://already",
	} {
		if got := websocketURL(in); got != want {
			t.Errorf("websocketURL(%q) = %q, want %q", in, got, want)
		}
	}
}
