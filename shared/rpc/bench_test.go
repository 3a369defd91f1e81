package rpc

import (
	"context"
	"testing"
)

// BenchmarkEchoParallel measures the RPC ceiling: an in-process server and
// pooled client over loopback echoing a 100-byte payload from many
// goroutines.
func BenchmarkEchoParallel(b *testing.B) {
	srv, err := NewServer(ServerConfig{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Register("Test", &testService{}); err != nil {
		b.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	cli, err := NewClient(ClientConfig{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	addr := srv.Addr().String()
	payload := make([]byte, 100)
	ctx := context.Background()
	if err := cli.Call(ctx, addr, "Test", "Echo", &echoMsg{Body: payload}, &echoMsg{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := &echoMsg{Body: payload}, &echoMsg{}
		for pb.Next() {
			if err := cli.Call(ctx, addr, "Test", "Echo", req, resp); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}
