package bindings

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/magiconair/properties"
	"github.com/pingcap/go-ycsb/pkg/ycsb"
	rpcxclient "github.com/smallnest/rpcx/client"
	rpcxserver "github.com/smallnest/rpcx/server"

	"github.com/pegasus-go/pegasus/shared/rpc"
)

// Properties of the echo bindings.
const (
	// RpcxEchoAddr is the rpcx echo server's address.
	RpcxEchoAddr = "rpcx-echo.addr"
	// RPCEchoAddr is the shared/rpc echo server's address.
	RPCEchoAddr = "rpc-echo.addr"
)

// EchoPayloadBytes is the size of every echoed payload: one YCSB field.
const EchoPayloadBytes = 100

// echoService and echoMethod name the echo call on both servers.
const (
	echoService = "Echo"
	echoMethod  = "Echo"
)

func init() {
	ycsb.RegisterDBCreator("rpcx-echo", rpcxEchoCreator{})
	ycsb.RegisterDBCreator("rpc-echo", rpcEchoCreator{})
}

// EchoArgs is the rpcx echo request and reply (msgpack-encoded by rpcx's
// default codec).
type EchoArgs struct {
	Data []byte
}

// RpcxEcho is the rpcx echo service.
type RpcxEcho struct{}

// Echo answers with the request's data.
func (RpcxEcho) Echo(_ context.Context, args *EchoArgs, reply *EchoArgs) error {
	reply.Data = args.Data
	return nil
}

// EchoMessage is the shared/rpc echo request and reply: its binary
// encoding is its data.
type EchoMessage struct {
	Data []byte
}

// AppendBinary implements protocol.Message.
func (m *EchoMessage) AppendBinary(b []byte) ([]byte, error) { return append(b, m.Data...), nil }

// UnmarshalBinary implements protocol.Message.
func (m *EchoMessage) UnmarshalBinary(data []byte) error {
	m.Data = append(m.Data[:0], data...)
	return nil
}

// RPCEcho is the shared/rpc echo service.
type RPCEcho struct{}

// Echo answers with the request's data.
func (RPCEcho) Echo(_ context.Context, req *EchoMessage, resp *EchoMessage) error {
	resp.Data = req.Data
	return nil
}

// EchoServers runs both echo servers until Close.
type EchoServers struct {
	rpcx    *rpcxserver.Server
	rpcxLn  net.Listener
	rpcDone chan error
	rpc     *rpc.Server
}

