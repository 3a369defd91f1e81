package meta

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/metaserver/internal/state"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// dupRemoteTimeout bounds one call to a remote cluster's meta servers.
const dupRemoteTimeout = 10 * time.Second

// pokeDup wakes the duplication executor early.
func (t *term) pokeDup() {
	select {
	case t.dupKick <- struct{}{}:
	default:
	}
}

// dupLoop is the duplication executor: every GuardianInterval, and at once
// when poked, it stores the confirmed decrees that are due and advances
// every duplication by the step decideDup gives. It runs only on the
// leader, so a new leader resumes every duplication from its stored state.
func (t *term) dupLoop() {
	tick := time.NewTicker(t.s.opts.GuardianInterval)
	defer tick.Stop()
	for {
		t.dupRound()
		select {
		case <-t.ctx.Done():
			return
		case <-t.aborted:
			return
		case <-tick.C:
		case <-t.dupKick:
		}
	}
}

// appTask is a duplication in DS_APP, advanced after asking its remote
// cluster without holding the lock.
type appTask struct {
	key     dupKey
	version int32 // of the record when read; a change meanwhile voids the task
	dup     state.Dup
	info    protocol.AppInfo
}

// dupRound is one executor pass.
func (t *term) dupRound() {
	if !t.active() {
		return
	}
	ctx, cancel := context.WithTimeout(t.ctx, 30*time.Second)
	defer cancel()
	t.mu.Lock()
	tasks, err := t.dupStepsLocked(ctx)
	t.mu.Unlock()
	if err != nil {
		if t.active() {
			t.log.Warn("duplication round failed", logging.Err(err))
		}
		return
	}
	for _, task := range tasks {
		if !t.active() {
			return
		}
		if err := t.advanceApp(ctx, task); err != nil {
			if t.active() {
				t.log.Warn("duplication round failed", logging.Err(err))
			}
			return
		}
	}
}

// dupStepsLocked stores due progress and applies every step that needs
// no remote call; it returns the duplications in DS_APP.
func (t *term) dupStepsLocked(ctx context.Context) ([]appTask, error) {
	t.forgetDupsLocked()
	now := t.nowMs()
	var tasks []appTask
	for _, app := range t.mu.view.SortedApps() {
		if app.Info.Status != protocol.AppAvailable {
			continue
		}
		for _, d := range app.SortedDups() {
			if err := t.flushDupLocked(ctx, app, d, now); err != nil {
				return nil, err
			}
			if d.Dup.Status == protocol.DupStatusApp {
				tasks = append(tasks, appTask{key: dupKey{app.Info.AppID, d.Dup.ID}, version: d.Version, dup: d.Dup, info: state.CloneApp(app.Info)})
				continue
			}
			if err := t.applyStepLocked(ctx, app, d, decideDup(t.dupInputLocked(app, d, now))); err != nil {
				return nil, err
			}
		}
	}
	return tasks, nil
}

// dupInputLocked gathers decideDup's input, except the remote table.
func (t *term) dupInputLocked(app *state.App, d *state.AppDup, now int64) dupInput {
	mem := t.dupMemLocked(app, d)
	in := dupInput{
		Dup: d.Dup, PartitionCount: app.Info.PartitionCount,
		WantEnvs:    masterEnvs(t.s.opts.ClusterName, t.s.ownMetas(), app.Info.Name),
		RetentionMs: t.s.opts.DupRemovedRetention.Milliseconds(),
	}
	switch d.Dup.Status {
	case protocol.DupStatusPrepare:
		in.Checkpoints = make([]protocol.Decree, len(mem.parts))
		for i, p := range mem.parts {
			in.Checkpoints[i] = p.Checkpoint
		}
	case protocol.DupStatusRemoved:
		if mem.removedMs == 0 {
			mem.removedMs = now
		}
		in.RemovedForMs = now - mem.removedMs
	}
	return in
}

// flushDupLocked stores the confirmed decrees reported since the last
// store, at most once per DupPersistInterval.
func (t *term) flushDupLocked(ctx context.Context, app *state.App, d *state.AppDup, now int64) error {
	switch d.Dup.Status {
	case protocol.DupStatusLog, protocol.DupStatusPause, protocol.DupStatusApp:
	default:
		return nil
	}
	mem := t.dupMemLocked(app, d)
	if now-mem.flushedMs < t.s.opts.DupPersistInterval.Milliseconds() {
		return nil
	}
	ups := map[int32]state.DupProgress{}
	for i, p := range d.Partitions {
		if c := mem.parts[i].Confirmed; c > p.ConfirmedDecree {
			ups[int32(i)] = state.DupProgress{ConfirmedDecree: c, CheckpointDecree: p.CheckpointDecree}
		}
	}
	if err := t.mu.w.SetDupProgress(ctx, app, d.Dup.ID, ups); err != nil {
		return t.writeErr(ctx, fmt.Sprintf("store progress of duplication %d of %s", d.Dup.ID, app.Info.Name), err)
	}
	mem.flushedMs = now
	return nil
}

