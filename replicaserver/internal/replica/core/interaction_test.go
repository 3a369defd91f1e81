package core

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// TestInteraction runs the scenario scripts in testdata. Regenerate the
// expected output with: go test ./internal/replica/core -run TestInteraction -rewrite
//
// Commands (node lists are comma-separated; most default to every live node):
//
//	add-nodes n1,n2 [max-replica=N] [window=N] [queue=N] [max-updates=N] [max-bytes=N]
//	          [group-check=N] [resend=N] [timeout=N] [idle=N] [buffer=N] [async-log]
//	config ballot=B [primary=n1] [secondaries=n2,n3] [learners=n4@5] [to=n1,...]
//	propose n1 op=put body=a,b,c [flags=F] [extra=op:body,...]
//	                                    one write per body; the token is the body;
//	                                    flags are the proposals' mutation flags,
//	                                    extra updates go with every write
//	ready [n1,...]                      handle each node's Ready (persist, send, apply, advance)
//	log-done n1 [count=K]               make K pending records durable (async-log nodes)
//	deliver-msgs [from=..] [to=..] [type=Prepare] [drop=n3] [dup] [reverse]
//	stabilize                           ready/log-done/deliver until quiet
//	tick n1,... [count=N]
//	crash n1 / restart n1
//	learn n3 from=n1                    replace n3's state by a copy of n1's (a finished learning)
//	lease n1 expired | until=T
//	status [n1,...]                     roles, decrees, read/write readiness
//	applied [n1,...]                    the state machine's contents
func TestInteraction(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no scenario scripts: %v", err)
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) { runScenario(t, path) })
	}
}

// runScenario runs one script against a fresh environment.
func runScenario(t *testing.T, path string) {
	var pos string
	e := newEnv(func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s: invariant: %s", pos, fmt.Sprintf(format, args...))
	})
	datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
		pos = d.Pos
		e.out.Reset()
		if err := handle(e, d); err != nil {
			e.printf("error: %v\n", err)
		}
		return e.out.String()
	})
}

func argVal(d *datadriven.TestData, key string) (string, bool) {
	a, ok := d.Arg(key)
	if !ok || len(a.Vals) == 0 {
		return "", ok
	}
	return strings.Join(a.Vals, ","), true
}

func argInt(d *datadriven.TestData, key string, def int) (int, error) {
	v, ok := argVal(d, key)
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: %v", key, v, err)
	}
	return n, nil
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// firstList returns the node list given as the first bare argument, or
// every node when there is none.
func firstList(e *env, d *datadriven.TestData) []string {
	if len(d.CmdArgs) > 0 && len(d.CmdArgs[0].Vals) == 0 {
		return splitList(d.CmdArgs[0].Key)
	}
	return e.order
}

var opByName = func() map[string]protocol.OpCode {
	m := map[string]protocol.OpCode{}
	for op := protocol.OpEmpty; op <= protocol.OpDuplicate; op++ {
		m[op.String()] = op
	}
	return m
}()

