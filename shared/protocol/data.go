package protocol

// Data API: requests a client sends to the primary of a partition (service
// Replica) and their responses. Each request starts with a RequestHeader.
// Failures travel as *Error through the RPC layer, so a response type only
// holds what a successful operation returns; the exceptions are the per-key
// codes of BatchGet/BatchSet and the check outcome of CheckAndSet /
// CheckAndMutate (see CheckAndSetResponse).
//
// Decoded byte slices of one message share a single private copy of the
// input: they never alias the caller's buffer, and they stay valid (and keep
// that copy alive) for as long as the caller holds them. Empty byte strings
// and empty lists decode as nil.

// RequestHeader is the common header of every data request.
type RequestHeader struct {
	// Gpid is the partition the client believes serves the key.
	Gpid Gpid
	// PartitionHash is the key's partition hash (see DESIGN: crc64 of the
	// hashkey). The server rejects the request with CodeWrongPartition
	// unless PartitionHash mod partition count == Gpid.PartitionIndex, which
	// catches clients with a stale partition count. For BatchGet/BatchSet it
	// is the hash of the first key (the server checks every key); for a
	// FullPartition scan it is ignored.
	PartitionHash uint64
	// TimeoutMs is the client's timeout for this request; 0 means none.
	// A server may drop a request that waited in its queue longer than this.
	TimeoutMs uint32
}

// CheckPartition returns a CodeWrongPartition error unless the header's
// hash maps to its partition index under partitionCount partitions.
func (h *RequestHeader) CheckPartition(partitionCount int32) error {
	if partitionCount <= 0 || h.Gpid.PartitionIndex < 0 ||
		h.PartitionHash%uint64(partitionCount) != uint64(h.Gpid.PartitionIndex) {
		return Errorf(CodeWrongPartition, "hash %#x does not map to partition %s of %d",
			h.PartitionHash, h.Gpid, partitionCount)
	}
	return nil
}

// DataRequest is implemented by every data API request.
type DataRequest interface {
	Message
	// DataHeader returns a pointer to the request's header.
	DataHeader() *RequestHeader
}

func appendHeader(b []byte, h *RequestHeader) []byte {
	b = appendGpid(b, h.Gpid)
	b = AppendFixed64(b, h.PartitionHash)
	return AppendUvarint(b, uint64(h.TimeoutMs))
}

func headerSize(h *RequestHeader) int {
	return gpidSize(h.Gpid) + 8 + uvarintSize(uint64(h.TimeoutMs))
}

func decodeHeader(d *Decoder, h *RequestHeader) {
	h.Gpid = decodeGpid(d)
	h.PartitionHash = d.Fixed64()
	h.TimeoutMs = d.Uint32()
}

func appendFilter(b []byte, f Filter) []byte {
	b = append(b, byte(f.Type))
	return AppendBytes(b, f.Pattern)
}

func filterSize(f Filter) int { return 1 + bytesSize(f.Pattern) }

func decodeFilter(d *Decoder) Filter {
	t := FilterType(d.Byte())
	if !t.Valid() {
		d.Fail("unknown filter type %d", t)
	}
	return Filter{Type: t, Pattern: d.Bytes()}
}

func checkFilter(f Filter) error {
	if !f.Type.Valid() {
		return encodeError("filter type %d", f.Type)
	}
	return nil
}

func appendKeyValues(b []byte, l []KeyValue) []byte {
	b = AppendUvarint(b, uint64(len(l)))
	for i := range l {
		b = AppendBytes(b, l[i].SortKey)
		b = AppendBytes(b, l[i].Value)
	}
	return b
}

func keyValuesSize(l []KeyValue) int {
	n := uvarintSize(uint64(len(l)))
	for i := range l {
		n += bytesSize(l[i].SortKey) + bytesSize(l[i].Value)
	}
	return n
}

func decodeKeyValues(d *Decoder) []KeyValue {
	n := d.Len(2)
	if n == 0 {
		return nil
	}
	out := make([]KeyValue, n)
	for i := range out {
		out[i].SortKey = d.Bytes()
		out[i].Value = d.Bytes()
	}
	return out
}

// Requests addressed to one record (Get, Exist, TTL, Del) share a layout.

func appendKeyRequest(b []byte, h *RequestHeader, hashKey, sortKey []byte) []byte {
	b = append(b, formatV1)
	b = appendHeader(b, h)
	b = AppendBytes(b, hashKey)
	return AppendBytes(b, sortKey)
}

func keyRequestSize(h *RequestHeader, hashKey, sortKey []byte) int {
	return 1 + headerSize(h) + bytesSize(hashKey) + bytesSize(sortKey)
}

func decodeKeyRequest(data []byte, h *RequestHeader, hashKey, sortKey *[]byte) error {
	d := newOwningDecoder(data)
	d.Version(formatV1)
	decodeHeader(d, h)
	*hashKey = d.Bytes()
	*sortKey = d.Bytes()
	return d.Finish()
}

// GetRequest reads one record. A missing or expired record fails with
// CodeNotFound.
type GetRequest struct {
	Header  RequestHeader
	HashKey []byte
	SortKey []byte
}

// DataHeader implements DataRequest.
func (m *GetRequest) DataHeader() *RequestHeader { return &m.Header }

// EncodedSize returns the length of the AppendBinary output.
func (m *GetRequest) EncodedSize() int { return keyRequestSize(&m.Header, m.HashKey, m.SortKey) }

// AppendBinary implements Message.
func (m *GetRequest) AppendBinary(b []byte) ([]byte, error) {
	return appendKeyRequest(b, &m.Header, m.HashKey, m.SortKey), nil
}

