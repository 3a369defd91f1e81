package rpc

import (
	"context"
	"sync"
	"time"
)

// workerIdleTimeout is how long a handler goroutine waits for the next
// request before it exits. Under load a goroutine is reused within
// microseconds; the short timeout keeps an idle server's goroutines to what
// they were without the pool (goroutine-leak checks in tests see them gone
// within their retry window).
const workerIdleTimeout = 50 * time.Millisecond

// workerPool runs rpcx's request handlers (rpcx's server.WorkerPool) on
// goroutines that are kept for the next request once a handler returns.
// rpcx starts a fresh goroutine per request otherwise, and every one of
// them grew its stack from the initial 8 KiB through the decoder, the
// handler and the replica call: 21% of a replica server's CPU on YCSB-C
// went to runtime.newstack/copystack. A kept goroutine keeps its stack.
//
// The pool is unbounded: a request that finds no idle goroutine gets a new
// one, exactly as without the pool, so a handler that blocks (a write
// waiting for its commit) never delays another request. Idle goroutines
// exit after workerIdleTimeout or when the pool stops.
//
// Submit may be called concurrently; the Stop methods stop the idle
// goroutines and never wait for running handlers (Server.Close has already
// waited for them as long as ShutdownTimeout allows).
type workerPool struct {
	tasks    chan func() // unbuffered: a send succeeds only to an idle worker
	stopOnce sync.Once
	quit     chan struct{}
}

func newWorkerPool() *workerPool {
	return &workerPool{tasks: make(chan func()), quit: make(chan struct{})}
}

// Submit runs task on an idle worker, or on a new one.
func (p *workerPool) Submit(task func()) {
	select {
	case p.tasks <- task:
	default:
		go p.work(task)
	}
}

func (p *workerPool) work(task func()) {
	idle := time.NewTimer(workerIdleTimeout)
	defer idle.Stop()
	for {
		task()
		idle.Reset(workerIdleTimeout)
		select {
		case task = <-p.tasks:
		case <-idle.C:
			return
		case <-p.quit:
			return
		}
	}
}

func (p *workerPool) stop() { p.stopOnce.Do(func() { close(p.quit) }) }

// StopAndWaitFor implements rpcx's server.WorkerPool.
func (p *workerPool) StopAndWaitFor(time.Duration) { p.stop() }

// StopAndWait implements rpcx's server.WorkerPool.
func (p *workerPool) StopAndWait() { p.stop() }

// Stop implements rpcx's server.WorkerPool; the returned context is
// already done.
func (p *workerPool) Stop() context.Context {
	p.stop()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
