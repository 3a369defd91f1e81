package protocol

import (
	"fmt"
	"strings"
)

// Duplication (cross-cluster asynchronous replication) messages. See
// DESIGN section 6 and docs/duplication.md.
//
//	Meta.AddDuplication            admincli -> source meta leader
//	Meta.QueryDuplication          admincli, collector -> source meta leader
//	Meta.ModifyDuplication         admincli -> source meta leader (pause, start, remove, fail mode)
//	MetaInternal.DuplicationSync   replica server -> its meta leader, periodically: progress in, dup states out
//	Replica.Duplicate              source primary's duplicator -> remote primary (through client-go)

// DupStatus is the state of one duplication, with Pegasus's names.
// A full duplication goes Init -> Prepare -> App -> Log, an incremental one
// Init -> Log; Log <-> Pause; any -> Removed.
type DupStatus uint8

const (
	DupStatusInvalid DupStatus = 0 // unset; in ModifyDuplication: leave the status alone
	DupStatusInit    DupStatus = 1 // DS_INIT: created, nothing done yet
	DupStatusPrepare DupStatus = 2 // DS_PREPARE: primaries fix the checkpoint decree to copy (full only)
	DupStatusApp     DupStatus = 3 // DS_APP: the remote follower table is created and copies the checkpoint (full only)
	DupStatusLog     DupStatus = 4 // DS_LOG: primaries ship plog mutations
	DupStatusPause   DupStatus = 5 // DS_PAUSE: shipping stopped, the backlog is kept
	DupStatusRemoved DupStatus = 6 // DS_REMOVED: gone; the backlog is released
)

var dupStatusNames = [...]string{"DS_INVALID", "DS_INIT", "DS_PREPARE", "DS_APP", "DS_LOG", "DS_PAUSE", "DS_REMOVED"}

// Valid reports whether s is a known status.
func (s DupStatus) Valid() bool { return s <= DupStatusRemoved }

// String returns the Pegasus name, e.g. DS_LOG.
func (s DupStatus) String() string { return enumName(dupStatusNames[:], uint8(s), "DS") }

// MarshalText implements encoding.TextMarshaler (JSON uses the name).
func (s DupStatus) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts the names
// String returns.
func (s *DupStatus) UnmarshalText(b []byte) error {
	for i, n := range dupStatusNames {
		if string(b) == n {
			*s = DupStatus(i)
			return nil
		}
	}
	return fmt.Errorf("unknown duplication status %q", b)
}

// DupFailMode says what a duplicator does when shipping keeps failing.
type DupFailMode uint8

const (
	DupFailSlow DupFailMode = 0 // FAIL_SLOW: retry forever (default)
	DupFailSkip DupFailMode = 1 // FAIL_SKIP: after bounded retries skip the batch and count it
)

var dupFailModeNames = [...]string{"FAIL_SLOW", "FAIL_SKIP"}

// Valid reports whether m is a known fail mode.
func (m DupFailMode) Valid() bool { return m <= DupFailSkip }

// String returns the Pegasus name, e.g. FAIL_SLOW.
func (m DupFailMode) String() string { return enumName(dupFailModeNames[:], uint8(m), "FAIL") }

