package protocol

// Replica <-> replica messages (service Peer): the PacificA write path
// (Prepare), the primary's periodic group check, learning (Learn,
// CopyFile, LearnCompletionNotify), and the full-duplication checkpoint
// copy (DupCheckpoint, then CopyFile) between clusters. Every request of
// the replication group carries the sender's ballot; a receiver with a
// higher ballot rejects it with CodeStaleBallot. DupCheckpoint comes from a
// follower replica of another cluster and has no ballot relation.

// EncodedSize returns the length of the AppendBinary output.
func (m *Mutation) EncodedSize() int {
	n := 1 + varintSize(int64(m.Ballot)) + varintSize(int64(m.Decree)) +
		varintSize(int64(m.LastCommitted)) + varintSize(m.TimestampUs) +
		uvarintSize(uint64(len(m.Updates)))
	if m.Flags != 0 {
		n++
	}
	for i := range m.Updates {
		n += 1 + bytesSize(m.Updates[i].Body)
	}
	return n
}

// appendMutation writes a mutation length-prefixed, so that its own
// decoder (which insists on consuming its whole input) can read it back.
func appendMutation(b []byte, m *Mutation) ([]byte, error) {
	b = AppendUvarint(b, uint64(m.EncodedSize()))
	return m.AppendBinary(b)
}

func mutationFieldSize(m *Mutation) int {
	n := m.EncodedSize()
	return uvarintSize(uint64(n)) + n
}

func decodeMutation(d *Decoder, m *Mutation) {
	body := d.Bytes()
	if d.Err() != nil {
		return
	}
	if err := m.UnmarshalBinary(body); err != nil {
		d.Fail("mutation: %v", err)
	}
}

func checkPartitionStatus(s PartitionStatus) error {
	if !s.Valid() {
		return encodeError("partition status %d", s)
	}
	return nil
}

// PrepareRequest asks a secondary or learner to log a mutation. Config is
// the primary's current configuration (its Ballot is the sender's ballot)
// and Status is the role the receiver plays in it. Mutation.LastCommitted
// carries the primary's commit point.
type PrepareRequest struct {
	Gpid     Gpid
	Config   PartitionConfiguration
	Status   PartitionStatus
	Mutation Mutation
}

// EncodedSize returns the length of the AppendBinary output.
func (m *PrepareRequest) EncodedSize() int {
	return 1 + gpidSize(m.Gpid) + partitionConfigSize(&m.Config) + 1 + mutationFieldSize(&m.Mutation)
}

// AppendBinary implements Message.
func (m *PrepareRequest) AppendBinary(b []byte) ([]byte, error) {
	if err := checkPartitionStatus(m.Status); err != nil {
		return b, err
	}
	b = appendGpid(append(b, formatV1), m.Gpid)
	b = appendPartitionConfig(b, &m.Config)
	b = append(b, byte(m.Status))
	return appendMutation(b, &m.Mutation)
}

// UnmarshalBinary implements Message. Update bodies are copied.
func (m *PrepareRequest) UnmarshalBinary(data []byte) error {
	*m = PrepareRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Gpid = decodeGpid(d)
	decodePartitionConfig(d, &m.Config)
	m.Status = decodePartitionStatus(d)
	decodeMutation(d, &m.Mutation)
	return d.Finish()
}

// PrepareResponse acknowledges a prepare. Code is CodeOK when the receiver
// logged the mutation; otherwise it says why not (CodeStaleBallot with the
// receiver's Ballot, CodeInvalidState, ...), so the primary can act on the
// receiver's decrees even on failure. Decree is the prepared mutation's.
type PrepareResponse struct {
	Gpid          Gpid
	Code          ErrorCode
	Ballot        Ballot // the receiver's ballot
	Decree        Decree
	LastPrepared  Decree
	LastCommitted Decree
}

// EncodedSize returns the length of the AppendBinary output.
func (m *PrepareResponse) EncodedSize() int {
	return 1 + gpidSize(m.Gpid) + varintSize(int64(m.Code)) + varintSize(int64(m.Ballot)) +
		varintSize(int64(m.Decree)) + varintSize(int64(m.LastPrepared)) +
		varintSize(int64(m.LastCommitted))
}

