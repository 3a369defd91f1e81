package rpc

import (
	"context"
	"testing"
)

// A call to a named address goes to the address DialAddresses maps it to;
// an unmapped address is dialled as named.
func TestDialAddresses(t *testing.T) {
	h := newHarness(t, ServerConfig{})
	const named = "127.0.0.1:1" // nothing listens there
	cli, err := NewClient(ClientConfig{DialAddresses: map[string]string{named: h.addr}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	var resp echoMsg
	if err := cli.Call(context.Background(), named, "Test", "Echo", &echoMsg{Body: []byte("via")}, &resp); err != nil {
		t.Fatalf("call through the mapped address: %v", err)
	}
	if string(resp.Body) != "via" {
		t.Fatalf("echo %q", resp.Body)
	}
	if err := cli.Call(context.Background(), h.addr, "Test", "Echo", &echoMsg{}, &resp); err != nil {
		t.Fatalf("call to an unmapped address: %v", err)
	}
	if _, err := NewClient(ClientConfig{DialAddresses: map[string]string{named: "nonsense"}}, nil); err == nil {
		t.Fatal("a dial address without a port was accepted")
	}
}
