package rpc

import (
	"context"
	"runtime"
	"syscall"
	"testing"
)

// BenchmarkEchoParallel measures the RPC ceiling: an in-process server and
// pooled client over loopback echoing a 100-byte payload from many
// goroutines.
func BenchmarkEchoParallel(b *testing.B) { benchmarkEcho(b, 1) }

// BenchmarkEchoParallel64 is the same with 64 callers, as the YCSB
// driver's 64 threads share one connection per server.
func BenchmarkEchoParallel64(b *testing.B) { benchmarkEcho(b, 64) }

// benchmarkEcho runs callers goroutines (at least GOMAXPROCS) echoing over
// one pooled connection.
func benchmarkEcho(b *testing.B, callers int) {
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
	if p := runtime.GOMAXPROCS(0); callers > p {
		b.SetParallelism((callers + p - 1) / p)
	}
	b.ResetTimer()
	cpu0 := processCPU(b)
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
	// CPU time per call (client and server together) stays meaningful when
	// other processes compete for the cores, unlike the wall-clock figures.
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU returns the user and system CPU time of this process in ns.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