// AppendBinary implements Message.
func (m *PrepareResponse) AppendBinary(b []byte) ([]byte, error) {
	b = appendGpid(append(b, formatV1), m.Gpid)
	b = AppendVarint(b, int64(m.Code))
	b = AppendVarint(b, int64(m.Ballot))
	b = AppendVarint(b, int64(m.Decree))
	b = AppendVarint(b, int64(m.LastPrepared))
	return AppendVarint(b, int64(m.LastCommitted)), nil
}

// UnmarshalBinary implements Message.
func (m *PrepareResponse) UnmarshalBinary(data []byte) error {
	*m = PrepareResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Gpid = decodeGpid(d)
	m.Code = ErrorCode(d.Int32())
	m.Ballot = Ballot(d.Varint())
	m.Decree = Decree(d.Varint())
	m.LastPrepared = Decree(d.Varint())
	m.LastCommitted = Decree(d.Varint())
	return d.Finish()
}

// GroupCheckRequest is the primary's periodic check of each member: it
// carries the configuration and the receiver's expected Status, the
// primary's commit point (so idle secondaries commit too), the signature of
// the receiver's learning session when it is a learner (0 otherwise), and
// the duplication confirmed decrees (so secondaries keep unshipped plog).
type GroupCheckRequest struct {
	Gpid             Gpid
	Config           PartitionConfiguration
	Status           PartitionStatus
	LastCommitted    Decree
	LearnerSignature uint64
	ConfirmedDecrees []DuplicationConfirm
}

// AppendBinary implements Message.
func (m *GroupCheckRequest) AppendBinary(b []byte) ([]byte, error) {
	if err := checkPartitionStatus(m.Status); err != nil {
		return b, err
	}
	b = appendGpid(append(b, formatV1), m.Gpid)
	b = appendPartitionConfig(b, &m.Config)
	b = append(b, byte(m.Status))
	b = AppendVarint(b, int64(m.LastCommitted))
	b = AppendFixed64(b, m.LearnerSignature)
	b = AppendUvarint(b, uint64(len(m.ConfirmedDecrees)))
	for _, c := range m.ConfirmedDecrees {
		b = AppendVarint(b, int64(c.DupID))
		b = AppendVarint(b, int64(c.ConfirmedDecree))
	}
	return b, nil
}

// UnmarshalBinary implements Message.
func (m *GroupCheckRequest) UnmarshalBinary(data []byte) error {
	*m = GroupCheckRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Gpid = decodeGpid(d)
	decodePartitionConfig(d, &m.Config)
	m.Status = decodePartitionStatus(d)
	m.LastCommitted = Decree(d.Varint())
	m.LearnerSignature = d.Fixed64()
	if n := d.Len(2); n > 0 {
		m.ConfirmedDecrees = make([]DuplicationConfirm, n)
		for i := range m.ConfirmedDecrees {
			m.ConfirmedDecrees[i].DupID = d.Int32()
			m.ConfirmedDecrees[i].ConfirmedDecree = Decree(d.Varint())
		}
	}
	return d.Finish()
}

// GroupCheckResponse reports the receiver's state. Code is CodeOK or why
// the receiver refused the check (e.g. CodeStaleBallot).
type GroupCheckResponse struct {
	Gpid             Gpid
	Node             string // the receiver's address
	Code             ErrorCode
	Ballot           Ballot
	Status           PartitionStatus
	LastCommitted    Decree
	LastPrepared     Decree
	LastDurable      Decree
	LearnerSignature uint64 // the receiver's current learning session, 0 if none
}

// AppendBinary implements Message.
func (m *GroupCheckResponse) AppendBinary(b []byte) ([]byte, error) {
	if err := checkPartitionStatus(m.Status); err != nil {
		return b, err
	}
	b = appendGpid(append(b, formatV1), m.Gpid)
	b = AppendString(b, m.Node)
	b = AppendVarint(b, int64(m.Code))
	b = AppendVarint(b, int64(m.Ballot))
	b = append(b, byte(m.Status))
	b = AppendVarint(b, int64(m.LastCommitted))
	b = AppendVarint(b, int64(m.LastPrepared))
	b = AppendVarint(b, int64(m.LastDurable))
	return AppendFixed64(b, m.LearnerSignature), nil
}