// applyStepLocked carries out a step that needs no remote call and
// records what the duplication waits for.
func (t *term) applyStepLocked(ctx context.Context, app *state.App, d *state.AppDup, step dupStep) error {
	k := dupKey{app.Info.AppID, d.Dup.ID}
	mem := t.dupMemLocked(app, d)
	mem.step, mem.lastError = step.Wait, step.Err
	switch step.Kind {
	case stepSetStatus:
		next := d.Dup
		next.Status = step.Status
		if err := t.mu.w.UpdateDup(ctx, app, next, step.Progress); err != nil {
			return t.writeErr(ctx, fmt.Sprintf("advance duplication %d of %s", d.Dup.ID, app.Info.Name), err)
		}
		for i, p := range step.Progress {
			mp := &mem.parts[i]
			mp.Confirmed, mp.Checkpoint = max(mp.Confirmed, p.ConfirmedDecree), p.CheckpointDecree
		}
		mem.step, mem.lastError = "", ""
		t.log.Info("duplication advanced", logging.AppID(app.Info.AppID), logging.Table(app.Info.Name), "dupid", d.Dup.ID,
			"from", d.Dup.Status, "to", next.Status)
		t.pokeDup()
	case stepPurge:
		if err := t.mu.w.DeleteDup(ctx, app, d.Dup.ID); err != nil {
			return t.writeErr(ctx, fmt.Sprintf("purge removed duplication %d of %s", d.Dup.ID, app.Info.Name), err)
		}
		delete(t.mu.dups, k)
		t.log.Info("removed duplication purged", logging.AppID(app.Info.AppID), logging.Table(app.Info.Name), "dupid", d.Dup.ID)
	}
	return nil
}

// advanceApp asks the remote cluster about a DS_APP duplication's
// follower table, creates it when missing, and applies the resulting
// step if the duplication did not change meanwhile.
func (t *term) advanceApp(ctx context.Context, task appTask) error {
	s := t.s
	want := masterEnvs(s.opts.ClusterName, s.ownMetas(), task.info.Name)
	in := dupInput{Dup: task.dup, WantEnvs: want, PartitionCount: task.info.PartitionCount}
	in.Remote = s.queryRemote(ctx, task.dup.Remote, task.dup.RemoteAppName, dupRemoteTimeout)
	step := decideDup(in)
	if step.Kind == stepCreateRemote {
		err := t.createRemote(ctx, task, want)
		if err != nil {
			step = dupStep{Kind: stepWait, Wait: step.Wait,
				Err: fmt.Sprintf("cannot create table %s on cluster %s: %v", task.dup.RemoteAppName, task.dup.Remote, err)}
		} else {
			in.Remote = s.queryRemote(ctx, task.dup.Remote, task.dup.RemoteAppName, dupRemoteTimeout)
			step = decideDup(in)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.active() {
		return nil
	}
	app := t.mu.view.Apps[task.key.app]
	if app == nil || app.Info.Status != protocol.AppAvailable {
		return nil
	}
	d := app.Dups[task.key.dup]
	if d == nil || d.Version != task.version {
		return nil // changed meanwhile; the next round looks again
	}
	if step.Kind == stepCreateRemote {
		step.Kind = stepWait
	}
	return t.applyStepLocked(ctx, app, d, step)
}

// createRemote asks the remote cluster to create the follower table; a
// table that appeared meanwhile counts as created (the next query judges
// it).
func (t *term) createRemote(ctx context.Context, task appTask, envs map[string]string) error {
	r, err := t.s.remote(task.dup.Remote)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, dupRemoteTimeout)
	defer cancel()
	id, err := r.CreateApp(ctx, task.dup.RemoteAppName, admin.CreateAppOptions{
		PartitionCount: task.info.PartitionCount, ReplicaCount: task.info.ReplicaCount, Envs: envs,
	})
	if errors.Is(err, protocol.CodeAppExist) {
		return nil
	}
	if err != nil {
		return err
	}
	t.log.Info("created the follower table of a full duplication", logging.Table(task.info.Name), "dupid", task.dup.ID,
		"remote", task.dup.Remote, "remote_app", task.dup.RemoteAppName, "remote_app_id", id)
	return nil
}
