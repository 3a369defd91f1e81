package protocol

// Scans (service Replica): ScanOpen creates a server-side scan context and
// returns the first batch; ScanNext continues it; ScanClose releases it
// early (a context that returned Done is released by the server). A context
// that sat idle too long is dropped by the server, and ScanNext then fails
// with CodeObjectNotFound.

// ScanItem is one record returned by a scan. ExpireTs is the stored expiry
// in seconds since the Pegasus epoch (2016-01-01 UTC), 0 for no TTL, so a
// copier can carry the remaining TTL over.
type ScanItem struct {
	HashKey  []byte
	SortKey  []byte
	Value    []byte
	ExpireTs uint32
}

const scanItemMinSize = 4

func appendScanItems(b []byte, l []ScanItem) []byte {
	b = AppendUvarint(b, uint64(len(l)))
	for i := range l {
		it := &l[i]
		b = AppendBytes(b, it.HashKey)
		b = AppendBytes(b, it.SortKey)
		b = AppendBytes(b, it.Value)
		b = AppendUvarint(b, uint64(it.ExpireTs))
	}
	return b
}

func scanItemsSize(l []ScanItem) int {
	n := uvarintSize(uint64(len(l)))
	for i := range l {
		it := &l[i]
		n += bytesSize(it.HashKey) + bytesSize(it.SortKey) + bytesSize(it.Value) +
			uvarintSize(uint64(it.ExpireTs))
	}
	return n
}

func decodeScanItems(d *Decoder) []ScanItem {
	n := d.Len(scanItemMinSize)
	if n == 0 {
		return nil
	}
	out := make([]ScanItem, n)
	for i := range out {
		it := &out[i]
		it.HashKey = d.Bytes()
		it.SortKey = d.Bytes()
		it.Value = d.Bytes()
		it.ExpireTs = d.Uint32()
	}
	return out
}

// ScanOpenRequest starts a scan over the keys from (StartHashKey,
// StartSortKey) to (StopHashKey, StopSortKey) in storage order, with the
// inclusive flags applying to the bounds; an empty stop key means "to the
// end of the partition". With FullPartition the bounds are ignored and the
// whole partition is scanned in storage order (an unordered scan from the
// client's point of view, used by GetUnorderedScanners and copy_data).
// HashKeyFilter and SortKeyFilter drop records that do not match; BatchSize
// bounds the records per batch (<= 0: the server's default); NoValue returns
// nil values.
type ScanOpenRequest struct {
	Header         RequestHeader
	StartHashKey   []byte
	StartSortKey   []byte
	StopHashKey    []byte
	StopSortKey    []byte
	StartInclusive bool
	StopInclusive  bool
	HashKeyFilter  Filter
	SortKeyFilter  Filter
	BatchSize      int32
	NoValue        bool
	FullPartition  bool
}

// DataHeader implements DataRequest.
func (m *ScanOpenRequest) DataHeader() *RequestHeader { return &m.Header }

// EncodedSize returns the length of the AppendBinary output.
func (m *ScanOpenRequest) EncodedSize() int {
	return 1 + headerSize(&m.Header) + bytesSize(m.StartHashKey) + bytesSize(m.StartSortKey) +
		bytesSize(m.StopHashKey) + bytesSize(m.StopSortKey) + 2 + filterSize(m.HashKeyFilter) +
		filterSize(m.SortKeyFilter) + varintSize(int64(m.BatchSize)) + 2
}

// AppendBinary implements Message.
func (m *ScanOpenRequest) AppendBinary(b []byte) ([]byte, error) {
	if err := checkFilter(m.HashKeyFilter); err != nil {
		return b, err
	}
	if err := checkFilter(m.SortKeyFilter); err != nil {
		return b, err
	}
	b = append(b, formatV1)
	b = appendHeader(b, &m.Header)
	b = AppendBytes(b, m.StartHashKey)
	b = AppendBytes(b, m.StartSortKey)
	b = AppendBytes(b, m.StopHashKey)
	b = AppendBytes(b, m.StopSortKey)
	b = AppendBool(b, m.StartInclusive)
	b = AppendBool(b, m.StopInclusive)
	b = appendFilter(b, m.HashKeyFilter)
	b = appendFilter(b, m.SortKeyFilter)
	b = AppendVarint(b, int64(m.BatchSize))
	b = AppendBool(b, m.NoValue)
	return AppendBool(b, m.FullPartition), nil
}

// UnmarshalBinary implements Message.
func (m *ScanOpenRequest) UnmarshalBinary(data []byte) error {
	*m = ScanOpenRequest{}
	d := newOwningDecoder(data)
	d.Version(formatV1)
	decodeHeader(d, &m.Header)
	m.StartHashKey = d.Bytes()
	m.StartSortKey = d.Bytes()
	m.StopHashKey = d.Bytes()
	m.StopSortKey = d.Bytes()
	m.StartInclusive = d.Bool()
	m.StopInclusive = d.Bool()
	m.HashKeyFilter = decodeFilter(d)
	m.SortKeyFilter = decodeFilter(d)
	m.BatchSize = d.Int32()
	m.NoValue = d.Bool()
	m.FullPartition = d.Bool()
	return d.Finish()
}