// MarshalText implements encoding.TextMarshaler.
func (m DupFailMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts the names
// String returns and the admincli spellings "slow" and "skip".
func (m *DupFailMode) UnmarshalText(b []byte) error {
	switch strings.ToLower(string(b)) {
	case "fail_slow", "slow":
		*m = DupFailSlow
	case "fail_skip", "skip":
		*m = DupFailSkip
	default:
		return fmt.Errorf("unknown duplication fail mode %q (want slow or skip)", b)
	}
	return nil
}

// App envs a follower table of a full duplication carries: where its
// master is, so its replicas copy the master's checkpoint when created.
const (
	EnvDupMasterCluster = "duplication.master_cluster_name"
	EnvDupMasterMetas   = "duplication.master_metas"
	EnvDupMasterApp     = "duplication.master_app_name"
)

// DupPartition is the progress of one partition of one duplication.
type DupPartition struct {
	PartitionIndex int32
	// ConfirmedDecree: every mutation up to it has been applied by the
	// remote cluster (persisted by the meta). -1: not started yet (the
	// primary picks its start decree when it first sees the duplication).
	ConfirmedDecree Decree
	// CheckpointDecree is, for a full duplication, the decree of the
	// checkpoint the follower copies (> 0 once the primary fixed it in
	// DS_PREPARE); shipping starts above it. 0 otherwise.
	CheckpointDecree Decree
	// LastCommitted is the primary's commit point at its last report.
	LastCommitted Decree
	// PendingMutations is the number of committed mutations not yet
	// confirmed, at the last report.
	PendingMutations int64
	// SkippedMutations counts mutations dropped under FAIL_SKIP.
	SkippedMutations int64
	// LastError is the duplicator's last shipping error ("" when healthy).
	LastError string
	// ReportTimeMs is when the primary last reported (Unix ms; 0 = never).
	ReportTimeMs int64
}

const dupPartitionMinSize = 8

func appendDupPartition(b []byte, p *DupPartition) []byte {
	b = AppendVarint(b, int64(p.PartitionIndex))
	b = AppendVarint(b, int64(p.ConfirmedDecree))
	b = AppendVarint(b, int64(p.CheckpointDecree))
	b = AppendVarint(b, int64(p.LastCommitted))
	b = AppendVarint(b, p.PendingMutations)
	b = AppendVarint(b, p.SkippedMutations)
	b = AppendString(b, p.LastError)
	return AppendVarint(b, p.ReportTimeMs)
}

func decodeDupPartition(d *Decoder, p *DupPartition) {
	p.PartitionIndex = d.Int32()
	p.ConfirmedDecree = Decree(d.Varint())
	p.CheckpointDecree = Decree(d.Varint())
	p.LastCommitted = Decree(d.Varint())
	p.PendingMutations = d.Varint()
	p.SkippedMutations = d.Varint()
	p.LastError = d.String()
	p.ReportTimeMs = d.Varint()
}

// DuplicationEntry describes one duplication of a table.
type DuplicationEntry struct {
	DupID             int32
	AppID             int32
	Status            DupStatus
	FailMode          DupFailMode
	RemoteCluster     string
	RemoteAppName     string
	RemoteMetas       []string // the remote cluster's meta list, from the source meta's [pegasus.clusters]
	CreateTimestampMs int64
	// Full reports a full duplication (dup add -p): checkpoint copy first.
	Full bool
	// Partitions holds one entry per source partition, in index order.
	Partitions []DupPartition
}

const dupEntryMinSize = 10

func appendDupEntry(b []byte, e *DuplicationEntry) ([]byte, error) {
	if !e.Status.Valid() {
		return b, encodeError("duplication status %d", e.Status)
	}
	if !e.FailMode.Valid() {
		return b, encodeError("duplication fail mode %d", e.FailMode)
	}
	b = AppendVarint(b, int64(e.DupID))
	b = AppendVarint(b, int64(e.AppID))
	b = append(b, byte(e.Status), byte(e.FailMode))
	b = AppendString(b, e.RemoteCluster)
	b = AppendString(b, e.RemoteAppName)
	b = appendStringList(b, e.RemoteMetas)
	b = AppendVarint(b, e.CreateTimestampMs)
	b = AppendBool(b, e.Full)
	b = AppendUvarint(b, uint64(len(e.Partitions)))
	for i := range e.Partitions {
		b = appendDupPartition(b, &e.Partitions[i])
	}
	return b, nil
}

func decodeDupEntry(d *Decoder, e *DuplicationEntry) {
	e.DupID = d.Int32()
	e.AppID = d.Int32()
	e.Status = DupStatus(d.Byte())
	if d.Err() == nil && !e.Status.Valid() {
		d.Fail("unknown duplication status %d", e.Status)
	}
	e.FailMode = DupFailMode(d.Byte())
	if d.Err() == nil && !e.FailMode.Valid() {
		d.Fail("unknown duplication fail mode %d", e.FailMode)
	}
	e.RemoteCluster = d.String()
	e.RemoteAppName = d.String()
	e.RemoteMetas = decodeStringList(d)
	e.CreateTimestampMs = d.Varint()
	e.Full = d.Bool()
	if n := d.Len(dupPartitionMinSize); n > 0 {
		e.Partitions = make([]DupPartition, n)
		for i := range e.Partitions {
			decodeDupPartition(d, &e.Partitions[i])
		}
	}
}

func appendDupEntries(b []byte, l []DuplicationEntry) ([]byte, error) {
	b = AppendUvarint(b, uint64(len(l)))
	var err error
	for i := range l {
		if b, err = appendDupEntry(b, &l[i]); err != nil {
			return b, err
		}
	}
	return b, nil
}

func decodeDupEntries(d *Decoder) []DuplicationEntry {
	n := d.Len(dupEntryMinSize)
	if n == 0 {
		return nil
	}
	out := make([]DuplicationEntry, n)
	for i := range out {
		decodeDupEntry(d, &out[i])
	}
	return out
}

// AddDuplicationRequest adds a duplication of AppName to RemoteCluster (a
// name of the meta's [pegasus.clusters]). Full (dup add -p) copies the
// table's existing data first and creates the remote table; otherwise the
// remote table must exist. RemoteAppName empty = AppName.
type AddDuplicationRequest struct {
	AppName       string
	RemoteCluster string
	Full          bool
	RemoteAppName string
}

// AppendBinary implements Message.
func (m *AddDuplicationRequest) AppendBinary(b []byte) ([]byte, error) {
	b = AppendString(append(b, formatV1), m.AppName)
	b = AppendString(b, m.RemoteCluster)
	b = AppendBool(b, m.Full)
	return AppendString(b, m.RemoteAppName), nil
}

// UnmarshalBinary implements Message.
func (m *AddDuplicationRequest) UnmarshalBinary(data []byte) error {
	*m = AddDuplicationRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.AppName = d.String()
	m.RemoteCluster = d.String()
	m.Full = d.Bool()
	m.RemoteAppName = d.String()
	return d.Finish()
}

// AddDuplicationResponse names the new duplication. Adding a duplication
// that already exists (same table, remote cluster and remote table, not
// removed) is refused with CodeAppExist naming its dupid.
type AddDuplicationResponse struct {
	AppID         int32
	DupID         int32
	RemoteAppName string
}

// AppendBinary implements Message.
func (m *AddDuplicationResponse) AppendBinary(b []byte) ([]byte, error) {
	b = AppendVarint(append(b, formatV1), int64(m.AppID))
	b = AppendVarint(b, int64(m.DupID))
	return AppendString(b, m.RemoteAppName), nil
}

// UnmarshalBinary implements Message.
func (m *AddDuplicationResponse) UnmarshalBinary(data []byte) error {
	*m = AddDuplicationResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.AppID = d.Int32()
	m.DupID = d.Int32()
	m.RemoteAppName = d.String()
	return d.Finish()
}

// QueryDuplicationRequest lists the duplications of a table.
type QueryDuplicationRequest struct {
	AppName string
}

// AppendBinary implements Message.
func (m *QueryDuplicationRequest) AppendBinary(b []byte) ([]byte, error) {
	return AppendString(append(b, formatV1), m.AppName), nil
}

// UnmarshalBinary implements Message.
func (m *QueryDuplicationRequest) UnmarshalBinary(data []byte) error {
	*m = QueryDuplicationRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.AppName = d.String()
	return d.Finish()
}

// QueryDuplicationResponse lists a table's duplications (removed ones
// excluded) with their per-partition progress.
type QueryDuplicationResponse struct {
	AppID int32
	Dups  []DuplicationEntry
}

// AppendBinary implements Message.
func (m *QueryDuplicationResponse) AppendBinary(b []byte) ([]byte, error) {
	return appendDupEntries(AppendVarint(append(b, formatV1), int64(m.AppID)), m.Dups)
}

// UnmarshalBinary implements Message.
func (m *QueryDuplicationResponse) UnmarshalBinary(data []byte) error {
	*m = QueryDuplicationResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.AppID = d.Int32()
	m.Dups = decodeDupEntries(d)
	return d.Finish()
}

// ModifyDuplicationRequest changes one duplication: Status DupStatusLog
// (start), DupStatusPause (pause; only from DS_LOG) or DupStatusRemoved
// (remove), and/or the fail mode when SetFailMode. Asking for the state
// the duplication is already in succeeds (idempotent).
type ModifyDuplicationRequest struct {
	AppName     string
	DupID       int32
	Status      DupStatus
	SetFailMode bool
	FailMode    DupFailMode
}

// AppendBinary implements Message.
func (m *ModifyDuplicationRequest) AppendBinary(b []byte) ([]byte, error) {
	if !m.Status.Valid() || !m.FailMode.Valid() {
		return b, encodeError("duplication status %d / fail mode %d", m.Status, m.FailMode)
	}
	b = AppendString(append(b, formatV1), m.AppName)
	b = AppendVarint(b, int64(m.DupID))
	b = append(b, byte(m.Status))
	b = AppendBool(b, m.SetFailMode)
	return append(b, byte(m.FailMode)), nil
}

// UnmarshalBinary implements Message.
func (m *ModifyDuplicationRequest) UnmarshalBinary(data []byte) error {
	*m = ModifyDuplicationRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.AppName = d.String()
	m.DupID = d.Int32()
	m.Status = DupStatus(d.Byte())
	m.SetFailMode = d.Bool()
	m.FailMode = DupFailMode(d.Byte())
	if d.Err() == nil && (!m.Status.Valid() || !m.FailMode.Valid()) {
		d.Fail("unknown duplication status %d / fail mode %d", m.Status, m.FailMode)
	}
	return d.Finish()
}

// ModifyDuplicationResponse carries the duplication after the change.
type ModifyDuplicationResponse struct {
	Dup DuplicationEntry
}

// AppendBinary implements Message.
func (m *ModifyDuplicationResponse) AppendBinary(b []byte) ([]byte, error) {
	return appendDupEntry(append(b, formatV1), &m.Dup)
}

// UnmarshalBinary implements Message.
func (m *ModifyDuplicationResponse) UnmarshalBinary(data []byte) error {
	*m = ModifyDuplicationResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	decodeDupEntry(d, &m.Dup)
	return d.Finish()
}

// DupProgress is what a replica server reports for one duplication of one
// partition it is primary of.
type DupProgress struct {
	Gpid  Gpid
	DupID int32
	// ConfirmedDecree: everything up to it is applied remotely. The meta
	// keeps the maximum it has seen (never moves it back).
	ConfirmedDecree Decree
	// CheckpointDecree > 0 once a full duplication's primary fixed the
	// decree of the checkpoint the follower will copy (DS_PREPARE).
	CheckpointDecree Decree
	LastCommitted    Decree
	PendingMutations int64
	SkippedMutations int64
	LastError        string
}

const dupProgressMinSize = 9

// DuplicationSyncRequest reports the duplication progress of every
// primary on Node.
type DuplicationSyncRequest struct {
	Node     string
	Progress []DupProgress
}

// AppendBinary implements Message.
func (m *DuplicationSyncRequest) AppendBinary(b []byte) ([]byte, error) {
	b = AppendString(append(b, formatV1), m.Node)
	b = AppendUvarint(b, uint64(len(m.Progress)))
	for i := range m.Progress {
		p := &m.Progress[i]
		b = appendGpid(b, p.Gpid)
		b = AppendVarint(b, int64(p.DupID))
		b = AppendVarint(b, int64(p.ConfirmedDecree))
		b = AppendVarint(b, int64(p.CheckpointDecree))
		b = AppendVarint(b, int64(p.LastCommitted))
		b = AppendVarint(b, p.PendingMutations)
		b = AppendVarint(b, p.SkippedMutations)
		b = AppendString(b, p.LastError)
	}
	return b, nil
}

// UnmarshalBinary implements Message.
func (m *DuplicationSyncRequest) UnmarshalBinary(data []byte) error {
	*m = DuplicationSyncRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Node = d.String()
	if n := d.Len(dupProgressMinSize); n > 0 {
		m.Progress = make([]DupProgress, n)
		for i := range m.Progress {
			p := &m.Progress[i]
			p.Gpid = decodeGpid(d)
			p.DupID = d.Int32()
			p.ConfirmedDecree = Decree(d.Varint())
			p.CheckpointDecree = Decree(d.Varint())
			p.LastCommitted = Decree(d.Varint())
			p.PendingMutations = d.Varint()
			p.SkippedMutations = d.Varint()
			p.LastError = d.String()
		}
	}
	return d.Finish()
}

// DuplicationSyncResponse gives the node every live (not removed)
// duplication of every table, with the persisted per-partition confirmed
// decrees, so primaries start or stop duplicators and every replica keeps
// the plog above the confirmed decree.
type DuplicationSyncResponse struct {
	Dups []DuplicationEntry
}

// AppendBinary implements Message.
func (m *DuplicationSyncResponse) AppendBinary(b []byte) ([]byte, error) {
	return appendDupEntries(append(b, formatV1), m.Dups)
}

// UnmarshalBinary implements Message.
func (m *DuplicationSyncResponse) UnmarshalBinary(data []byte) error {
	*m = DuplicationSyncResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Dups = decodeDupEntries(d)
	return d.Finish()
}

// DuplicateEntry is one write shipped by duplication. Body is an update
// body (see replica.EncodeUpdate) for one hashkey of op OpPut, OpMultiPut,
// OpRemove, OpMultiRemove or OpDelRange: the source primary converts
// non-idempotent writes into puts before they reach the plog, and never
// ships OpDuplicate updates (no loops). The request header inside Body is
// the source's and is ignored by the receiver.
type DuplicateEntry struct {
	TimestampUs int64 // the source mutation's timestamp
	ClusterID   uint8 // the source cluster's id in [duplication-group]
	Op          OpCode
	Body        []byte
}

// DuplicateRequest carries entries for one partition of the remote table:
// every entry's key must hash to Header.Gpid's partition (checked per
// entry). Applied entries are last-writer-wins by timetag, so a batch may
// be shipped any number of times.
type DuplicateRequest struct {
	Header  RequestHeader
	Entries []DuplicateEntry
}

// DataHeader implements DataRequest.
func (m *DuplicateRequest) DataHeader() *RequestHeader { return &m.Header }

// EncodedSize returns the length of the AppendBinary output.
func (m *DuplicateRequest) EncodedSize() int {
	n := 1 + headerSize(&m.Header) + uvarintSize(uint64(len(m.Entries)))
	for i := range m.Entries {
		n += varintSize(m.Entries[i].TimestampUs) + 2 + bytesSize(m.Entries[i].Body)
	}
	return n
}

// AppendBinary implements Message.
func (m *DuplicateRequest) AppendBinary(b []byte) ([]byte, error) {
	b = appendHeader(append(b, formatV1), &m.Header)
	b = AppendUvarint(b, uint64(len(m.Entries)))
	for i := range m.Entries {
		e := &m.Entries[i]
		if e.Op > OpDuplicate {
			return b, encodeError("duplicate entry op code %d", e.Op)
		}
		b = AppendVarint(b, e.TimestampUs)
		b = append(b, e.ClusterID, byte(e.Op))
		b = AppendBytes(b, e.Body)
	}
	return b, nil
}

// UnmarshalBinary implements Message. Bodies are copied.
func (m *DuplicateRequest) UnmarshalBinary(data []byte) error {
	*m = DuplicateRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	decodeHeader(d, &m.Header)
	if n := d.Len(4); n > 0 {
		m.Entries = make([]DuplicateEntry, n)
		for i := 0; i < n && d.Err() == nil; i++ {
			e := &m.Entries[i]
			e.TimestampUs = d.Varint()
			e.ClusterID = d.Byte()
			e.Op = OpCode(d.Byte())
			if d.Err() == nil && e.Op > OpDuplicate {
				d.Fail("unknown op code %d", e.Op)
			}
			e.Body = d.BytesCopy()
		}
	}
	return d.Finish()
}

// DuplicateResponse reports how many entries changed the receiver's data
// (the rest lost last-writer-wins against newer data already there).
type DuplicateResponse struct {
	Applied int32
}

// EncodedSize returns the length of the AppendBinary output.
func (m *DuplicateResponse) EncodedSize() int { return 1 + varintSize(int64(m.Applied)) }

// AppendBinary implements Message.
func (m *DuplicateResponse) AppendBinary(b []byte) ([]byte, error) {
	return AppendVarint(append(b, formatV1), int64(m.Applied)), nil
}

// UnmarshalBinary implements Message.
func (m *DuplicateResponse) UnmarshalBinary(data []byte) error {
	*m = DuplicateResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Applied = d.Int32()
	return d.Finish()
}