// UnmarshalBinary implements Message.
func (m *GetRequest) UnmarshalBinary(data []byte) error {
	*m = GetRequest{}
	return decodeKeyRequest(data, &m.Header, &m.HashKey, &m.SortKey)
}

// GetResponse is the value of the record.
type GetResponse struct {
	Value []byte
}

// EncodedSize returns the length of the AppendBinary output.
func (m *GetResponse) EncodedSize() int { return 1 + bytesSize(m.Value) }

// AppendBinary implements Message.
func (m *GetResponse) AppendBinary(b []byte) ([]byte, error) {
	return AppendBytes(append(b, formatV1), m.Value), nil
}

// UnmarshalBinary implements Message.
func (m *GetResponse) UnmarshalBinary(data []byte) error {
	*m = GetResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Value = d.BytesCopy()
	return d.Finish()
}

// SetRequest writes one record. TTLSeconds > 0 makes the record expire that
// many seconds after the write; 0 means no TTL (or the table's default_ttl).
type SetRequest struct {
	Header     RequestHeader
	HashKey    []byte
	SortKey    []byte
	Value      []byte
	TTLSeconds int32
}

// DataHeader implements DataRequest.
func (m *SetRequest) DataHeader() *RequestHeader { return &m.Header }

// EncodedSize returns the length of the AppendBinary output.
func (m *SetRequest) EncodedSize() int {
	return 1 + headerSize(&m.Header) + bytesSize(m.HashKey) + bytesSize(m.SortKey) +
		bytesSize(m.Value) + varintSize(int64(m.TTLSeconds))
}

// AppendBinary implements Message.
func (m *SetRequest) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, formatV1)
	b = appendHeader(b, &m.Header)
	b = AppendBytes(b, m.HashKey)
	b = AppendBytes(b, m.SortKey)
	b = AppendBytes(b, m.Value)
	return AppendVarint(b, int64(m.TTLSeconds)), nil
}

// UnmarshalBinary implements Message.
func (m *SetRequest) UnmarshalBinary(data []byte) error {
	*m = SetRequest{}
	d := newOwningDecoder(data)
	d.Version(formatV1)
	decodeHeader(d, &m.Header)
	m.HashKey = d.Bytes()
	m.SortKey = d.Bytes()
	m.Value = d.Bytes()
	m.TTLSeconds = d.Int32()
	return d.Finish()
}

// Responses of writes that return nothing but success carry the decree of
// the mutation that committed the write, for diagnostics.

func appendDecreeResponse(b []byte, decree Decree) []byte {
	return AppendVarint(append(b, formatV1), int64(decree))
}

func decodeDecreeResponse(data []byte, decree *Decree) error {
	d := NewDecoder(data)
	d.Version(formatV1)
	*decree = Decree(d.Varint())
	return d.Finish()
}

// SetResponse answers Set.
type SetResponse struct {
	Decree Decree
}

// EncodedSize returns the length of the AppendBinary output.
func (m *SetResponse) EncodedSize() int { return 1 + varintSize(int64(m.Decree)) }

// AppendBinary implements Message.
func (m *SetResponse) AppendBinary(b []byte) ([]byte, error) {
	return appendDecreeResponse(b, m.Decree), nil
}

// UnmarshalBinary implements Message.
func (m *SetResponse) UnmarshalBinary(data []byte) error {
	*m = SetResponse{}
	return decodeDecreeResponse(data, &m.Decree)
}

// DelRequest deletes one record; deleting a missing record succeeds.
type DelRequest struct {
	Header  RequestHeader
	HashKey []byte
	SortKey []byte
}

// DataHeader implements DataRequest.
func (m *DelRequest) DataHeader() *RequestHeader { return &m.Header }

// EncodedSize returns the length of the AppendBinary output.
func (m *DelRequest) EncodedSize() int { return keyRequestSize(&m.Header, m.HashKey, m.SortKey) }

// AppendBinary implements Message.
func (m *DelRequest) AppendBinary(b []byte) ([]byte, error) {
	return appendKeyRequest(b, &m.Header, m.HashKey, m.SortKey), nil
}

// UnmarshalBinary implements Message.
func (m *DelRequest) UnmarshalBinary(data []byte) error {
	*m = DelRequest{}
	return decodeKeyRequest(data, &m.Header, &m.HashKey, &m.SortKey)
}

// DelResponse answers Del.
type DelResponse struct {
	Decree Decree
}

// EncodedSize returns the length of the AppendBinary output.
func (m *DelResponse) EncodedSize() int { return 1 + varintSize(int64(m.Decree)) }

// AppendBinary implements Message.
func (m *DelResponse) AppendBinary(b []byte) ([]byte, error) {
	return appendDecreeResponse(b, m.Decree), nil
}

// UnmarshalBinary implements Message.
func (m *DelResponse) UnmarshalBinary(data []byte) error {
	*m = DelResponse{}
	return decodeDecreeResponse(data, &m.Decree)
}

// MultiGetRequest reads several sortkeys of one hashkey. With SortKeys
// non-empty it reads exactly those (the range fields are ignored);
// otherwise it reads the range from StartSortKey to StopSortKey (an empty
// StopSortKey means "to the end of the hashkey"), with the inclusive flags
// applying to the bounds. SortKeyFilter is applied in both modes. MaxKVCount
// and MaxKVSize bound the result (<= 0 means the server's default limit);
// NoValue returns the sortkeys with nil values; Reverse walks the range from
// the stop end.
type MultiGetRequest struct {
	Header         RequestHeader
	HashKey        []byte
	SortKeys       [][]byte
	StartSortKey   []byte
	StopSortKey    []byte
	StartInclusive bool
	StopInclusive  bool
	SortKeyFilter  Filter
	MaxKVCount     int32
	MaxKVSize      int32
	NoValue        bool
	Reverse        bool
}