// UnmarshalBinary implements Message.
func (m *GroupCheckResponse) UnmarshalBinary(data []byte) error {
	*m = GroupCheckResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Gpid = decodeGpid(d)
	m.Node = d.String()
	m.Code = ErrorCode(d.Int32())
	m.Ballot = Ballot(d.Varint())
	m.Status = decodePartitionStatus(d)
	m.LastCommitted = Decree(d.Varint())
	m.LastPrepared = Decree(d.Varint())
	m.LastDurable = Decree(d.Varint())
	m.LearnerSignature = d.Fixed64()
	return d.Finish()
}

// LearnRequest is sent by a learner to the primary to ask what to fetch.
// LearnerSignature identifies the learning session the primary started
// (from GroupCheckRequest); LastCommitted and LastDurable are the learner's
// own decrees, so the primary can send only what is missing.
type LearnRequest struct {
	Gpid             Gpid
	Ballot           Ballot
	Learner          string
	LearnerSignature uint64
	LastCommitted    Decree
	LastDurable      Decree
}

// AppendBinary implements Message.
func (m *LearnRequest) AppendBinary(b []byte) ([]byte, error) {
	b = appendGpid(append(b, formatV1), m.Gpid)
	b = AppendVarint(b, int64(m.Ballot))
	b = AppendString(b, m.Learner)
	b = AppendFixed64(b, m.LearnerSignature)
	b = AppendVarint(b, int64(m.LastCommitted))
	return AppendVarint(b, int64(m.LastDurable)), nil
}

// UnmarshalBinary implements Message.
func (m *LearnRequest) UnmarshalBinary(data []byte) error {
	*m = LearnRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Gpid = decodeGpid(d)
	m.Ballot = Ballot(d.Varint())
	m.Learner = d.String()
	m.LearnerSignature = d.Fixed64()
	m.LastCommitted = Decree(d.Varint())
	m.LastDurable = Decree(d.Varint())
	return d.Finish()
}

// LearnFile is one file a learner must copy, with its size and CRC-32C
// (Castagnoli) checksum. Name is relative to the learn directory.
type LearnFile struct {
	Name   string
	Size   int64
	CRC32C uint32
}

const learnFileMinSize = 6

func appendLearnFiles(b []byte, files []LearnFile) []byte {
	b = AppendUvarint(b, uint64(len(files)))
	for i := range files {
		f := &files[i]
		b = AppendString(b, f.Name)
		b = AppendVarint(b, f.Size)
		b = AppendFixed32(b, f.CRC32C)
	}
	return b
}

func decodeLearnFiles(d *Decoder) []LearnFile {
	n := d.Len(learnFileMinSize)
	if n == 0 {
		return nil
	}
	files := make([]LearnFile, n)
	for i := range files {
		f := &files[i]
		f.Name = d.String()
		f.Size = d.Varint()
		f.CRC32C = d.Fixed32()
	}
	return files
}

// LearnResponse tells the learner what to fetch. Type says whether to copy
// the checkpoint Files (found under LearnDir, fetched with CopyFile) whose
// state covers every decree up to BaseDecree, to replay Mutations (the log
// tail after BaseDecree), or both. PrepareStartDecree is the first decree
// the primary will send the learner through Prepare from now on; the
// learner is caught up once it holds every decree before it.
type LearnResponse struct {
	Gpid               Gpid
	Config             PartitionConfiguration
	Type               LearnType
	BaseDecree         Decree
	LastCommitted      Decree // the primary's commit point
	PrepareStartDecree Decree
	LearnDir           string // opaque name of the primary's learn directory, for CopyFile
	Files              []LearnFile
	Mutations          []Mutation
}

