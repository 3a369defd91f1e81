package rpc

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestHandlerDropsResponse(t *testing.T) {
	h := newHarness(t, ServerConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := h.cli.Call(ctx, h.addr, "Test", "Drop", &echoMsg{}, &echoMsg{})
	// Nothing came back: only the caller's deadline ended the call.
	if !errors.Is(err, protocol.CodeTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dropped request: %v, want the caller's timeout", err)
	}
	// The connection keeps working and Close does not wait for the
	// dropped request.
	h.mustEcho(t)
}