// DataHeader implements DataRequest.
func (m *MultiGetRequest) DataHeader() *RequestHeader { return &m.Header }

// EncodedSize returns the length of the AppendBinary output.
func (m *MultiGetRequest) EncodedSize() int {
	return 1 + headerSize(&m.Header) + bytesSize(m.HashKey) + bytesListSize(m.SortKeys) +
		bytesSize(m.StartSortKey) + bytesSize(m.StopSortKey) + 2 + filterSize(m.SortKeyFilter) +
		varintSize(int64(m.MaxKVCount)) + varintSize(int64(m.MaxKVSize)) + 2
}

// AppendBinary implements Message.
func (m *MultiGetRequest) AppendBinary(b []byte) ([]byte, error) {
	if err := checkFilter(m.SortKeyFilter); err != nil {
		return b, err
	}
	b = append(b, formatV1)
	b = appendHeader(b, &m.Header)
	b = AppendBytes(b, m.HashKey)
	b = appendBytesList(b, m.SortKeys)
	b = AppendBytes(b, m.StartSortKey)
	b = AppendBytes(b, m.StopSortKey)
	b = AppendBool(b, m.StartInclusive)
	b = AppendBool(b, m.StopInclusive)
	b = appendFilter(b, m.SortKeyFilter)
	b = AppendVarint(b, int64(m.MaxKVCount))
	b = AppendVarint(b, int64(m.MaxKVSize))
	b = AppendBool(b, m.NoValue)
	return AppendBool(b, m.Reverse), nil
}

// UnmarshalBinary implements Message.
func (m *MultiGetRequest) UnmarshalBinary(data []byte) error {
	*m = MultiGetRequest{}
	d := newOwningDecoder(data)
	d.Version(formatV1)
	decodeHeader(d, &m.Header)
	m.HashKey = d.Bytes()
	m.SortKeys = decodeBytesList(d)
	m.StartSortKey = d.Bytes()
	m.StopSortKey = d.Bytes()
	m.StartInclusive = d.Bool()
	m.StopInclusive = d.Bool()
	m.SortKeyFilter = decodeFilter(d)
	m.MaxKVCount = d.Int32()
	m.MaxKVSize = d.Int32()
	m.NoValue = d.Bool()
	m.Reverse = d.Bool()
	return d.Finish()
}

// MultiGetResponse holds the records found, in sortkey order (reverse order
// for a Reverse request). Complete is false when a limit cut the result
// short; the caller continues from the last sortkey.
type MultiGetResponse struct {
	KVs      []KeyValue
	Complete bool
}

// EncodedSize returns the length of the AppendBinary output.
func (m *MultiGetResponse) EncodedSize() int { return 1 + keyValuesSize(m.KVs) + 1 }

// AppendBinary implements Message.
func (m *MultiGetResponse) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, formatV1)
	b = appendKeyValues(b, m.KVs)
	return AppendBool(b, m.Complete), nil
}

// UnmarshalBinary implements Message.
func (m *MultiGetResponse) UnmarshalBinary(data []byte) error {
	*m = MultiGetResponse{}
	d := newOwningDecoder(data)
	d.Version(formatV1)
	m.KVs = decodeKeyValues(d)
	m.Complete = d.Bool()
	return d.Finish()
}

// MultiSetRequest writes several sortkeys of one hashkey atomically, all
// with the same TTL.
type MultiSetRequest struct {
	Header     RequestHeader
	HashKey    []byte
	KVs        []KeyValue
	TTLSeconds int32
}

// DataHeader implements DataRequest.
func (m *MultiSetRequest) DataHeader() *RequestHeader { return &m.Header }

// EncodedSize returns the length of the AppendBinary output.
func (m *MultiSetRequest) EncodedSize() int {
	return 1 + headerSize(&m.Header) + bytesSize(m.HashKey) + keyValuesSize(m.KVs) +
		varintSize(int64(m.TTLSeconds))
}

// AppendBinary implements Message.
func (m *MultiSetRequest) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, formatV1)
	b = appendHeader(b, &m.Header)
	b = AppendBytes(b, m.HashKey)
	b = appendKeyValues(b, m.KVs)
	return AppendVarint(b, int64(m.TTLSeconds)), nil
}

// UnmarshalBinary implements Message.
func (m *MultiSetRequest) UnmarshalBinary(data []byte) error {
	*m = MultiSetRequest{}
	d := newOwningDecoder(data)
	d.Version(formatV1)
	decodeHeader(d, &m.Header)
	m.HashKey = d.Bytes()
	m.KVs = decodeKeyValues(d)
	m.TTLSeconds = d.Int32()
	return d.Finish()
}

// MultiSetResponse answers MultiSet.
type MultiSetResponse struct {
	Decree Decree
}

// EncodedSize returns the length of the AppendBinary output.
func (m *MultiSetResponse) EncodedSize() int { return 1 + varintSize(int64(m.Decree)) }

// AppendBinary implements Message.
func (m *MultiSetResponse) AppendBinary(b []byte) ([]byte, error) {
	return appendDecreeResponse(b, m.Decree), nil
}

// UnmarshalBinary implements Message.
func (m *MultiSetResponse) UnmarshalBinary(data []byte) error {
	*m = MultiSetResponse{}
	return decodeDecreeResponse(data, &m.Decree)
}

// MultiDelRequest deletes several sortkeys of one hashkey atomically.
type MultiDelRequest struct {
	Header   RequestHeader
	HashKey  []byte
	SortKeys [][]byte
}

// DataHeader implements DataRequest.
func (m *MultiDelRequest) DataHeader() *RequestHeader { return &m.Header }

// EncodedSize returns the length of the AppendBinary output.
func (m *MultiDelRequest) EncodedSize() int {
	return 1 + headerSize(&m.Header) + bytesSize(m.HashKey) + bytesListSize(m.SortKeys)
}

