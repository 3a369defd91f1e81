package admintest

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// The fake's duplications follow the real meta server's rules for the
// requests (unknown remote, second duplication to the same remote table,
// unknown dupid, pause only in DS_LOG, idempotent modifications) but run
// no status machine: an incremental duplication starts in DS_LOG, a full
// one in DS_PREPARE, and SetDupProgress stages the rest.

// SetDupProgress replaces the status and per-partition progress of
// duplication dupid of table app (status DupStatusInvalid keeps the
// status; parts nil keeps the progress).
func (c *Cluster) SetDupProgress(app string, dupid int32, status protocol.DupStatus, parts []protocol.DupPartition) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.findLocked(app)
	if a == nil {
		return fmt.Errorf("admintest: no table %s", app)
	}
	d := c.dupLocked(a.info.AppID, dupid)
	if d == nil {
		return fmt.Errorf("admintest: table %s has no duplication %d", app, dupid)
	}
	if status != protocol.DupStatusInvalid {
		d.Status = status
	}
	if parts != nil {
		if len(parts) != len(a.parts) {
			return fmt.Errorf("admintest: %d partition entries for %d partitions", len(parts), len(a.parts))
		}
		d.Partitions = slices.Clone(parts)
	}
	return nil
}

func (c *Cluster) dupLocked(appID, dupid int32) *protocol.DuplicationEntry {
	for _, d := range c.mu.dups[appID] {
		if d.DupID == dupid {
			return d
		}
	}
	return nil
}

func cloneDup(d *protocol.DuplicationEntry) protocol.DuplicationEntry {
	out := *d
	out.RemoteMetas = slices.Clone(d.RemoteMetas)
	out.Partitions = slices.Clone(d.Partitions)
	return out
}

// AddDuplication implements Meta.AddDuplication.
func (s *service) AddDuplication(_ context.Context, req *protocol.AddDuplicationRequest, resp *protocol.AddDuplicationResponse) error {
	c, err := s.enter(protocol.MethodAddDuplication)
	if err != nil {
		return err
	}
	defer c.mu.Unlock()
	a := c.findLocked(req.AppName)
	if a == nil {
		return notExist(req.AppName)
	}
	if req.RemoteCluster == c.name {
		return protocol.Errorf(protocol.CodeInvalidArgument, "cannot duplicate table %s to its own cluster %s", req.AppName, c.name)
	}
	if !slices.Contains(c.dupRemotes, req.RemoteCluster) {
		return protocol.Errorf(protocol.CodeInvalidArgument, "unknown remote cluster %q: add it to [pegasus.clusters] of the meta servers (known: %s)",
			req.RemoteCluster, strings.Join(c.dupRemotes, ", "))
	}
	remoteApp := req.RemoteAppName
	if remoteApp == "" {
		remoteApp = req.AppName
	}
	id := a.info.AppID
	for _, d := range c.mu.dups[id] {
		if d.RemoteCluster == req.RemoteCluster && d.RemoteAppName == remoteApp && d.Status != protocol.DupStatusRemoved {
			return protocol.Errorf(protocol.CodeAppExist, "table %s already duplicates to table %s on cluster %s [dupid: %d, status %v]",
				req.AppName, remoteApp, req.RemoteCluster, d.DupID, d.Status)
		}
	}
	dupid := int32(c.now().Unix())
	for taken := true; taken; {
		taken = false
		for _, l := range c.mu.dups {
			for _, d := range l {
				if d.DupID == dupid {
					taken = true
				}
			}
		}
		if taken {
			dupid++
		}
	}
	st := protocol.DupStatusLog
	if req.Full {
		st = protocol.DupStatusPrepare
	}
	d := &protocol.DuplicationEntry{
		DupID: dupid, AppID: id, Status: st, FailMode: protocol.DupFailSlow,
		RemoteCluster: req.RemoteCluster, RemoteAppName: remoteApp, CreateTimestampMs: c.now().UnixMilli(), Full: req.Full,
	}
	for i := range a.parts {
		d.Partitions = append(d.Partitions, protocol.DupPartition{PartitionIndex: int32(i), ConfirmedDecree: -1})
	}
	c.mu.dups[id] = append(c.mu.dups[id], d)
	*resp = protocol.AddDuplicationResponse{AppID: id, DupID: dupid, RemoteAppName: remoteApp}
	return nil
}

// QueryDuplication implements Meta.QueryDuplication.
func (s *service) QueryDuplication(_ context.Context, req *protocol.QueryDuplicationRequest, resp *protocol.QueryDuplicationResponse) error {
	c, err := s.enter(protocol.MethodQueryDuplication)
	if err != nil {
		return err
	}
	defer c.mu.Unlock()
	a := c.findLocked(req.AppName)
	if a == nil {
		return notExist(req.AppName)
	}
	resp.AppID = a.info.AppID
	for _, d := range c.mu.dups[a.info.AppID] {
		if d.Status != protocol.DupStatusRemoved {
			resp.Dups = append(resp.Dups, cloneDup(d))
		}
	}
	slices.SortFunc(resp.Dups, func(x, y protocol.DuplicationEntry) int { return int(x.DupID) - int(y.DupID) })
	return nil
}

// ModifyDuplication implements Meta.ModifyDuplication.
func (s *service) ModifyDuplication(_ context.Context, req *protocol.ModifyDuplicationRequest, resp *protocol.ModifyDuplicationResponse) error {
	c, err := s.enter(protocol.MethodModifyDuplication)
	if err != nil {
		return err
	}
	defer c.mu.Unlock()
	a := c.findLocked(req.AppName)
	if a == nil {
		return notExist(req.AppName)
	}
	d := c.dupLocked(a.info.AppID, req.DupID)
	if d == nil {
		return protocol.Errorf(protocol.CodeObjectNotFound, "table %s has no duplication %d (see dup list)", req.AppName, req.DupID)
	}
	if d.Status == protocol.DupStatusRemoved && (req.Status != protocol.DupStatusRemoved || req.SetFailMode) {
		return protocol.Errorf(protocol.CodeInvalidState, "duplication %d of table %s was removed", req.DupID, req.AppName)
	}
	switch req.Status {
	case protocol.DupStatusInvalid, protocol.DupStatusRemoved:
	case protocol.DupStatusPause:
		if d.Status != protocol.DupStatusLog && d.Status != protocol.DupStatusPause {
			return protocol.Errorf(protocol.CodeInvalidState, "duplication %d of table %s is in %v: only a duplication in DS_LOG can be paused", req.DupID, req.AppName, d.Status)
		}
	case protocol.DupStatusLog:
		if d.Status != protocol.DupStatusLog && d.Status != protocol.DupStatusPause {
			return protocol.Errorf(protocol.CodeInvalidState, "duplication %d of table %s is in %v: only a paused duplication can be started (it reaches DS_LOG by itself)", req.DupID, req.AppName, d.Status)
		}
	default:
		return protocol.Errorf(protocol.CodeInvalidArgument, "duplication status %v cannot be requested", req.Status)
	}
	if req.Status != protocol.DupStatusInvalid {
		d.Status = req.Status
	}
	if req.SetFailMode {
		d.FailMode = req.FailMode
	}
	resp.Dup = cloneDup(d)
	if d.Status == protocol.DupStatusRemoved {
		resp.Dup.Partitions = nil
	}
	return nil
}