// StartEchoServers starts the rpcx echo server on rpcxAddr and the
// shared/rpc echo server on rpcAddr.
func StartEchoServers(rpcxAddr, rpcAddr string, logger *slog.Logger) (*EchoServers, error) {
	rs, err := rpc.NewServer(rpc.ServerConfig{}, logger)
	if err != nil {
		return nil, err
	}
	if err := rs.Register(echoService, RPCEcho{}); err != nil {
		return nil, err
	}
	if err := rs.Start(rpcAddr); err != nil {
		return nil, err
	}
	xs := rpcxserver.NewServer()
	xs.DisableHTTPGateway = true
	xs.DisableJSONRPC = true
	if err := xs.RegisterName(echoService, RpcxEcho{}, ""); err != nil {
		_ = rs.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", rpcxAddr)
	if err != nil {
		_ = rs.Close()
		return nil, fmt.Errorf("rpcx echo: listen on %s: %w", rpcxAddr, err)
	}
	s := &EchoServers{rpcx: xs, rpcxLn: ln, rpcDone: make(chan error, 1), rpc: rs}
	go func() { s.rpcDone <- xs.ServeListener("tcp", ln) }()
	return s, nil
}

// RpcxAddr and RPCAddr return the bound addresses.
func (s *EchoServers) RpcxAddr() string { return s.rpcxLn.Addr().String() }

// RPCAddr returns the shared/rpc server's address.
func (s *EchoServers) RPCAddr() string { return s.rpc.Addr().String() }

// Close stops both servers. The rpcx server's serve loop ends with an
// error of its own once it is closed; that one is expected.
func (s *EchoServers) Close() error {
	err := s.rpc.Close()
	if e := s.rpcx.Close(); e != nil && err == nil {
		err = e
	}
	<-s.rpcDone
	return err
}

// echoPayload is what every echo operation sends; it is never written.
var echoPayload = make([]byte, EchoPayloadBytes)

type rpcxEchoCreator struct{}

type rpcxEchoDB struct {
	noThreadState
	c *rpcxclient.Client
}

// Create implements ycsb.DBCreator: one connection, shared by every
// thread.
func (rpcxEchoCreator) Create(p *properties.Properties) (ycsb.DB, error) {
	addr := p.GetString(RpcxEchoAddr, "")
	if addr == "" {
		return nil, fmt.Errorf("rpcx-echo binding: property %s is required", RpcxEchoAddr)
	}
	c := rpcxclient.NewClient(rpcxclient.DefaultOption)
	if err := c.Connect("tcp", addr); err != nil {
		return nil, fmt.Errorf("rpcx-echo binding: connect to %s: %w", addr, err)
	}
	return &rpcxEchoDB{c: c}, nil
}

func (db *rpcxEchoDB) Close() error { return db.c.Close() }

func (db *rpcxEchoDB) echo(ctx context.Context, data []byte) ([]byte, error) {
	var reply EchoArgs
	if err := db.c.Call(ctx, echoService, echoMethod, &EchoArgs{Data: data}, &reply); err != nil {
		return nil, err
	}
	if len(reply.Data) != len(data) {
		return nil, fmt.Errorf("rpcx-echo: %d bytes echoed for %d", len(reply.Data), len(data))
	}
	return reply.Data, nil
}

func (db *rpcxEchoDB) Read(ctx context.Context, _ string, _ string, fields []string) (map[string][]byte, error) {
	v, err := db.echo(ctx, echoPayload)
	if err != nil {
		return nil, err
	}
	return record(fields, v), nil
}

func (db *rpcxEchoDB) Scan(context.Context, string, string, int, []string) ([]map[string][]byte, error) {
	return nil, errors.New("rpcx-echo binding: scan is not an echo")
}

func (db *rpcxEchoDB) Update(ctx context.Context, _ string, _ string, values map[string][]byte) error {
	return echoValues(ctx, "rpcx-echo", values, db.echo)
}

func (db *rpcxEchoDB) Insert(ctx context.Context, _ string, _ string, values map[string][]byte) error {
	return echoValues(ctx, "rpcx-echo", values, db.echo)
}

func (db *rpcxEchoDB) Delete(ctx context.Context, _ string, _ string) error {
	_, err := db.echo(ctx, echoPayload)
	return err
}

func echoValues(ctx context.Context, binding string, values map[string][]byte, echo func(context.Context, []byte) ([]byte, error)) error {
	v, err := singleValue(binding, values)
	if err != nil {
		return err
	}
	_, err = echo(ctx, v)
	return err
}

type rpcEchoCreator struct{}

type rpcEchoDB struct {
	noThreadState
	c    *rpc.Client
	addr string
}

// Create implements ycsb.DBCreator: a shared/rpc client (one connection
// per address, shared by every thread).
func (rpcEchoCreator) Create(p *properties.Properties) (ycsb.DB, error) {
	addr := p.GetString(RPCEchoAddr, "")
	if addr == "" {
		return nil, fmt.Errorf("rpc-echo binding: property %s is required", RPCEchoAddr)
	}
	c, err := rpc.NewClient(rpc.ClientConfig{}, nil)
	if err != nil {
		return nil, err
	}
	return &rpcEchoDB{c: c, addr: addr}, nil
}

func (db *rpcEchoDB) Close() error { return db.c.Close() }

func (db *rpcEchoDB) echo(ctx context.Context, data []byte) ([]byte, error) {
	var resp EchoMessage
	if err := db.c.Call(ctx, db.addr, echoService, echoMethod, &EchoMessage{Data: data}, &resp); err != nil {
		return nil, err
	}
	if len(resp.Data) != len(data) {
		return nil, fmt.Errorf("rpc-echo: %d bytes echoed for %d", len(resp.Data), len(data))
	}
	return resp.Data, nil
}

func (db *rpcEchoDB) Read(ctx context.Context, _ string, _ string, fields []string) (map[string][]byte, error) {
	v, err := db.echo(ctx, echoPayload)
	if err != nil {
		return nil, err
	}
	return record(fields, v), nil
}

func (db *rpcEchoDB) Scan(context.Context, string, string, int, []string) ([]map[string][]byte, error) {
	return nil, errors.New("rpc-echo binding: scan is not an echo")
}

func (db *rpcEchoDB) Update(ctx context.Context, _ string, _ string, values map[string][]byte) error {
	return echoValues(ctx, "rpc-echo", values, db.echo)
}

func (db *rpcEchoDB) Insert(ctx context.Context, _ string, _ string, values map[string][]byte) error {
	return echoValues(ctx, "rpc-echo", values, db.echo)
}

func (db *rpcEchoDB) Delete(ctx context.Context, _ string, _ string) error {
	_, err := db.echo(ctx, echoPayload)
	return err
}
