package fakecluster

import (
	"io"
	"net"
	"sync"
)

// proxy forwards TCP connections from its own loopback port to a backend
// address and can cut every connection it carries.
type proxy struct {
	ln      net.Listener
	backend string
	wg      sync.WaitGroup

	mu struct {
		sync.Mutex
		closed bool
		conns  map[net.Conn]struct{}
	}
}

func newProxy(backend string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, backend: backend}
	p.mu.conns = make(map[net.Conn]struct{})
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", p.backend)
		if err != nil {
			_ = c.Close()
			continue
		}
		if !p.track(c, b) {
			_ = c.Close()
			_ = b.Close()
			return
		}
		p.wg.Add(2)
		go p.pipe(c, b)
		go p.pipe(b, c)
	}
}

func (p *proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.closed {
		return false
	}
	for _, c := range conns {
		p.mu.conns[c] = struct{}{}
	}
	return true
}

// pipe copies src to dst until either fails, then closes both.
func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
	p.mu.Lock()
	delete(p.mu.conns, dst)
	delete(p.mu.conns, src)
	p.mu.Unlock()
}

// dropAll closes every connection the proxy carries; new ones are still
// accepted.
func (p *proxy) dropAll() {
	p.mu.Lock()
	conns := make([]net.Conn, 0, len(p.mu.conns))
	for c := range p.mu.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// close stops accepting (so dials are refused), cuts every connection and
// waits for the proxy's goroutines.
func (p *proxy) close() {
	p.mu.Lock()
	already := p.mu.closed
	p.mu.closed = true
	p.mu.Unlock()
	if !already {
		_ = p.ln.Close()
	}
	p.dropAll()
	p.wg.Wait()
}