// AppendBinary implements Message.
func (m *MultiDelRequest) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, formatV1)
	b = appendHeader(b, &m.Header)
	b = AppendBytes(b, m.HashKey)
	return appendBytesList(b, m.SortKeys), nil
}

// UnmarshalBinary implements Message.
func (m *MultiDelRequest) UnmarshalBinary(data []byte) error {
	*m = MultiDelRequest{}
	d := newOwningDecoder(data)
	d.Version(formatV1)
	decodeHeader(d, &m.Header)
	m.HashKey = d.Bytes()
	m.SortKeys = decodeBytesList(d)
	return d.Finish()
}

// MultiDel and DelRange answer with how many existing records the write
// deleted and the decree that committed it.

func appendDeleteCount(b []byte, deleted int64, decree Decree) []byte {
	b = AppendVarint(append(b, formatV1), deleted)
	return AppendVarint(b, int64(decree))
}

func decodeDeleteCount(data []byte, deleted *int64, decree *Decree) error {
	d := NewDecoder(data)
	d.Version(formatV1)
	*deleted = d.Varint()
	*decree = Decree(d.Varint())
	return d.Finish()
}

// MultiDelResponse answers MultiDel.
type MultiDelResponse struct {
	Deleted int64
	Decree  Decree
}

// EncodedSize returns the length of the AppendBinary output.
func (m *MultiDelResponse) EncodedSize() int {
	return 1 + varintSize(m.Deleted) + varintSize(int64(m.Decree))
}

// AppendBinary implements Message.
func (m *MultiDelResponse) AppendBinary(b []byte) ([]byte, error) {
	return appendDeleteCount(b, m.Deleted, m.Decree), nil
}

// UnmarshalBinary implements Message.
func (m *MultiDelResponse) UnmarshalBinary(data []byte) error {
	*m = MultiDelResponse{}
	return decodeDeleteCount(data, &m.Deleted, &m.Decree)
}

// DelRangeRequest deletes the sortkeys of one hashkey between StartSortKey
// and StopSortKey (an empty StopSortKey means "to the end") that match
// SortKeyFilter, atomically.
type DelRangeRequest struct {
	Header         RequestHeader
	HashKey        []byte
	StartSortKey   []byte
	StopSortKey    []byte
	StartInclusive bool
	StopInclusive  bool
	SortKeyFilter  Filter
}

// DataHeader implements DataRequest.
func (m *DelRangeRequest) DataHeader() *RequestHeader { return &m.Header }

// EncodedSize returns the length of the AppendBinary output.
func (m *DelRangeRequest) EncodedSize() int {
	return 1 + headerSize(&m.Header) + bytesSize(m.HashKey) + bytesSize(m.StartSortKey) +
		bytesSize(m.StopSortKey) + 2 + filterSize(m.SortKeyFilter)
}

// AppendBinary implements Message.
func (m *DelRangeRequest) AppendBinary(b []byte) ([]byte, error) {
	if err := checkFilter(m.SortKeyFilter); err != nil {
		return b, err
	}
	b = append(b, formatV1)
	b = appendHeader(b, &m.Header)
	b = AppendBytes(b, m.HashKey)
	b = AppendBytes(b, m.StartSortKey)
	b = AppendBytes(b, m.StopSortKey)
	b = AppendBool(b, m.StartInclusive)
	b = AppendBool(b, m.StopInclusive)
	return appendFilter(b, m.SortKeyFilter), nil
}

// UnmarshalBinary implements Message.
func (m *DelRangeRequest) UnmarshalBinary(data []byte) error {
	*m = DelRangeRequest{}
	d := newOwningDecoder(data)
	d.Version(formatV1)
	decodeHeader(d, &m.Header)
	m.HashKey = d.Bytes()
	m.StartSortKey = d.Bytes()
	m.StopSortKey = d.Bytes()
	m.StartInclusive = d.Bool()
	m.StopInclusive = d.Bool()
	m.SortKeyFilter = decodeFilter(d)
	return d.Finish()
}

// DelRangeResponse answers DelRange.
type DelRangeResponse struct {
	Deleted int64
	Decree  Decree
}

// EncodedSize returns the length of the AppendBinary output.
func (m *DelRangeResponse) EncodedSize() int {
	return 1 + varintSize(m.Deleted) + varintSize(int64(m.Decree))
}

// AppendBinary implements Message.
func (m *DelRangeResponse) AppendBinary(b []byte) ([]byte, error) {
	return appendDeleteCount(b, m.Deleted, m.Decree), nil
}

// UnmarshalBinary implements Message.
func (m *DelRangeResponse) UnmarshalBinary(data []byte) error {
	*m = DelRangeResponse{}
	return decodeDeleteCount(data, &m.Deleted, &m.Decree)
}

// SortKeyCountRequest counts the live sortkeys of one hashkey.
type SortKeyCountRequest struct {
	Header  RequestHeader
	HashKey []byte
}

// DataHeader implements DataRequest.
func (m *SortKeyCountRequest) DataHeader() *RequestHeader { return &m.Header }

// EncodedSize returns the length of the AppendBinary output.
func (m *SortKeyCountRequest) EncodedSize() int {
	return 1 + headerSize(&m.Header) + bytesSize(m.HashKey)
}

// AppendBinary implements Message.
func (m *SortKeyCountRequest) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, formatV1)
	b = appendHeader(b, &m.Header)
	return AppendBytes(b, m.HashKey), nil
}

// UnmarshalBinary implements Message.
func (m *SortKeyCountRequest) UnmarshalBinary(data []byte) error {
	*m = SortKeyCountRequest{}
	d := newOwningDecoder(data)
	d.Version(formatV1)
	decodeHeader(d, &m.Header)
	m.HashKey = d.Bytes()
	return d.Finish()
}

