package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/pegasus-go/pegasus/replicaserver/internal/replica/core"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// wire delivers a replica's messages straight into another replica, and
// records them.
type wire struct {
	mu   sync.Mutex
	to   *Replica
	sent []core.Message
}

func (w *wire) Send(msgs []core.Message) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range msgs {
		w.sent = append(w.sent, m)
		if w.to != nil {
			_ = w.to.Step(m)
		}
	}
}

func (w *wire) connect(r *Replica) {
	w.mu.Lock()
	w.to = r
	w.mu.Unlock()
}

func (w *wire) messages() []core.Message {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]core.Message(nil), w.sent...)
}

// TestLearnerCatchUp drives the replica side of learning by hand: the
// primary adds a learner, checkpoints, keeps writing; the learner installs
// the checkpoint, steps the plog tail, the primary switches it to prepares
// with the rest of the tail, and from then on the primary's writes commit
// only with the learner's acknowledgement.
func TestLearnerCatchUp(t *testing.T) {
	fs := vfs.NewMem()
	prepareFS(t, fs)
	const learner = "learner:1"
	toLearner, toPrimary := &wire{}, &wire{}
	popts := testOptions(fs)
	popts.Transport = toLearner
	p := mustOpen(t, popts)
	defer mustClose(t, p)
	for i := range 30 {
		doSet(t, p, "h", fmt.Sprint(i), "v")
	}

	if err := p.AddLearner(learner); err != nil {
		t.Fatal(err)
	}
	if err := p.AddLearner(testNode); !errors.Is(err, protocol.CodeInvalidArgument) {
		t.Fatalf("adding the primary as learner: %v", err)
	}
	msgs := toLearner.messages()
	if len(msgs) != 1 || msgs[0].Type != core.MsgGroupCheck || msgs[0].To != learner || msgs[0].Config.RoleOf(learner) != core.RoleLearner {
		t.Fatalf("after AddLearner the learner got %v", msgs)
	}
	if err := fs.MkdirAll("/data/ckpt", 0o755); err != nil {
		t.Fatal(err)
	}
	base, err := p.Checkpoint("/data/ckpt/data")
	if err != nil {
		t.Fatal(err)
	}
	if base != 30 {
		t.Fatalf("checkpoint at decree %d, want 30", base)
	}
	// Writes go on while the learner copies (it holds no commit back).
	for i := 30; i < 50; i++ {
		doSet(t, p, "h", fmt.Sprint(i), "v")
	}

	lcfg := core.Config{Ballot: 1, Primary: testNode, Learners: []core.Learner{{Node: learner}}}
	if err := fs.MkdirAll("/data/l", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := InstallCheckpoint(fs, "/data/l", "/data/ckpt/data", testGpid, popts.App, lcfg, learner); err != nil {
		t.Fatal(err)
	}
	l := mustOpen(t, Options{Gpid: testGpid, Dir: "/data/l", FS: fs, Node: learner, Transport: toPrimary,
		ReapInterval: -1, EngineSyncInterval: -1, hooks: &testHooks{tickC: make(chan time.Time)}})
	defer mustClose(t, l)
	if st := l.Status(); st.Role != "learner" || st.LastApplied != base || st.Ballot != 1 {
		t.Fatalf("installed learner: %+v", st)
	}

	// The committed tail from the plog.
	rd, err := p.NewLogReader(base + 1)
	if err != nil {
		t.Fatal(err)
	}
	var tail []*protocol.Mutation
	for {
		m, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		tail = append(tail, m)
	}
	rd.Close()
	if len(tail) == 0 || tail[0].Decree != base+1 {
		t.Fatalf("tail of %d records", len(tail))
	}
	ctx := context.Background()
	if err := l.StepLearned(ctx, tail, p.Status().LastCommitted); err != nil {
		t.Fatal(err)
	}
	x := l.Status().LastLogged
	if x != tail[len(tail)-1].Decree {
		t.Fatalf("learner logged %d, tail ends at %d", x, tail[len(tail)-1].Decree)
	}

	// Too far behind for the switch: refused, nothing changes.
	if _, _, err := p.StartLearner(learner, 1, 5); !errors.Is(err, protocol.CodeBusy) {
		t.Fatalf("switch from decree 1: %v", err)
	}
	start, rest, err := p.StartLearner(learner, x+1, 100)
	if err != nil {
		t.Fatal(err)
	}
	if start != 51 || len(rest) != int(start-1-x) {
		t.Fatalf("switch at %d with %d more records (learner at %d)", start, len(rest), x)
	}
	if st := p.Status(); len(st.Learners) != 1 || st.Learners[0].StartDecree != start {
		t.Fatalf("primary learners %+v", st.Learners)
	}
	if err := l.StepLearned(ctx, rest, p.Status().LastCommitted); err != nil {
		t.Fatal(err)
	}
	dp, err := p.Digest()
	if err != nil {
		t.Fatal(err)
	}
	dl, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if dp != dl || dp.Decree != 50 || dp.Records != 50 {
		t.Fatalf("primary %+v, learner %+v", dp, dl)
	}

	// From the start decree on the primary commits only with the learner.
	toLearner.connect(l)
	toPrimary.connect(p)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := p.Write(wctx, protocol.OpPut, setReq("h", "last", "v")); err != nil {
		t.Fatalf("write after the switch: %v", err)
	}
	var prepared bool
	for _, m := range toLearner.messages() {
		prepared = prepared || (m.Type == core.MsgPrepare && m.Mutation.Decree == start)
	}
	if !prepared {
		t.Fatal("the learner was not prepared the write at its start decree")
	}
	// The learner's acknowledgement goes out before it publishes its
	// state; one more loop round publishes it.
	if err := l.call(func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if st := l.Status(); st.LastLogged != start {
		t.Fatalf("learner logged %d, want %d", st.LastLogged, start)
	}

	// A learner that left the learners is not switched again.
	if err := p.DropLearner(learner); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.StartLearner(learner, start+1, 100); !errors.Is(err, protocol.CodeInvalidState) {
		t.Fatalf("switch of a dropped learner: %v", err)
	}
	if err := l.StepLearned(ctx, tail[:1], 0); err != nil {
		t.Fatalf("stepping an old record again: %v", err)
	}
}
