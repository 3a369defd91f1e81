package replica

import (
	"context"
	"errors"
	"slices"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/pegasus-go/pegasus/replicaserver/internal/plog"
	"github.com/pegasus-go/pegasus/replicaserver/internal/replica/core"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// This file holds what learning needs from a replica: on the primary,
// adding learners, checkpoints, the plog tail and the switch to prepares;
// on the learner, feeding learned mutations to the core and installing a
// copied checkpoint.

// learnStepChunk bounds the learned mutations stepped into the core in one
// loop round: the core drops prepares more than MaxBufferedPrepares above
// its commit point, and the commit point moves once a round is logged.
const learnStepChunk = 64

// Node returns this replica server's address.
func (r *Replica) Node() string { return r.opts.Node }

// Dir returns the replica directory.
func (r *Replica) Dir() string { return r.opts.Dir }

// App returns the table info the replica holds.
func (r *Replica) App() protocol.AppInfo { return r.snap.Load().app }

// AddLearner adds node as a learner still copying state (start decree 0)
// to the primary's configuration under the current ballot and sends it a
// group check at once, so the learner node creates its replica and starts
// learning. Adding a node that already is a learner is a no-op. Errors:
// CodeInvalidState when this replica is not the primary, CodeInvalidArgument
// when node is a member or this replica itself.
func (r *Replica) AddLearner(node string) error {
	return r.call(func() error {
		st := r.core.Status()
		if st.Role != core.RolePrimary {
			return protocol.Errorf(protocol.CodeInvalidState, "replica %s is %s, not primary: cannot add learner %s", r.gpid, st.Role, node)
		}
		switch st.Config.RoleOf(node) {
		case core.RoleLearner:
			r.sendGroupCheck(st, node)
			return nil
		case core.RoleInactive:
		default:
			return protocol.Errorf(protocol.CodeInvalidArgument, "replica %s: %s is already a member (ballot %d)", r.gpid, node, st.Config.Ballot)
		}
		cfg := st.Config.Clone()
		cfg.Learners = append(cfg.Learners, core.Learner{Node: node})
		if err := r.core.SetConfig(cfg); err != nil {
			return err
		}
		r.logger.Info("learner added", logging.Ballot(cfg.Ballot), "learner", node)
		r.sendGroupCheck(r.core.Status(), node)
		return nil
	})
}

// sendGroupCheck sends node a group check built from st (loop goroutine).
func (r *Replica) sendGroupCheck(st core.Status, node string) {
	cfg := st.Config.Clone()
	r.transport.Send([]core.Message{{
		Type: core.MsgGroupCheck, From: r.opts.Node, To: node, Ballot: cfg.Ballot, Config: &cfg,
		LastCommitted: st.Committed, LastPrepared: st.Prepared,
	}})
}

// DropLearner removes node from the primary's learners (a learning session
// that failed or timed out). Dropping a node that is not a learner is a
// no-op.
func (r *Replica) DropLearner(node string) error {
	return r.call(func() error {
		st := r.core.Status()
		if st.Role != core.RolePrimary || st.Config.RoleOf(node) != core.RoleLearner {
			return nil
		}
		cfg := st.Config.Clone()
		cfg.Learners = slices.DeleteFunc(cfg.Learners, func(l core.Learner) bool { return l.Node == node })
		return r.core.SetConfig(cfg)
	})
}

// ResetLearner sets node's start decree back to 0 (copying again, no
// prepares), e.g. after the learner restarted without what it had learned.
func (r *Replica) ResetLearner(node string) error {
	return r.call(func() error {
		st := r.core.Status()
		if st.Role != core.RolePrimary || st.Config.RoleOf(node) != core.RoleLearner {
			return protocol.Errorf(protocol.CodeInvalidState, "replica %s: %s is not a learner of this primary", r.gpid, node)
		}
		cfg := st.Config.Clone()
		for i := range cfg.Learners {
			if cfg.Learners[i].Node == node {
				cfg.Learners[i].StartDecree = 0
			}
		}
		return r.core.SetConfig(cfg)
	})
}

// StartLearner switches learner node from learning to prepares, on the
// loop goroutine so no write slips between the two: with C the commit
// point (everything up to C is applied; the core holds every decree above
// it), it reads the committed mutations [from, C] from the plog and sets
// the learner's start decree to C+1, from which the core prepares to it and
// counts its acknowledgements for commit. It returns the start decree and
// the mutations (the caller's; ballots as logged). When more than maxTail
// mutations lie in [from, C] it changes nothing and fails with CodeBusy
// (learn more of the tail first). CodeInvalidState: not primary, or node
// is not a learner; CodeInvalidArgument: from is above C+1;
// plog.ErrGarbageCollected (wrapped in CodeObjectNotFound) when the plog no
// longer holds from.
func (r *Replica) StartLearner(node string, from protocol.Decree, maxTail int) (start protocol.Decree, tail []*protocol.Mutation, err error) {
	err = r.call(func() error {
		st := r.core.Status()
		if st.Role != core.RolePrimary || st.Config.RoleOf(node) != core.RoleLearner {
			return protocol.Errorf(protocol.CodeInvalidState, "replica %s: %s is not a learner of this primary", r.gpid, node)
		}
		c := st.Committed
		from = max(from, 1)
		if from > c+1 {
			return protocol.Errorf(protocol.CodeInvalidArgument, "replica %s: learner %s claims decree %d above the commit point %d",
				r.gpid, node, from-1, c)
		}
		if int64(c-from+1) > int64(maxTail) {
			return protocol.Errorf(protocol.CodeBusy, "replica %s: learner %s is %d decrees behind (switch at %d)", r.gpid, node, c-from+1, maxTail)
		}
		tail = tail[:0]
		if from <= c {
			errStop := errors.New("stop")
			err := r.plog.Replay(from, func(m *protocol.Mutation) error {
				if m.Decree > c {
					return errStop
				}
				tail = append(tail, m)
				return nil
			})
			if err != nil && !errors.Is(err, errStop) {
				if errors.Is(err, plog.ErrGarbageCollected) {
					return protocol.Errorf(protocol.CodeObjectNotFound, "replica %s: plog no longer holds decree %d: %v", r.gpid, from, err)
				}
				return protocol.Errorf(protocol.CodeIOError, "replica %s: read plog from %d: %v", r.gpid, from, err)
			}
			if n := len(tail); n != int(c-from+1) || tail[0].Decree != from || tail[n-1].Decree != c {
				return protocol.Errorf(protocol.CodeInternal, "replica %s: plog yields %d records for decrees [%d, %d]", r.gpid, n, from, c)
			}
		}
		cfg := st.Config.Clone()
		for i := range cfg.Learners {
			if cfg.Learners[i].Node == node {
				cfg.Learners[i].StartDecree = c + 1
			}
		}
		if err := r.core.SetConfig(cfg); err != nil {
			return err
		}
		start = c + 1
		r.logger.Info("learner switched to prepares", logging.Ballot(cfg.Ballot), "learner", node, "start_decree", int64(start),
			"tail", len(tail))
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return start, tail, nil
}

// StepLearned feeds mutations learned from the primary, in decree order, to
// this learner's core as prepares of the primary under the current ballot
// (older ballots are re-stamped, as the primary does for lagging members),
// with primaryCommitted as the primary's commit point. They are logged,
// committed and applied like prepares. It returns once all are logged, or
// CodeInvalidState when the replica is not a learner, or the core did not
// take them (they do not follow what it holds).
func (r *Replica) StepLearned(ctx context.Context, muts []*protocol.Mutation, primaryCommitted protocol.Decree) error {
	for len(muts) > 0 {
		if err := ctx.Err(); err != nil {
			return protocol.Errorf(protocol.CodeTimeout, "replica %s: %v", r.gpid, err)
		}
		n := min(len(muts), learnStepChunk)
		chunk := muts[:n]
		muts = muts[n:]
		last := chunk[n-1].Decree
		err := r.call(func() error {
			st := r.core.Status()
			if st.Role != core.RoleLearner {
				return protocol.Errorf(protocol.CodeInvalidState, "replica %s is %s, not a learner", r.gpid, st.Role)
			}
			for _, m := range chunk {
				if m.Decree <= st.Logged {
					continue
				}
				cp := *m
				cp.Ballot = st.Config.Ballot
				err := r.core.Step(core.Message{Type: core.MsgPrepare, From: st.Config.Primary, To: r.opts.Node,
					Ballot: cp.Ballot, Mutation: &cp, LastCommitted: max(primaryCommitted, 0)})
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if s := r.snap.Load().status; s.Logged < last {
			return protocol.Errorf(protocol.CodeInvalidState, "replica %s: learned mutations up to %d not logged (logged %d, role %s)",
				r.gpid, last, s.Logged, s.Role)
		}
	}
	return nil
}

// Checkpoint writes a consistent copy of the engine to dest (which must not
// exist) for a learner and returns the decree it holds.
func (r *Replica) Checkpoint(dest string) (protocol.Decree, error) {
	if err := r.stoppedErr(); err != nil {
		return 0, err
	}
	return r.engine.Checkpoint(dest)
}

// NewLogReader returns a reader over the committed plog records from decree
// from on (see plog.Log.NewReader); the caller closes it.
func (r *Replica) NewLogReader(from protocol.Decree) (*plog.Reader, error) {
	if err := r.stoppedErr(); err != nil {
		return nil, err
	}
	return r.plog.NewReader(from)
}

// PlogStats returns the plog's statistics.
func (r *Replica) PlogStats() plog.Stats { return r.plog.Stats() }

// InstallCheckpoint replaces the data of the closed replica in dir by the
// engine checkpoint in src (a directory on fs written by Checkpoint and
// copied over): dir/data and dir/plog are removed, src is renamed to
// dir/data and the metadata is rewritten with gpid, app and cfg. Reopening
// the replica then restores the core from the checkpoint's decree with an
// empty plog. A crash in the middle leaves a replica that learns again.
func InstallCheckpoint(fs vfs.FS, dir, src string, gpid protocol.Gpid, app protocol.AppInfo, cfg core.Config, node string) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	// The metadata first loses its configuration, so a crash before the
	// data is in place cannot restore a member over an empty engine.
	if err := writeMeta(fs, dir, Meta{Gpid: gpid, App: app}); err != nil {
		return err
	}
	for _, name := range []string{DataDirName, PlogDirName} {
		if err := fs.RemoveAll(fs.PathJoin(dir, name)); err != nil {
			return ioErr("remove "+name, err)
		}
	}
	if err := fs.Rename(src, fs.PathJoin(dir, DataDirName)); err != nil {
		return ioErr("install checkpoint", err)
	}
	if err := syncDir(fs, dir); err != nil {
		return err
	}
	return writeMeta(fs, dir, Meta{Gpid: gpid, App: app, Config: cfg, Role: cfg.RoleOf(node).String()})
}