// SortKeyCountResponse is the number of live sortkeys.
type SortKeyCountResponse struct {
	Count int64
}

// EncodedSize returns the length of the AppendBinary output.
func (m *SortKeyCountResponse) EncodedSize() int { return 1 + varintSize(m.Count) }

// AppendBinary implements Message.
func (m *SortKeyCountResponse) AppendBinary(b []byte) ([]byte, error) {
	return AppendVarint(append(b, formatV1), m.Count), nil
}

// UnmarshalBinary implements Message.
func (m *SortKeyCountResponse) UnmarshalBinary(data []byte) error {
	*m = SortKeyCountResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Count = d.Varint()
	return d.Finish()
}

// ExistRequest asks whether one record exists (and has not expired).
type ExistRequest struct {
	Header  RequestHeader
	HashKey []byte
	SortKey []byte
}

// DataHeader implements DataRequest.
func (m *ExistRequest) DataHeader() *RequestHeader { return &m.Header }

// EncodedSize returns the length of the AppendBinary output.
func (m *ExistRequest) EncodedSize() int { return keyRequestSize(&m.Header, m.HashKey, m.SortKey) }

// AppendBinary implements Message.
func (m *ExistRequest) AppendBinary(b []byte) ([]byte, error) {
	return appendKeyRequest(b, &m.Header, m.HashKey, m.SortKey), nil
}

// UnmarshalBinary implements Message.
func (m *ExistRequest) UnmarshalBinary(data []byte) error {
	*m = ExistRequest{}
	return decodeKeyRequest(data, &m.Header, &m.HashKey, &m.SortKey)
}

// ExistResponse answers Exist.
type ExistResponse struct {
	Exists bool
}

// EncodedSize returns the length of the AppendBinary output.
func (m *ExistResponse) EncodedSize() int { return 2 }

// AppendBinary implements Message.
func (m *ExistResponse) AppendBinary(b []byte) ([]byte, error) {
	return AppendBool(append(b, formatV1), m.Exists), nil
}

// UnmarshalBinary implements Message.
func (m *ExistResponse) UnmarshalBinary(data []byte) error {
	*m = ExistResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.Exists = d.Bool()
	return d.Finish()
}

// TTL results with a special meaning.
const (
	TTLNone    int32 = -1 // the record exists and never expires
	TTLMissing int32 = -2 // the record does not exist (or has expired)
)

// TTLRequest asks for the remaining time to live of one record.
type TTLRequest struct {
	Header  RequestHeader
	HashKey []byte
	SortKey []byte
}

// DataHeader implements DataRequest.
func (m *TTLRequest) DataHeader() *RequestHeader { return &m.Header }

// EncodedSize returns the length of the AppendBinary output.
func (m *TTLRequest) EncodedSize() int { return keyRequestSize(&m.Header, m.HashKey, m.SortKey) }

// AppendBinary implements Message.
func (m *TTLRequest) AppendBinary(b []byte) ([]byte, error) {
	return appendKeyRequest(b, &m.Header, m.HashKey, m.SortKey), nil
}

// UnmarshalBinary implements Message.
func (m *TTLRequest) UnmarshalBinary(data []byte) error {
	*m = TTLRequest{}
	return decodeKeyRequest(data, &m.Header, &m.HashKey, &m.SortKey)
}

// TTLResponse answers TTL: the seconds left until
// the record expires, or TTLNone / TTLMissing.
type TTLResponse struct {
	TTLSeconds int32
}

// EncodedSize returns the length of the AppendBinary output.
func (m *TTLResponse) EncodedSize() int { return 1 + varintSize(int64(m.TTLSeconds)) }

// AppendBinary implements Message.
func (m *TTLResponse) AppendBinary(b []byte) ([]byte, error) {
	return AppendVarint(append(b, formatV1), int64(m.TTLSeconds)), nil
}

// UnmarshalBinary implements Message.
func (m *TTLResponse) UnmarshalBinary(data []byte) error {
	*m = TTLResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.TTLSeconds = d.Int32()
	return d.Finish()
}

// IncrRequest adds Increment to the record's value, which must be a decimal
// int64 (a missing record counts as 0). ExpireSeconds: 0 keeps the existing
// TTL, > 0 sets a new TTL, < 0 clears it. Overflow fails with
// CodeIncrOverflow; a stored value that is not a decimal int64 fails with
// CodeInvalidArgument. Neither changes the record.
type IncrRequest struct {
	Header        RequestHeader
	HashKey       []byte
	SortKey       []byte
	Increment     int64
	ExpireSeconds int32
}

// DataHeader implements DataRequest.
func (m *IncrRequest) DataHeader() *RequestHeader { return &m.Header }

// EncodedSize returns the length of the AppendBinary output.
func (m *IncrRequest) EncodedSize() int {
	return 1 + headerSize(&m.Header) + bytesSize(m.HashKey) + bytesSize(m.SortKey) +
		varintSize(m.Increment) + varintSize(int64(m.ExpireSeconds))
}

// AppendBinary implements Message.
func (m *IncrRequest) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, formatV1)
	b = appendHeader(b, &m.Header)
	b = AppendBytes(b, m.HashKey)
	b = AppendBytes(b, m.SortKey)
	b = AppendVarint(b, m.Increment)
	return AppendVarint(b, int64(m.ExpireSeconds)), nil
}

// UnmarshalBinary implements Message.
func (m *IncrRequest) UnmarshalBinary(data []byte) error {
	*m = IncrRequest{}
	d := newOwningDecoder(data)
	d.Version(formatV1)
	decodeHeader(d, &m.Header)
	m.HashKey = d.Bytes()
	m.SortKey = d.Bytes()
	m.Increment = d.Varint()
	m.ExpireSeconds = d.Int32()
	return d.Finish()
}