// ScanOpenResponse carries the context id for ScanNext and the first batch.
// When Done is true the scan is finished, the server holds no context, and
// ContextID must not be used.
type ScanOpenResponse struct {
	ContextID int64
	Items     []ScanItem
	Done      bool
}

// EncodedSize returns the length of the AppendBinary output.
func (m *ScanOpenResponse) EncodedSize() int {
	return 1 + varintSize(m.ContextID) + scanItemsSize(m.Items) + 1
}

// AppendBinary implements Message.
func (m *ScanOpenResponse) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, formatV1)
	b = AppendVarint(b, m.ContextID)
	b = appendScanItems(b, m.Items)
	return AppendBool(b, m.Done), nil
}

// UnmarshalBinary implements Message.
func (m *ScanOpenResponse) UnmarshalBinary(data []byte) error {
	*m = ScanOpenResponse{}
	d := newOwningDecoder(data)
	d.Version(formatV1)
	m.ContextID = d.Varint()
	m.Items = decodeScanItems(d)
	m.Done = d.Bool()
	return d.Finish()
}

// ScanNextRequest asks for the next batch of a scan context.
type ScanNextRequest struct {
	Header    RequestHeader
	ContextID int64
}

// DataHeader implements DataRequest.
func (m *ScanNextRequest) DataHeader() *RequestHeader { return &m.Header }

// EncodedSize returns the length of the AppendBinary output.
func (m *ScanNextRequest) EncodedSize() int {
	return 1 + headerSize(&m.Header) + varintSize(m.ContextID)
}

// AppendBinary implements Message.
func (m *ScanNextRequest) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, formatV1)
	b = appendHeader(b, &m.Header)
	return AppendVarint(b, m.ContextID), nil
}

// UnmarshalBinary implements Message.
func (m *ScanNextRequest) UnmarshalBinary(data []byte) error {
	*m = ScanNextRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	decodeHeader(d, &m.Header)
	m.ContextID = d.Varint()
	return d.Finish()
}

// ScanNextResponse is the next batch; Done marks the last one (the server
// has released the context).
type ScanNextResponse struct {
	Items []ScanItem
	Done  bool
}

// EncodedSize returns the length of the AppendBinary output.
func (m *ScanNextResponse) EncodedSize() int { return 1 + scanItemsSize(m.Items) + 1 }

// AppendBinary implements Message.
func (m *ScanNextResponse) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, formatV1)
	b = appendScanItems(b, m.Items)
	return AppendBool(b, m.Done), nil
}

// UnmarshalBinary implements Message.
func (m *ScanNextResponse) UnmarshalBinary(data []byte) error {
	*m = ScanNextResponse{}
	d := newOwningDecoder(data)
	d.Version(formatV1)
	m.Items = decodeScanItems(d)
	m.Done = d.Bool()
	return d.Finish()
}

// ScanCloseRequest releases a scan context before it is done. Closing an
// unknown context succeeds.
type ScanCloseRequest struct {
	Header    RequestHeader
	ContextID int64
}

// DataHeader implements DataRequest.
func (m *ScanCloseRequest) DataHeader() *RequestHeader { return &m.Header }

// EncodedSize returns the length of the AppendBinary output.
func (m *ScanCloseRequest) EncodedSize() int {
	return 1 + headerSize(&m.Header) + varintSize(m.ContextID)
}

// AppendBinary implements Message.
func (m *ScanCloseRequest) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, formatV1)
	b = appendHeader(b, &m.Header)
	return AppendVarint(b, m.ContextID), nil
}

// UnmarshalBinary implements Message.
func (m *ScanCloseRequest) UnmarshalBinary(data []byte) error {
	*m = ScanCloseRequest{}
	d := NewDecoder(data)
	d.Version(formatV1)
	decodeHeader(d, &m.Header)
	m.ContextID = d.Varint()
	return d.Finish()
}

// ScanCloseResponse acknowledges ScanClose.
type ScanCloseResponse struct{}

// EncodedSize returns the length of the AppendBinary output.
func (m *ScanCloseResponse) EncodedSize() int { return 1 }

// AppendBinary implements Message.
func (m *ScanCloseResponse) AppendBinary(b []byte) ([]byte, error) {
	return append(b, formatV1), nil
}

// UnmarshalBinary implements Message.
func (m *ScanCloseResponse) UnmarshalBinary(data []byte) error {
	return decodeEmpty(data)
}

// decodeEmpty decodes a message that has no fields.
func decodeEmpty(data []byte) error {
	d := NewDecoder(data)
	d.Version(formatV1)
	return d.Finish()
}
