package server

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pegasus-go/pegasus/replicaserver/internal/learn"
	"github.com/pegasus-go/pegasus/replicaserver/internal/replica"
	"github.com/pegasus-go/pegasus/shared/logging"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Duplication checkpoints, master side. A full duplication's follower
// table (another cluster) is created empty; each of its replicas copies the
// data of the same partition index from this cluster's primary before it
// opens (follower_copy.go). The primary serves that copy from one
// duplication checkpoint per partition:
//
//   - Peer.DupCheckpoint makes it on the first request, once the replica
//     has applied the requested minimum decree (the duplication's
//     checkpoint decree; CodeBusy until then), in
//     <replica dir>/learn/dupcp-<n>/data, listed with sizes and CRC-32C;
//   - every later request (other follower replicas, retries, a follower
//     that restarted) gets the same checkpoint, so copies are identical and
//     resume file by file; only a request for a higher minimum than the
//     checkpoint holds replaces it;
//   - Peer.CopyFile serves its files when the request's Dir is the
//     checkpoint's name (names start with dupCheckpointPrefix, which
//     learning session names never do);
//   - it is removed after DupCheckpointIdleTimeout without a request, when
//     the replica stops being primary or is closed, when the duplication
//     no longer needs it (retainDupCheckpoints), and with the replica's
//     learn directory whenever the replica opens.
//
// Only a primary serves: a follower asking a secondary gets
// CodeInvalidState and resolves the primary again. There is no ballot
// relation between the two clusters.

// dupCheckpointPrefix starts the name of every duplication checkpoint
// directory (and CopyFile Dir).
const dupCheckpointPrefix = "dupcp-"

// isDupCheckpointDir reports whether a CopyFile Dir names a duplication
// checkpoint.
func isDupCheckpointDir(dir string) bool { return strings.HasPrefix(dir, dupCheckpointPrefix) }

// dupCheckpoint is one partition's duplication checkpoint.
type dupCheckpoint struct {
	gpid protocol.Gpid

	// make serializes making the checkpoint: concurrent first requests
	// wait for one checkpoint instead of making several.
	make sync.Mutex

	// Guarded by dupCheckpoints.mu.
	name       string // "" until made
	dir        string
	base       protocol.Decree
	files      []protocol.LearnFile
	listed     map[string]bool
	createdAt  time.Time
	lastActive time.Time
	served     int64
	followers  map[string]time.Time // follower address -> last request
}

// dupCheckpoints runs the master side for every replica of the node.
type dupCheckpoints struct {
	s *Server

	mu  sync.Mutex
	cps map[protocol.Gpid]*dupCheckpoint
	seq uint64
}

func newDupCheckpoints(s *Server) *dupCheckpoints {
	return &dupCheckpoints{s: s, cps: map[protocol.Gpid]*dupCheckpoint{}}
}

// serve answers Peer.DupCheckpoint.
func (ds *dupCheckpoints) serve(req *protocol.DupCheckpointRequest, resp *protocol.DupCheckpointResponse) error {
	s := ds.s
	g := req.Gpid
	if req.MinDecree < 0 || req.Follower == "" {
		return protocol.Errorf(protocol.CodeInvalidArgument, "duplication checkpoint request for %s from %q with minimum decree %d",
			g, req.Follower, req.MinDecree)
	}
	e, r, err := s.peerReplica(g)
	if err != nil {
		return err
	}
	if err := ds.checkPrimary(g, r); err != nil {
		return err
	}
	now := s.opts.Clock()
	ds.mu.Lock()
	cp := ds.cps[g]
	if cp == nil {
		cp = &dupCheckpoint{gpid: g, followers: map[string]time.Time{}}
		ds.cps[g] = cp
	}
	cp.lastActive = now
	ds.mu.Unlock()

	cp.make.Lock()
	defer cp.make.Unlock()
	ds.mu.Lock()
	ready := cp.name != "" && cp.base >= req.MinDecree && ds.cps[g] == cp
	ds.mu.Unlock()
	if !ready {
		if err := ds.makeLocked(e, r, cp, req); err != nil {
			return err
		}
	}
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if ds.cps[g] != cp || cp.name == "" {
		return protocol.Errorf(protocol.CodeBusy, "duplication checkpoint of %s was removed meanwhile; ask again", g)
	}
	cp.followers[req.Follower] = now
	*resp = protocol.DupCheckpointResponse{Gpid: g, PartitionCount: e.appInfo().PartitionCount, BaseDecree: cp.base,
		Dir: cp.name, Files: slices.Clone(cp.files)}
	return nil
}