// IncrResponse holds the value after the increment.
type IncrResponse struct {
	NewValue int64
	Decree   Decree
}

// EncodedSize returns the length of the AppendBinary output.
func (m *IncrResponse) EncodedSize() int {
	return 1 + varintSize(m.NewValue) + varintSize(int64(m.Decree))
}

// AppendBinary implements Message.
func (m *IncrResponse) AppendBinary(b []byte) ([]byte, error) {
	b = AppendVarint(append(b, formatV1), m.NewValue)
	return AppendVarint(b, int64(m.Decree)), nil
}

// UnmarshalBinary implements Message.
func (m *IncrResponse) UnmarshalBinary(data []byte) error {
	*m = IncrResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	m.NewValue = d.Varint()
	m.Decree = Decree(d.Varint())
	return d.Finish()
}

// CheckAndSetRequest checks the record (HashKey, CheckSortKey) with
// CheckType and CheckOperand and, if the check passes, sets
// (HashKey, SetSortKey) to SetValue with SetTTLSeconds. SetSortKey is used
// only when SetDiffSortKey is true; otherwise the checked record is set.
// ReturnCheckValue asks for the checked record's value in the response.
type CheckAndSetRequest struct {
	Header           RequestHeader
	HashKey          []byte
	CheckSortKey     []byte
	CheckType        CheckType
	CheckOperand     []byte
	SetDiffSortKey   bool
	SetSortKey       []byte
	SetValue         []byte
	SetTTLSeconds    int32
	ReturnCheckValue bool
}

// DataHeader implements DataRequest.
func (m *CheckAndSetRequest) DataHeader() *RequestHeader { return &m.Header }

// EncodedSize returns the length of the AppendBinary output.
func (m *CheckAndSetRequest) EncodedSize() int {
	return 1 + headerSize(&m.Header) + bytesSize(m.HashKey) + bytesSize(m.CheckSortKey) + 1 +
		bytesSize(m.CheckOperand) + 1 + bytesSize(m.SetSortKey) + bytesSize(m.SetValue) +
		varintSize(int64(m.SetTTLSeconds)) + 1
}

// AppendBinary implements Message.
func (m *CheckAndSetRequest) AppendBinary(b []byte) ([]byte, error) {
	if !m.CheckType.Valid() {
		return b, encodeError("check type %d", m.CheckType)
	}
	b = append(b, formatV1)
	b = appendHeader(b, &m.Header)
	b = AppendBytes(b, m.HashKey)
	b = AppendBytes(b, m.CheckSortKey)
	b = append(b, byte(m.CheckType))
	b = AppendBytes(b, m.CheckOperand)
	b = AppendBool(b, m.SetDiffSortKey)
	b = AppendBytes(b, m.SetSortKey)
	b = AppendBytes(b, m.SetValue)
	b = AppendVarint(b, int64(m.SetTTLSeconds))
	return AppendBool(b, m.ReturnCheckValue), nil
}

// UnmarshalBinary implements Message.
func (m *CheckAndSetRequest) UnmarshalBinary(data []byte) error {
	*m = CheckAndSetRequest{}
	d := newOwningDecoder(data)
	d.Version(formatV1)
	decodeHeader(d, &m.Header)
	m.HashKey = d.Bytes()
	m.CheckSortKey = d.Bytes()
	m.CheckType = decodeCheckType(d)
	m.CheckOperand = d.Bytes()
	m.SetDiffSortKey = d.Bool()
	m.SetSortKey = d.Bytes()
	m.SetValue = d.Bytes()
	m.SetTTLSeconds = d.Int32()
	m.ReturnCheckValue = d.Bool()
	return d.Finish()
}

func decodeCheckType(d *Decoder) CheckType {
	t := CheckType(d.Byte())
	if !t.Valid() {
		d.Fail("unknown check type %d", t)
	}
	return t
}

// CheckAndSetResponse reports the outcome of the check. A check that did
// not pass is not an RPC error: the server answers with CheckPassed false
// (and the check value when asked for), and client libraries turn that into
// CodeCheckFailed for their callers. CheckValueReturned says whether the
// check fields are filled; CheckValueExist whether the checked record
// existed; CheckValue is its value.
type CheckAndSetResponse struct {
	CheckPassed        bool
	CheckValueReturned bool
	CheckValueExist    bool
	CheckValue         []byte
	Decree             Decree // the committing decree; InvalidDecree when nothing was written
}

func appendCheckResult(b []byte, passed, returned, exist bool, value []byte, decree Decree) []byte {
	b = append(b, formatV1)
	b = AppendBool(b, passed)
	b = AppendBool(b, returned)
	b = AppendBool(b, exist)
	b = AppendBytes(b, value)
	return AppendVarint(b, int64(decree))
}

func checkResultSize(value []byte, decree Decree) int {
	return 4 + bytesSize(value) + varintSize(int64(decree))
}

func decodeCheckResult(data []byte, passed, returned, exist *bool, value *[]byte, decree *Decree) error {
	d := NewDecoder(data)
	d.Version(formatV1)
	*passed = d.Bool()
	*returned = d.Bool()
	*exist = d.Bool()
	*value = d.BytesCopy()
	*decree = Decree(d.Varint())
	return d.Finish()
}

// EncodedSize returns the length of the AppendBinary output.
func (m *CheckAndSetResponse) EncodedSize() int { return checkResultSize(m.CheckValue, m.Decree) }

// AppendBinary implements Message.
func (m *CheckAndSetResponse) AppendBinary(b []byte) ([]byte, error) {
	return appendCheckResult(b, m.CheckPassed, m.CheckValueReturned, m.CheckValueExist,
		m.CheckValue, m.Decree), nil
}