// AppendBinary implements Message.
func (m *LearnResponse) AppendBinary(b []byte) ([]byte, error) {
	if !m.Type.Valid() {
		return b, encodeError("learn type %d", m.Type)
	}
	b = appendGpid(append(b, formatV1), m.Gpid)
	b = appendPartitionConfig(b, &m.Config)
	b = append(b, byte(m.Type))
	b = AppendVarint(b, int64(m.BaseDecree))
	b = AppendVarint(b, int64(m.LastCommitted))
	b = AppendVarint(b, int64(m.PrepareStartDecree))
	b = AppendString(b, m.LearnDir)
	b = appendLearnFiles(b, m.Files)
	b = AppendUvarint(b, uint64(len(m.Mutations)))
	for i := range m.Mutations {
		var err error
		if b, err = appendMutation(b, &m.Mutations[i]); err != nil {
			return b, err
		}
	}
	return b, nil
}

// UnmarshalBinary implements Message. Update bodies are copied.
func (m *LearnResponse) UnmarshalBinary(data []byte) error {
	*m = LearnResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Gpid = decodeGpid(d)
	decodePartitionConfig(d, &m.Config)
	m.Type = LearnType(d.Byte())
	if !m.Type.Valid() {
		d.Fail("unknown learn type %d", m.Type)
	}
	m.BaseDecree = Decree(d.Varint())
	m.LastCommitted = Decree(d.Varint())
	m.PrepareStartDecree = Decree(d.Varint())
	m.LearnDir = d.String()
	m.Files = decodeLearnFiles(d)
	// A mutation takes at least 6 bytes plus a 1-byte length prefix.
	if n := d.Len(7); n > 0 {
		m.Mutations = make([]Mutation, n)
		for i := range m.Mutations {
			decodeMutation(d, &m.Mutations[i])
		}
	}
	return d.Finish()
}

// CopyFileRequest reads up to MaxBytes of file Path (relative to Dir, a
// LearnDir handed out by the primary) from Offset. The server rejects paths
// that leave Dir.
type CopyFileRequest struct {
	Gpid     Gpid
	Dir      string
	Path     string
	Offset   int64
	MaxBytes int32
}

// AppendBinary implements Message.
func (m *CopyFileRequest) AppendBinary(b []byte) ([]byte, error) {
	b = appendGpid(append(b, formatV1), m.Gpid)
	b = AppendString(b, m.Dir)
	b = AppendString(b, m.Path)
	b = AppendVarint(b, m.Offset)
	return AppendVarint(b, int64(m.MaxBytes)), nil
}

// UnmarshalBinary implements Message.
func (m *CopyFileRequest) UnmarshalBinary(data []byte) error {
	*m = CopyFileRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Gpid = decodeGpid(d)
	m.Dir = d.String()
	m.Path = d.String()
	m.Offset = d.Varint()
	m.MaxBytes = d.Int32()
	return d.Finish()
}

// CopyFileResponse is one chunk of a file: Data starts at the request's
// offset, CRC32C is the Castagnoli checksum of Data, FileSize the whole
// file's size, and EOF is true when the chunk reaches the end of the file.
type CopyFileResponse struct {
	Data     []byte
	CRC32C   uint32
	FileSize int64
	EOF      bool
}

// EncodedSize returns the length of the AppendBinary output.
func (m *CopyFileResponse) EncodedSize() int {
	return 1 + bytesSize(m.Data) + 4 + varintSize(m.FileSize) + 1
}

// AppendBinary implements Message.
func (m *CopyFileResponse) AppendBinary(b []byte) ([]byte, error) {
	b = AppendBytes(append(b, formatV1), m.Data)
	b = AppendFixed32(b, m.CRC32C)
	b = AppendVarint(b, m.FileSize)
	return AppendBool(b, m.EOF), nil
}

// UnmarshalBinary implements Message.
func (m *CopyFileResponse) UnmarshalBinary(data []byte) error {
	*m = CopyFileResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Data = d.BytesCopy()
	m.CRC32C = d.Fixed32()
	m.FileSize = d.Varint()
	m.EOF = d.Bool()
	return d.Finish()
}