// checkPrimary refuses unless r is g's primary.
func (ds *dupCheckpoints) checkPrimary(g protocol.Gpid, r *replica.Replica) error {
	if st := r.Status(); st.Role != "primary" {
		return protocol.Errorf(protocol.CodeInvalidState, "replica %s on %s is %s, not primary: duplication checkpoints are served by the primary",
			g, ds.s.opts.Node, st.Role)
	}
	return nil
}

// makeLocked makes cp's checkpoint, replacing an older one. The caller
// holds cp.make.
func (ds *dupCheckpoints) makeLocked(e *entry, r *replica.Replica, cp *dupCheckpoint, req *protocol.DupCheckpointRequest) error {
	s := ds.s
	fs := s.opts.FS
	g := cp.gpid
	if applied := r.Status().LastApplied; applied < req.MinDecree {
		return protocol.Errorf(protocol.CodeBusy, "primary %s of %s has applied up to decree %d; the duplication checkpoint must hold %d",
			s.opts.Node, g, applied, req.MinDecree)
	}
	ds.mu.Lock()
	ds.seq++
	name := dupCheckpointPrefix + strconv.FormatUint(ds.seq, 10)
	ds.mu.Unlock()
	dir := fs.PathJoin(e.dir, learnDirName, name)
	if err := fs.RemoveAll(dir); err != nil {
		return protocol.Errorf(protocol.CodeIOError, "remove %s: %v", dir, err)
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return protocol.Errorf(protocol.CodeIOError, "create %s: %v", dir, err)
	}
	base, err := r.Checkpoint(fs.PathJoin(dir, replica.DataDirName))
	if err == nil && base < req.MinDecree {
		err = protocol.Errorf(protocol.CodeBusy, "checkpoint of %s holds decree %d, below %d", g, base, req.MinDecree)
	}
	var files []protocol.LearnFile
	if err == nil {
		files, err = learn.ListFiles(fs, dir)
	}
	if err != nil {
		ds.removeDir(dir)
		return err
	}
	var total int64
	listed := make(map[string]bool, len(files))
	for _, f := range files {
		listed[f.Name] = true
		total += f.Size
	}
	ds.mu.Lock()
	if ds.cps[g] != cp {
		// Removed while it was being made.
		ds.mu.Unlock()
		ds.removeDir(dir)
		return protocol.Errorf(protocol.CodeBusy, "duplication checkpoint of %s was removed meanwhile; ask again", g)
	}
	old := cp.dir
	cp.name, cp.dir, cp.base, cp.files, cp.listed = name, dir, base, files, listed
	cp.createdAt = s.opts.Clock()
	ds.mu.Unlock()
	if old != "" {
		ds.removeDir(old)
	}
	s.log.Info("duplication checkpoint ready", logging.Gpid(g), logging.Decree(base), "dir", name,
		"min_decree", int64(req.MinDecree), "follower", req.Follower, "files", len(files), "bytes", total)
	return nil
}

// copyFile serves one chunk of a duplication checkpoint's file.
func (ds *dupCheckpoints) copyFile(req *protocol.CopyFileRequest, resp *protocol.CopyFileResponse) error {
	s := ds.s
	if err := learn.CheckName(req.Path); err != nil {
		return err
	}
	_, r, err := s.peerReplica(req.Gpid)
	if err != nil {
		return err
	}
	if err := ds.checkPrimary(req.Gpid, r); err != nil {
		return err
	}
	ds.mu.Lock()
	cp := ds.cps[req.Gpid]
	if cp == nil || cp.name != req.Dir || !cp.listed[req.Path] {
		ds.mu.Unlock()
		return protocol.Errorf(protocol.CodeObjectNotFound, "no file %q in duplication checkpoint %q of %s", req.Path, req.Dir, req.Gpid)
	}
	cp.lastActive = s.opts.Clock()
	dir := cp.dir
	ds.mu.Unlock()
	out, err := learn.ReadChunk(s.opts.FS, dir, req.Path, req.Offset, int(req.MaxBytes))
	if err != nil {
		return err
	}
	ds.mu.Lock()
	cp.served += int64(len(out.Data))
	ds.mu.Unlock()
	s.metrics.learnServedBytes.Inc(int64(len(out.Data)))
	*resp = out
	return nil
}