// UnmarshalBinary implements Message.
func (m *CheckAndSetResponse) UnmarshalBinary(data []byte) error {
	*m = CheckAndSetResponse{}
	return decodeCheckResult(data, &m.CheckPassed, &m.CheckValueReturned, &m.CheckValueExist,
		&m.CheckValue, &m.Decree)
}

// CheckAndMutateRequest checks (HashKey, CheckSortKey) like CheckAndSet and,
// if the check passes, applies Mutates to HashKey atomically.
type CheckAndMutateRequest struct {
	Header           RequestHeader
	HashKey          []byte
	CheckSortKey     []byte
	CheckType        CheckType
	CheckOperand     []byte
	Mutates          []Mutate
	ReturnCheckValue bool
}

// DataHeader implements DataRequest.
func (m *CheckAndMutateRequest) DataHeader() *RequestHeader { return &m.Header }

// EncodedSize returns the length of the AppendBinary output.
func (m *CheckAndMutateRequest) EncodedSize() int {
	n := 1 + headerSize(&m.Header) + bytesSize(m.HashKey) + bytesSize(m.CheckSortKey) + 1 +
		bytesSize(m.CheckOperand) + uvarintSize(uint64(len(m.Mutates))) + 1
	for i := range m.Mutates {
		mu := &m.Mutates[i]
		n += 1 + bytesSize(mu.SortKey) + bytesSize(mu.Value) + varintSize(int64(mu.TTLSeconds))
	}
	return n
}

// AppendBinary implements Message.
func (m *CheckAndMutateRequest) AppendBinary(b []byte) ([]byte, error) {
	if !m.CheckType.Valid() {
		return b, encodeError("check type %d", m.CheckType)
	}
	for i := range m.Mutates {
		if m.Mutates[i].Operation > MutateDel {
			return b, encodeError("mutate operation %d", m.Mutates[i].Operation)
		}
	}
	b = append(b, formatV1)
	b = appendHeader(b, &m.Header)
	b = AppendBytes(b, m.HashKey)
	b = AppendBytes(b, m.CheckSortKey)
	b = append(b, byte(m.CheckType))
	b = AppendBytes(b, m.CheckOperand)
	b = AppendUvarint(b, uint64(len(m.Mutates)))
	for i := range m.Mutates {
		mu := &m.Mutates[i]
		b = append(b, byte(mu.Operation))
		b = AppendBytes(b, mu.SortKey)
		b = AppendBytes(b, mu.Value)
		b = AppendVarint(b, int64(mu.TTLSeconds))
	}
	return AppendBool(b, m.ReturnCheckValue), nil
}

// UnmarshalBinary implements Message.
func (m *CheckAndMutateRequest) UnmarshalBinary(data []byte) error {
	*m = CheckAndMutateRequest{}
	d := newOwningDecoder(data)
	d.Version(formatV1)
	decodeHeader(d, &m.Header)
	m.HashKey = d.Bytes()
	m.CheckSortKey = d.Bytes()
	m.CheckType = decodeCheckType(d)
	m.CheckOperand = d.Bytes()
	if n := d.Len(4); n > 0 {
		m.Mutates = make([]Mutate, n)
		for i := range m.Mutates {
			mu := &m.Mutates[i]
			mu.Operation = MutateOperation(d.Byte())
			if mu.Operation > MutateDel {
				d.Fail("unknown mutate operation %d", mu.Operation)
			}
			mu.SortKey = d.Bytes()
			mu.Value = d.Bytes()
			mu.TTLSeconds = d.Int32()
		}
	}
	m.ReturnCheckValue = d.Bool()
	return d.Finish()
}

// CheckAndMutateResponse reports the outcome of the check, with the same
// meaning as CheckAndSetResponse.
type CheckAndMutateResponse struct {
	CheckPassed        bool
	CheckValueReturned bool
	CheckValueExist    bool
	CheckValue         []byte
	Decree             Decree
}

// EncodedSize returns the length of the AppendBinary output.
func (m *CheckAndMutateResponse) EncodedSize() int {
	return checkResultSize(m.CheckValue, m.Decree)
}

// AppendBinary implements Message.
func (m *CheckAndMutateResponse) AppendBinary(b []byte) ([]byte, error) {
	return appendCheckResult(b, m.CheckPassed, m.CheckValueReturned, m.CheckValueExist,
		m.CheckValue, m.Decree), nil
}

// UnmarshalBinary implements Message.
func (m *CheckAndMutateResponse) UnmarshalBinary(data []byte) error {
	*m = CheckAndMutateResponse{}
	return decodeCheckResult(data, &m.CheckPassed, &m.CheckValueReturned, &m.CheckValueExist,
		&m.CheckValue, &m.Decree)
}

// FullKey is a complete record key.
type FullKey struct {
	HashKey []byte
	SortKey []byte
}

// BatchGetRequest reads many records of one partition (the keys may have
// different hashkeys). The response holds one result per key, in order.
type BatchGetRequest struct {
	Header RequestHeader
	Keys   []FullKey
}

// DataHeader implements DataRequest.
func (m *BatchGetRequest) DataHeader() *RequestHeader { return &m.Header }

// EncodedSize returns the length of the AppendBinary output.
func (m *BatchGetRequest) EncodedSize() int {
	n := 1 + headerSize(&m.Header) + uvarintSize(uint64(len(m.Keys)))
	for i := range m.Keys {
		n += bytesSize(m.Keys[i].HashKey) + bytesSize(m.Keys[i].SortKey)
	}
	return n
}