func handle(e *env, d *datadriven.TestData) error {
	switch d.Cmd {
	case "add-nodes":
		opts := Options{AsyncLogAck: d.HasArg("async-log")}
		for _, f := range []struct {
			key string
			dst *int
		}{
			{"max-replica", &opts.MaxReplicaCount}, {"window", &opts.MaxInFlight}, {"queue", &opts.MaxQueued},
			{"max-updates", &opts.MaxMutationUpdates}, {"max-bytes", &opts.MaxMutationBytes},
			{"group-check", &opts.GroupCheckTicks}, {"resend", &opts.ResendTicks},
			{"timeout", &opts.PrepareTimeoutTicks}, {"idle", &opts.IdleEmptyWriteTicks},
			{"buffer", &opts.MaxBufferedPrepares},
		} {
			v, err := argInt(d, f.key, 0)
			if err != nil {
				return err
			}
			*f.dst = v
		}
		for _, id := range splitList(d.CmdArgs[0].Key) {
			if err := e.addNode(id, opts, State{}); err != nil {
				return err
			}
		}
		return nil

	case "config":
		b, err := argInt(d, "ballot", 0)
		if err != nil {
			return err
		}
		cfg := Config{Ballot: protocol.Ballot(b)}
		cfg.Primary, _ = argVal(d, "primary")
		s, _ := argVal(d, "secondaries")
		cfg.Secondaries = splitList(s)
		l, _ := argVal(d, "learners")
		for _, x := range splitList(l) {
			node, start, _ := strings.Cut(x, "@")
			sd, err := strconv.Atoi(start)
			if err != nil {
				return fmt.Errorf("learner %q: want node@start", x)
			}
			cfg.Learners = append(cfg.Learners, Learner{Node: node, StartDecree: protocol.Decree(sd)})
		}
		to := []string{}
		if v, ok := argVal(d, "to"); ok {
			to = splitList(v)
		} else {
			if cfg.Primary != "" {
				to = append(to, cfg.Primary)
			}
			to = append(to, cfg.Secondaries...)
			for _, l := range cfg.Learners {
				to = append(to, l.Node)
			}
		}
		for _, id := range to {
			n, err := e.live(id)
			if err != nil {
				e.printf("%s: %v\n", id, err)
				continue
			}
			if err := n.core.SetConfig(cfg); err != nil {
				e.printf("%s: %v\n", id, err)
			}
			e.checkBallot(n)
		}
		return nil

	case "propose":
		n, err := e.live(d.CmdArgs[0].Key)
		if err != nil {
			return err
		}
		opName, _ := argVal(d, "op")
		op, ok := opByName[opName]
		if !ok {
			return fmt.Errorf("unknown op %q", opName)
		}
		flags, err := argInt(d, "flags", 0)
		if err != nil {
			return err
		}
		var extra []protocol.Update
		extraV, _ := argVal(d, "extra")
		for _, x := range splitList(extraV) {
			name, body, _ := strings.Cut(x, ":")
			xop, ok := opByName[name]
			if !ok {
				return fmt.Errorf("unknown extra op %q", name)
			}
			extra = append(extra, protocol.Update{Op: xop, Body: []byte(body)})
		}
		bodies, _ := argVal(d, "body")
		for _, body := range splitList(bodies) {
			err := n.core.Propose(Proposal{Op: op, Body: []byte(body), Token: body,
				Flags: protocol.MutationFlags(flags), Extra: extra})
			if err != nil {
				e.printf("%s: %v\n", body, err)
			} else {
				e.printf("%s: queued\n", body)
			}
		}
		return nil

	case "ready":
		for _, id := range firstList(e, d) {
			n, err := e.live(id)
			if err != nil {
				if len(d.CmdArgs) > 0 {
					return err
				}
				continue
			}
			e.processReady(n)
		}
		return nil

	case "log-done":
		n, err := e.live(d.CmdArgs[0].Key)
		if err != nil {
			return err
		}
		k, err := argInt(d, "count", -1)
		if err != nil {
			return err
		}
		return e.logDone(n, k)

	case "deliver-msgs":
		from, _ := argVal(d, "from")
		to, _ := argVal(d, "to")
		typ, _ := argVal(d, "type")
		dropV, _ := argVal(d, "drop")
		drop := splitList(dropV)
		match := func(m Message) bool {
			return (from == "" || contains(splitList(from), m.From)) &&
				(to == "" || contains(splitList(to), m.To)) &&
				(typ == "" || m.Type.String() == typ)
		}
		var keep, now []Message
		for _, m := range e.net {
			if match(m) {
				now = append(now, m)
			} else {
				keep = append(keep, m)
			}
		}
		e.net = keep
		if d.HasArg("reverse") {
			slices.Reverse(now)
		}
		for _, m := range now {
			if contains(drop, m.To) || contains(drop, m.From) {
				e.printf("dropped: %s\n", m)
				continue
			}
			e.deliver(m)
			if d.HasArg("dup") {
				e.deliver(m)
			}
		}
		return nil

	case "stabilize":
		e.stabilize()
		return nil

	case "tick":
		k, err := argInt(d, "count", 1)
		if err != nil {
			return err
		}
		for _, id := range firstList(e, d) {
			n, err := e.live(id)
			if err != nil {
				return err
			}
			for range k {
				n.core.Tick()
			}
		}
		return nil

	case "crash":
		n, err := e.live(d.CmdArgs[0].Key)
		if err != nil {
			return err
		}
		e.crash(n)
		return nil

	case "restart":
		n, err := e.node(d.CmdArgs[0].Key)
		if err != nil {
			return err
		}
		if n.core != nil {
			return fmt.Errorf("node %s is up", n.id)
		}
		if err := e.restart(n); err != nil {
			return err
		}
		st := n.core.Status()
		e.printf("%s restarted: role=%s committed=%d prepared=%d applied=%d\n", n.id, st.Role, st.Committed, st.Prepared, st.Applied)
		return nil

	case "learn":
		n, err := e.node(d.CmdArgs[0].Key)
		if err != nil {
			return err
		}
		fromID, _ := argVal(d, "from")
		src, err := e.live(fromID)
		if err != nil {
			return err
		}
		if err := e.learn(n, src); err != nil {
			return err
		}
		st := n.core.Status()
		e.printf("%s learned from %s: role=%s committed=%d prepared=%d applied=%d\n", n.id, src.id, st.Role, st.Committed, st.Prepared, st.Applied)
		return nil

	case "lease":
		n, err := e.live(d.CmdArgs[0].Key)
		if err != nil {
			return err
		}
		if d.HasArg("expired") {
			n.core.ExpireLease()
			return nil
		}
		u, err := argInt(d, "until", -1)
		if err != nil || u < 0 {
			return fmt.Errorf("lease: want expired or until=T")
		}
		n.core.GrantLease(int64(u))
		return nil

	case "status":
		for _, id := range firstList(e, d) {
			n, err := e.node(id)
			if err != nil {
				return err
			}
			if n.core == nil {
				e.printf("%s: down\n", id)
				continue
			}
			st := n.core.Status()
			e.printf("%s: %s b=%d committed=%d prepared=%d logged=%d applied=%d queued=%d",
				id, st.Role, st.Config.Ballot, st.Committed, st.Prepared, st.Logged, st.Applied, st.Queued)
			if err := n.core.CanRead(); err != nil {
				e.printf(" read=%s", errString(err))
			} else {
				e.printf(" read=ok")
			}
			if err := n.core.CanWrite(); err != nil {
				e.printf(" write=%s", errString(err))
			} else {
				e.printf(" write=ok")
			}
			e.printf("\n")
		}
		return nil

	case "applied":
		for _, id := range firstList(e, d) {
			n, err := e.node(id)
			if err != nil {
				return err
			}
			var parts []string
			for _, m := range n.applied {
				parts = append(parts, fmt.Sprintf("%d:[%s]", m.Decree, updatesString(m)))
			}
			e.printf("%s: %s\n", id, strings.Join(parts, " "))
		}
		return nil
	}
	return fmt.Errorf("unknown command %q", d.Cmd)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