// tick removes the checkpoints of replicas that are gone or no longer
// primary, and those idle for DupCheckpointIdleTimeout.
func (ds *dupCheckpoints) tick(now time.Time) {
	ds.mu.Lock()
	all := make([]*dupCheckpoint, 0, len(ds.cps))
	for _, cp := range ds.cps {
		all = append(all, cp)
	}
	ds.mu.Unlock()
	for _, cp := range all {
		_, r, err := ds.s.peerReplica(cp.gpid)
		ds.mu.Lock()
		idle := now.Sub(cp.lastActive)
		ds.mu.Unlock()
		switch {
		case err != nil:
			ds.remove(cp, "replica closed")
		case ds.checkPrimary(cp.gpid, r) != nil:
			ds.remove(cp, "no longer primary")
		case idle >= ds.s.opts.DupCheckpointIdleTimeout:
			ds.remove(cp, "idle")
		}
	}
}

// retain removes the checkpoints of the partitions keep rejects. The
// duplication glue calls it after each sync with the meta, keeping the
// tables with a live (not removed) full duplication: the meta moves a
// duplication from DS_APP to DS_LOG once the follower table has primaries,
// which may be before its replicas finished copying, so the idle timeout,
// not the status, ends a checkpoint that followers still fetch.
func (ds *dupCheckpoints) retain(keep func(protocol.Gpid) bool, why string) {
	ds.mu.Lock()
	var drop []*dupCheckpoint
	for g, cp := range ds.cps {
		if !keep(g) {
			drop = append(drop, cp)
		}
	}
	ds.mu.Unlock()
	for _, cp := range drop {
		ds.remove(cp, why)
	}
}

// remove forgets cp and deletes its directory.
func (ds *dupCheckpoints) remove(cp *dupCheckpoint, why string) {
	ds.mu.Lock()
	if ds.cps[cp.gpid] == cp {
		delete(ds.cps, cp.gpid)
	}
	dir, served := cp.dir, cp.served
	cp.name, cp.dir, cp.files, cp.listed = "", "", nil, nil
	ds.mu.Unlock()
	if dir != "" {
		ds.removeDir(dir)
	}
	ds.s.log.Info("duplication checkpoint removed", logging.Gpid(cp.gpid), "reason", why, "served_bytes", served)
}

func (ds *dupCheckpoints) removeDir(dir string) {
	if err := ds.s.opts.FS.RemoveAll(dir); err != nil {
		ds.s.log.Warn("cannot remove duplication checkpoint dir", "dir", dir, logging.Err(err))
	}
}

// closeAll removes every checkpoint (server shutdown).
func (ds *dupCheckpoints) closeAll() {
	ds.retain(func(protocol.Gpid) bool { return false }, "server closing")
}

// DupCheckpointView is one duplication checkpoint this node serves as a
// master primary, on /replica/learning.
type DupCheckpointView struct {
	Gpid        string          `json:"gpid"`
	Dir         string          `json:"dir"`
	BaseDecree  protocol.Decree `json:"base_decree"`
	Files       int             `json:"files"`
	TotalBytes  int64           `json:"total_bytes"`
	ServedBytes int64           `json:"served_bytes"`
	// Followers lists the follower replicas the checkpoint was handed to.
	Followers  []string  `json:"followers"`
	CreatedAt  time.Time `json:"created_at"`
	LastActive time.Time `json:"last_active"`
}

func (ds *dupCheckpoints) views() []DupCheckpointView {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	out := []DupCheckpointView{}
	for _, cp := range ds.cps {
		v := DupCheckpointView{Gpid: cp.gpid.String(), Dir: cp.name, BaseDecree: cp.base, Files: len(cp.files),
			ServedBytes: cp.served, CreatedAt: cp.createdAt, LastActive: cp.lastActive}
		for _, f := range cp.files {
			v.TotalBytes += f.Size
		}
		for f := range cp.followers {
			v.Followers = append(v.Followers, f)
		}
		slices.Sort(v.Followers)
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b DupCheckpointView) int { return strings.Compare(a.Gpid, b.Gpid) })
	return out
}

// DupCheckpoint hands a follower replica of another cluster this
// primary's duplication checkpoint of the partition; see dupCheckpoints.
func (p *peerService) DupCheckpoint(_ context.Context, req *protocol.DupCheckpointRequest, resp *protocol.DupCheckpointResponse) error {
	return p.s.dupSource.serve(req, resp)
}
