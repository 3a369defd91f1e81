package pegasus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestRoutingMergeKeepsHigherBallot(t *testing.T) {
	mk := func(appID int32, ballots ...protocol.Ballot) *routing {
		r := &routing{app: protocol.AppInfo{AppID: appID, PartitionCount: int32(len(ballots))}}
		for i, bl := range ballots {
			r.parts = append(r.parts, protocol.PartitionConfiguration{
				Gpid: protocol.Gpid{AppID: appID, PartitionIndex: int32(i)}, Ballot: bl, Primary: fmt.Sprintf("n%d:%d", i, bl)})
		}
		return r
	}
	cur := mk(1, 5, 2)
	got := cur.merge(mk(1, 3, 4)) // a lagging answer for partition 0
	if got.parts[0].Ballot != 5 || got.parts[0].Primary != "n0:5" || got.parts[1].Ballot != 4 {
		t.Fatalf("merged: %+v", got.parts)
	}
	// A recreated table or a new partition count replaces everything.
	if got := cur.merge(mk(2, 1, 1)); got.app.AppID != 2 || got.parts[0].Ballot != 1 {
		t.Fatalf("new app: %+v", got)
	}
	if got := cur.merge(mk(1, 1, 1, 1, 1)); len(got.parts) != 4 {
		t.Fatalf("split: %+v", got)
	}
}

func TestNewRoutingRejectsBadAnswers(t *testing.T) {
	good := func() *protocol.QueryConfigResponse {
		return &protocol.QueryConfigResponse{
			App: protocol.AppInfo{AppID: 3, Status: protocol.AppAvailable, PartitionCount: 2},
			Partitions: []protocol.PartitionConfiguration{
				{Gpid: protocol.Gpid{AppID: 3, PartitionIndex: 0}}, {Gpid: protocol.Gpid{AppID: 3, PartitionIndex: 1}},
			},
		}
	}
	if _, err := newRouting("t", good()); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*protocol.QueryConfigResponse){
		"count not power of two": func(r *protocol.QueryConfigResponse) { r.App.PartitionCount = 3 },
		"count zero":             func(r *protocol.QueryConfigResponse) { r.App.PartitionCount = 0 },
		"missing partitions":     func(r *protocol.QueryConfigResponse) { r.Partitions = r.Partitions[:1] },
		"wrong gpid":             func(r *protocol.QueryConfigResponse) { r.Partitions[1].Gpid.PartitionIndex = 0 },
		"dropped":                func(r *protocol.QueryConfigResponse) { r.App.Status = protocol.AppDropped },
	} {
		r := good()
		mut(r)
		if _, err := newRouting("t", r); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	r := good()
	r.App.Status = protocol.AppDropped
	_, err := newRouting("t", r)
	if !errors.Is((&OpError{Op: opOpenTable, Partition: -1, Err: err}), ErrTableNotFound) {
		t.Fatalf("dropped table: %v", err)
	}
}

func TestSuccessorHashKey(t *testing.T) {
	for _, tc := range []struct{ in, want []byte }{
		{[]byte("abc"), []byte("abd")},
		{[]byte("ab\xff"), []byte("ac\x00")},
		{[]byte("\xff\xff"), []byte("\x00\x00\x00")},
	} {
		got := successorHashKey(tc.in)
		if !bytes.Equal(got, tc.want) {
			t.Errorf("successor(%q) = %q, want %q", tc.in, got, tc.want)
		}
		// Every key of the hashkey sorts below (successor, "").
		last, _ := keyschema.EncodeKey(tc.in, bytes.Repeat([]byte{0xff}, 10))
		bound, _ := keyschema.EncodeKey(got, nil)
		if bytes.Compare(last, bound) >= 0 {
			t.Errorf("successor(%q) does not bound its keys", tc.in)
		}
	}
	if got := successorHashKey(bytes.Repeat([]byte{0xff}, keyschema.MaxHashKeyLen)); got != nil {
		t.Fatalf("successor of the largest hashkey = %d bytes", len(got))
	}
}

func TestTTLSeconds(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want int32
		ok   bool
	}{
		{0, 0, true}, {time.Nanosecond, 1, true}, {time.Second, 1, true}, {1001 * time.Millisecond, 2, true},
		{-time.Second, 0, false}, {1 << 62, 0, false},
	} {
		got, err := ttlSeconds(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ttlSeconds(%v) = %d, %v", tc.in, got, err)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want retryClass
	}{
		{protocol.Errorf(protocol.CodeInvalidState, ""), classRefresh},
		{protocol.Errorf(protocol.CodeStaleBallot, ""), classRefresh},
		{protocol.Errorf(protocol.CodeNetworkFailure, ""), classRefresh},
		// A primary whose plog failed answers with its IO error forever;
		// the client must look for the new primary.
		{protocol.Errorf(protocol.CodeIOError, ""), classRefresh},
		{errNoPrimary(protocol.Gpid{}), classRefresh},
		{protocol.Errorf(protocol.CodeBusy, ""), classTransient},
		{protocol.Errorf(protocol.CodeNotFound, ""), classFinal},
		{protocol.Errorf(protocol.CodeInvalidArgument, ""), classFinal},
		{errors.New("other"), classFinal},
	} {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestIsDialError(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	wrapped := fmt.Errorf("%w: %w", protocol.Errorf(protocol.CodeNetworkFailure, "connect"), dial)
	if !isDialError(wrapped) || !wasNotSent(wrapped) {
		t.Fatal("dial failure not recognised")
	}
	read := fmt.Errorf("%w: %w", protocol.Errorf(protocol.CodeNetworkFailure, "call"), &net.OpError{Op: "read", Err: errors.New("reset")})
	if isDialError(read) || wasNotSent(read) {
		t.Fatal("read failure taken for a dial failure")
	}
}

func TestBackoffRespectsDeadline(t *testing.T) {
	bo := backoff{next: time.Hour, max: time.Hour}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	if bo.wait(ctx, nil) {
		t.Fatal("waited past the deadline")
	}
	if time.Since(start) > time.Second {
		t.Fatal("wait slept although it could not retry")
	}
	closing := make(chan struct{})
	close(closing)
	bo = backoff{next: time.Second, max: time.Second}
	if bo.wait(context.Background(), closing) {
		t.Fatal("wait ignored closing")
	}
}