// AppendBinary implements Message.
func (m *BatchGetRequest) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, formatV1)
	b = appendHeader(b, &m.Header)
	b = AppendUvarint(b, uint64(len(m.Keys)))
	for i := range m.Keys {
		b = AppendBytes(b, m.Keys[i].HashKey)
		b = AppendBytes(b, m.Keys[i].SortKey)
	}
	return b, nil
}

// UnmarshalBinary implements Message.
func (m *BatchGetRequest) UnmarshalBinary(data []byte) error {
	*m = BatchGetRequest{}
	d := newOwningDecoder(data)
	d.Version(formatV1)
	decodeHeader(d, &m.Header)
	if n := d.Len(2); n > 0 {
		m.Keys = make([]FullKey, n)
		for i := range m.Keys {
			m.Keys[i].HashKey = d.Bytes()
			m.Keys[i].SortKey = d.Bytes()
		}
	}
	return d.Finish()
}

// BatchGetResult is the outcome for one key of a BatchGet: CodeOK with the
// value, CodeNotFound, or another code for a key that failed on its own
// (e.g. CodeWrongPartition).
type BatchGetResult struct {
	Code  ErrorCode
	Value []byte
}

// BatchGetResponse holds one result per requested key, in request order.
type BatchGetResponse struct {
	Results []BatchGetResult
}

// EncodedSize returns the length of the AppendBinary output.
func (m *BatchGetResponse) EncodedSize() int {
	n := 1 + uvarintSize(uint64(len(m.Results)))
	for i := range m.Results {
		n += varintSize(int64(m.Results[i].Code)) + bytesSize(m.Results[i].Value)
	}
	return n
}

// AppendBinary implements Message.
func (m *BatchGetResponse) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, formatV1)
	b = AppendUvarint(b, uint64(len(m.Results)))
	for i := range m.Results {
		b = AppendVarint(b, int64(m.Results[i].Code))
		b = AppendBytes(b, m.Results[i].Value)
	}
	return b, nil
}

// UnmarshalBinary implements Message.
func (m *BatchGetResponse) UnmarshalBinary(data []byte) error {
	*m = BatchGetResponse{}
	d := newOwningDecoder(data)
	d.Version(formatV1)
	if n := d.Len(2); n > 0 {
		m.Results = make([]BatchGetResult, n)
		for i := range m.Results {
			m.Results[i].Code = ErrorCode(d.Int32())
			m.Results[i].Value = d.Bytes()
		}
	}
	return d.Finish()
}

// BatchSetItem is one record of a BatchSet.
type BatchSetItem struct {
	HashKey    []byte
	SortKey    []byte
	Value      []byte
	TTLSeconds int32
}

// BatchSetRequest writes many records of one partition in one mutation.
// The write is atomic for the keys that pass validation; the response has a
// code per item, in order.
type BatchSetRequest struct {
	Header RequestHeader
	Items  []BatchSetItem
}

// DataHeader implements DataRequest.
func (m *BatchSetRequest) DataHeader() *RequestHeader { return &m.Header }

// EncodedSize returns the length of the AppendBinary output.
func (m *BatchSetRequest) EncodedSize() int {
	n := 1 + headerSize(&m.Header) + uvarintSize(uint64(len(m.Items)))
	for i := range m.Items {
		it := &m.Items[i]
		n += bytesSize(it.HashKey) + bytesSize(it.SortKey) + bytesSize(it.Value) +
			varintSize(int64(it.TTLSeconds))
	}
	return n
}

// AppendBinary implements Message.
func (m *BatchSetRequest) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, formatV1)
	b = appendHeader(b, &m.Header)
	b = AppendUvarint(b, uint64(len(m.Items)))
	for i := range m.Items {
		it := &m.Items[i]
		b = AppendBytes(b, it.HashKey)
		b = AppendBytes(b, it.SortKey)
		b = AppendBytes(b, it.Value)
		b = AppendVarint(b, int64(it.TTLSeconds))
	}
	return b, nil
}

// UnmarshalBinary implements Message.
func (m *BatchSetRequest) UnmarshalBinary(data []byte) error {
	*m = BatchSetRequest{}
	d := newOwningDecoder(data)
	d.Version(formatV1)
	decodeHeader(d, &m.Header)
	if n := d.Len(4); n > 0 {
		m.Items = make([]BatchSetItem, n)
		for i := range m.Items {
			it := &m.Items[i]
			it.HashKey = d.Bytes()
			it.SortKey = d.Bytes()
			it.Value = d.Bytes()
			it.TTLSeconds = d.Int32()
		}
	}
	return d.Finish()
}

// BatchSetResponse holds one code per item, in request order, and the
// decree of the mutation that wrote the items that succeeded.
type BatchSetResponse struct {
	Codes  []ErrorCode
	Decree Decree
}

// EncodedSize returns the length of the AppendBinary output.
func (m *BatchSetResponse) EncodedSize() int {
	n := 1 + uvarintSize(uint64(len(m.Codes)))
	for _, c := range m.Codes {
		n += varintSize(int64(c))
	}
	return n + varintSize(int64(m.Decree))
}

// AppendBinary implements Message.
func (m *BatchSetResponse) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, formatV1)
	b = AppendUvarint(b, uint64(len(m.Codes)))
	for _, c := range m.Codes {
		b = AppendVarint(b, int64(c))
	}
	return AppendVarint(b, int64(m.Decree)), nil
}

// UnmarshalBinary implements Message.
func (m *BatchSetResponse) UnmarshalBinary(data []byte) error {
	*m = BatchSetResponse{}
	d := NewDecoder(data)
	d.Version(formatV1)
	if n := d.Len(1); n > 0 {
		m.Codes = make([]ErrorCode, n)
		for i := range m.Codes {
			m.Codes[i] = ErrorCode(d.Int32())
		}
	}
	m.Decree = Decree(d.Varint())
	return d.Finish()
}