// LearnCompletionNotifyRequest tells the primary that the learner has
// applied everything up to LastCommitted in the learning session
// LearnerSignature, so the primary can propose ConfigUpgradeToSecondary.
type LearnCompletionNotifyRequest struct {
	Gpid             Gpid
	Ballot           Ballot
	Learner          string
	LearnerSignature uint64
	LastCommitted    Decree
}

// AppendBinary implements Message.
func (m *LearnCompletionNotifyRequest) AppendBinary(b []byte) ([]byte, error) {
	b = appendGpid(append(b, formatV1), m.Gpid)
	b = AppendVarint(b, int64(m.Ballot))
	b = AppendString(b, m.Learner)
	b = AppendFixed64(b, m.LearnerSignature)
	return AppendVarint(b, int64(m.LastCommitted)), nil
}

// UnmarshalBinary implements Message.
func (m *LearnCompletionNotifyRequest) UnmarshalBinary(data []byte) error {
	*m = LearnCompletionNotifyRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Gpid = decodeGpid(d)
	m.Ballot = Ballot(d.Varint())
	m.Learner = d.String()
	m.LearnerSignature = d.Fixed64()
	m.LastCommitted = Decree(d.Varint())
	return d.Finish()
}

// LearnCompletionNotifyResponse acknowledges the notification; a stale
// signature or ballot fails the call instead.
type LearnCompletionNotifyResponse struct{}

// AppendBinary implements Message.
func (m *LearnCompletionNotifyResponse) AppendBinary(b []byte) ([]byte, error) {
	return append(b, formatV1), nil
}

// UnmarshalBinary implements Message.
func (m *LearnCompletionNotifyResponse) UnmarshalBinary(data []byte) error {
	return decodeEmpty(data)
}

// DupCheckpointRequest asks the primary of a master partition (Gpid, in
// the master cluster's numbering) for its duplication checkpoint: a
// checkpoint of the partition's data that a follower replica of a full
// duplication copies before it opens. The primary makes one checkpoint per
// partition, holding at least MinDecree (the duplication's checkpoint
// decree; 0: any), and hands the same one to every follower replica and
// every retry, so copies are identical and resumable. Follower is the
// asking replica's address, for logs and status pages.
type DupCheckpointRequest struct {
	Gpid      Gpid
	MinDecree Decree
	Follower  string
}

// AppendBinary implements Message.
func (m *DupCheckpointRequest) AppendBinary(b []byte) ([]byte, error) {
	b = appendGpid(append(b, formatV1), m.Gpid)
	b = AppendVarint(b, int64(m.MinDecree))
	return AppendString(b, m.Follower), nil
}

// UnmarshalBinary implements Message.
func (m *DupCheckpointRequest) UnmarshalBinary(data []byte) error {
	*m = DupCheckpointRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Gpid = decodeGpid(d)
	m.MinDecree = Decree(d.Varint())
	m.Follower = d.String()
	return d.Finish()
}

// DupCheckpointResponse describes the duplication checkpoint: its Files
// (relative to Dir, fetched with CopyFile{Dir: Dir}) hold the partition's
// data up to BaseDecree; the engine checkpoint is under the "data/"
// prefix. PartitionCount is the master table's, which a follower table
// must match.
type DupCheckpointResponse struct {
	Gpid           Gpid
	PartitionCount int32
	BaseDecree     Decree
	Dir            string
	Files          []LearnFile
}

// AppendBinary implements Message.
func (m *DupCheckpointResponse) AppendBinary(b []byte) ([]byte, error) {
	b = appendGpid(append(b, formatV1), m.Gpid)
	b = AppendVarint(b, int64(m.PartitionCount))
	b = AppendVarint(b, int64(m.BaseDecree))
	b = AppendString(b, m.Dir)
	return appendLearnFiles(b, m.Files), nil
}

// UnmarshalBinary implements Message.
func (m *DupCheckpointResponse) UnmarshalBinary(data []byte) error {
	*m = DupCheckpointResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Gpid = decodeGpid(d)
	m.PartitionCount = d.Int32()
	m.BaseDecree = Decree(d.Varint())
	m.Dir = d.String()
	m.Files = decodeLearnFiles(d)
	return d.Finish()
}
