package protocol

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// wireTypes returns a constructor for every wire type: the request and the
// response of every method in Methods order, then Mutation. The fuzz target
// selects the type by index into this table, so it only grows at the end.
func wireTypes() []func() Message {
	var out []func() Message
	for _, m := range Methods() {
		out = append(out, m.NewRequest, m.NewResponse)
	}
	return append(out, func() Message { return new(Mutation) })
}

func typeName(m Message) string { return reflect.TypeOf(m).Elem().Name() }

// enumMax bounds the random values of enum types to the valid ones.
var enumMax = map[reflect.Type]uint64{
	reflect.TypeFor[FilterType]():      uint64(FilterPostfix),
	reflect.TypeFor[CheckType]():       uint64(CheckIntGreater),
	reflect.TypeFor[MutateOperation](): uint64(MutateDel),
	reflect.TypeFor[OpCode]():          uint64(OpDuplicate),
	reflect.TypeFor[AppStatus]():       uint64(AppRecalling),
	reflect.TypeFor[PartitionStatus](): uint64(PartitionLearner),
	reflect.TypeFor[NodeStatus]():      uint64(NodeDead),
	reflect.TypeFor[ConfigType]():      uint64(ConfigDropPartition),
	reflect.TypeFor[LearnType]():       uint64(LearnCheckpointAndLog),
	reflect.TypeFor[DupStatus]():       uint64(DupStatusRemoved),
	reflect.TypeFor[DupFailMode]():     uint64(DupFailSkip),
	reflect.TypeFor[MutationFlags]():   uint64(knownMutationFlags),
}

// filler sets every field of a value to random data, including nil and
// empty slices and maps and the extremes of every integer type.
type filler struct{ r *rand.Rand }

func (f filler) int(bits int) int64 {
	lo, hi := int64(math.MinInt64)>>(64-bits), int64(math.MaxInt64)>>(64-bits)
	switch f.r.IntN(6) {
	case 0:
		return 0
	case 1:
		return lo
	case 2:
		return hi
	case 3:
		return f.r.Int64N(200) - 100
	default:
		return lo + int64(f.r.Uint64()>>(64-bits))
	}
}

func (f filler) uint(bits int) uint64 {
	max := uint64(math.MaxUint64) >> (64 - bits)
	switch f.r.IntN(5) {
	case 0:
		return 0
	case 1:
		return max
	case 2:
		return f.r.Uint64N(200)
	default:
		return f.r.Uint64() & max
	}
}

func (f filler) bytes() []byte {
	switch f.r.IntN(5) {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	b := make([]byte, f.r.IntN(24)+1)
	for i := range b {
		b[i] = byte(f.r.Uint32())
	}
	return b
}

func (f filler) fill(v reflect.Value) {
	if max, ok := enumMax[v.Type()]; ok {
		v.SetUint(f.r.Uint64N(max + 1))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f.fill(v.Field(i))
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes(f.bytes())
			return
		}
		switch n := f.r.IntN(5); n {
		case 0: // leave nil
		default:
			s := reflect.MakeSlice(v.Type(), n-1, n-1) // n-1 == 0: empty, not nil
			for i := 0; i < s.Len(); i++ {
				f.fill(s.Index(i))
			}
			v.Set(s)
		}
	case reflect.Map:
		switch n := f.r.IntN(5); n {
		case 0: // leave nil
		default:
			m := reflect.MakeMap(v.Type())
			for i := 0; i < n-1; i++ {
				k := reflect.New(v.Type().Key()).Elem()
				e := reflect.New(v.Type().Elem()).Elem()
				f.fill(k)
				f.fill(e)
				m.SetMapIndex(k, e)
			}
			v.Set(m)
		}
	case reflect.String:
		v.SetString(string(f.bytes()))
	case reflect.Bool:
		v.SetBool(f.r.IntN(2) == 1)
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(f.int(v.Type().Bits()))
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(f.uint(v.Type().Bits()))
	default:
		panic(fmt.Sprintf("filler: unhandled kind %s", v.Kind()))
	}
}

// normalize turns empty slices and maps into nil, as decoders produce them.
func normalize(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			normalize(v.Elem())
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			normalize(v.Field(i))
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		for i := 0; i < v.Len(); i++ {
			normalize(v.Index(i))
		}
	case reflect.Map:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
		}
	}
}

func randomMessage(r *rand.Rand, ctor func() Message) Message {
	m := ctor()
	filler{r}.fill(reflect.ValueOf(m).Elem())
	return m
}

func TestRoundTripAllTypes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, ctor := range wireTypes() {
		t.Run(typeName(ctor()), func(t *testing.T) {
			for i := 0; i < 300; i++ {
				m := ctor()
				if i > 0 { // the zero value first
					m = randomMessage(r, ctor)
				}
				prefix := []byte("prefix")
				out, err := m.AppendBinary(prefix)
				if err != nil {
					t.Fatalf("encode %+v: %v", m, err)
				}
				if !bytes.Equal(out[:len(prefix)], []byte("prefix")) {
					t.Fatal("AppendBinary overwrote the caller's bytes")
				}
				enc := bytes.Clone(out[len(prefix):])
				if s, ok := m.(Sizer); ok && s.EncodedSize() != len(enc) {
					t.Fatalf("EncodedSize %d, encoded %d bytes: %+v", s.EncodedSize(), len(enc), m)
				}
				if _, isMutation := m.(*Mutation); enc[0] != formatV1 && !(isMutation && enc[0] == mutationVersionFlags) {
					t.Fatalf("encoding starts with %d, not the version", enc[0])
				}
				normalize(reflect.ValueOf(m))

				got := ctor()
				in := bytes.Clone(enc)
				if err := got.UnmarshalBinary(in); err != nil {
					t.Fatalf("decode: %v\nvalue %+v", err, m)
				}
				clear(in) // decoded values must not alias the input
				if !reflect.DeepEqual(m, got) {
					t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
				}

				// Decoding into a used value replaces every field.
				reused := randomMessage(r, ctor)
				if err := reused.UnmarshalBinary(enc); err != nil || !reflect.DeepEqual(m, reused) {
					t.Fatalf("decode into used value: %v\n got %+v\nwant %+v", err, reused, m)
				}

				if err := ctor().UnmarshalBinary(append(bytes.Clone(enc), 0)); !errors.Is(err, ErrMalformed) {
					t.Fatalf("trailing byte: got %v, want ErrMalformed", err)
				}
				if i < 30 {
					for n := range enc {
						if err := ctor().UnmarshalBinary(enc[:n]); err == nil {
							t.Fatalf("prefix of %d/%d bytes decoded without error", n, len(enc))
						}
					}
				}
			}
		})
	}
}

func TestVersionByte(t *testing.T) {
	for _, ctor := range wireTypes() {
		enc, err := ctor().AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []byte{0, formatV1 + 1, 0xff} {
			enc[0] = v
			if err := ctor().UnmarshalBinary(enc); !errors.Is(err, ErrMalformed) {
				t.Errorf("%s with version %d: got %v, want ErrMalformed", typeName(ctor()), v, err)
			}
		}
	}
}

func TestEncodeRejectsUnknownEnums(t *testing.T) {
	for _, m := range []Message{
		&MultiGetRequest{SortKeyFilter: Filter{Type: 9}},
		&DelRangeRequest{SortKeyFilter: Filter{Type: 9}},
		&ScanOpenRequest{HashKeyFilter: Filter{Type: 9}},
		&ScanOpenRequest{SortKeyFilter: Filter{Type: 9}},
		&CheckAndSetRequest{CheckType: 99},
		&CheckAndMutateRequest{CheckType: 99},
		&CheckAndMutateRequest{Mutates: []Mutate{{Operation: 7}}},
		&ListAppsRequest{Status: 99},
		&ListAppsResponse{Apps: []AppInfo{{Status: 99}}},
		&RecallAppResponse{App: AppInfo{Status: 99}},
		&QueryConfigResponse{App: AppInfo{Status: 99}},
		&ListNodesRequest{Status: 9},
		&ListNodesResponse{Nodes: []NodeInfo{{Status: 9}}},
		&ConfigSyncRequest{Replicas: []ReplicaInfo{{Status: 9}}},
		&ConfigSyncResponse{Apps: []AppInfo{{Status: 99}}},
		&UpdateConfigurationRequest{Type: 99},
		&ConfigProposalRequest{Type: 99},
		&ConfigProposalRequest{App: AppInfo{Status: 99}},
		&PrepareRequest{Status: 9},
		&GroupCheckRequest{Status: 9},
		&GroupCheckResponse{Status: 9},
		&LearnResponse{Type: 9},
	} {
		out, err := m.AppendBinary([]byte("x"))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%T %+v: got %v, want ErrMalformed", m, m, err)
		}
		if string(out) != "x" {
			t.Errorf("%T: failed encode appended %q", m, out)
		}
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	hdr := appendHeader(nil, &RequestHeader{Gpid: Gpid{AppID: 1}})
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	huge := AppendUvarint(nil, 1<<62)
	cases := []struct {
		name string
		m    Message
		data []byte
		want error
	}{
		{"empty input", new(GetRequest), nil, ErrTruncated},
		{"huge key count", new(BatchGetRequest), cat([]byte{1}, hdr, huge), ErrTruncated},
		{"huge kv count", new(MultiSetRequest), cat([]byte{1}, hdr, []byte{0}, huge), ErrTruncated},
		// 100 claimed key/value pairs in 100 bytes: each needs at least 2.
		{"count past min size", new(MultiGetResponse), cat([]byte{1, 100}, make([]byte, 100)), ErrMalformed},
		{"huge byte length", new(SetRequest), cat([]byte{1}, hdr, huge), ErrTruncated},
		{"unknown filter", new(DelRangeRequest), cat([]byte{1}, hdr, []byte{0, 0, 0, 0, 0, 9, 0}), ErrMalformed},
		{"bad bool", new(ExistResponse), []byte{1, 2}, ErrMalformed},
		{"unknown app status", new(ListAppsRequest), []byte{1, 8}, ErrMalformed},
		{"unknown node status", new(ListNodesRequest), []byte{1, 3}, ErrMalformed},
		{"int32 overflow", new(CreateAppResponse), AppendVarint([]byte{1}, math.MaxInt32+1), ErrMalformed},
		{"uint32 overflow", new(ScanNextResponse),
			cat([]byte{1, 1, 0, 0, 0}, AppendUvarint(nil, math.MaxUint32+1), []byte{1}), ErrMalformed},
		{"env keys out of order", new(GetAppEnvsResponse),
			cat([]byte{1, 2}, AppendString(nil, "b"), AppendString(nil, ""), AppendString(nil, "a"), AppendString(nil, "")), ErrMalformed},
		{"duplicate env key", new(GetAppEnvsResponse),
			cat([]byte{1, 2}, AppendString(nil, "a"), AppendString(nil, "1"), AppendString(nil, "a"), AppendString(nil, "2")), ErrMalformed},
		{"empty nested mutation", new(PrepareRequest),
			cat([]byte{1, 0, 0}, appendPartitionConfig(nil, &PartitionConfiguration{}), []byte{0, 0}), ErrMalformed},
		{"overlong uvarint", new(SortKeyCountResponse), cat([]byte{1}, bytes.Repeat([]byte{0xff}, 10), []byte{1}), ErrMalformed},
	}
	for _, c := range cases {
		err := c.m.UnmarshalBinary(c.data)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

func TestEnvMapEncodingIsCanonical(t *testing.T) {
	m := &SetAppEnvsRequest{AppName: "t", Envs: map[string]string{}}
	for i := range 50 {
		m.Envs[fmt.Sprintf("key.%02d", 49-i)] = strings.Repeat("v", i)
	}
	first, err := m.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		again, _ := m.AppendBinary(nil)
		if !bytes.Equal(first, again) {
			t.Fatal("map encoding depends on iteration order")
		}
	}
}

func TestMarshalAllocatesOnce(t *testing.T) {
	set := &SetRequest{HashKey: []byte("hk"), SortKey: []byte("sk"), Value: bytes.Repeat([]byte("v"), 100)}
	ms := benchMultiSet()
	for _, m := range []Message{set, ms, &PrepareRequest{Mutation: Mutation{Updates: []Update{{Op: OpPut, Body: make([]byte, 300)}}}}} {
		want, _ := m.AppendBinary(nil)
		got, err := Marshal(m)
		if err != nil || !bytes.Equal(got, want) || cap(got) != len(got) {
			t.Fatalf("%T: Marshal = %d bytes (cap %d), %v; want %d bytes", m, len(got), cap(got), err, len(want))
		}
		if n := testing.AllocsPerRun(50, func() { _, _ = Marshal(m) }); n != 1 {
			t.Errorf("%T: Marshal made %v allocations, want 1", m, n)
		}
		buf := make([]byte, 0, len(want))
		if n := testing.AllocsPerRun(50, func() { _, _ = m.AppendBinary(buf[:0]) }); n != 0 {
			t.Errorf("%T: AppendBinary into a big enough buffer made %v allocations", m, n)
		}
	}
}

func TestDecodeAllocations(t *testing.T) {
	set, _ := Marshal(&SetRequest{HashKey: []byte("hk"), SortKey: []byte("sk"), Value: make([]byte, 100)})
	ms, _ := Marshal(benchMultiSet())
	for _, c := range []struct {
		name string
		m    Message
		data []byte
		max  float64
	}{
		{"SetRequest", new(SetRequest), set, 1},          // one private copy of the input
		{"MultiSetRequest", new(MultiSetRequest), ms, 2}, // the copy and the KeyValue slice
	} {
		n := testing.AllocsPerRun(50, func() {
			if err := c.m.UnmarshalBinary(c.data); err != nil {
				t.Fatal(err)
			}
		})
		if n > c.max {
			t.Errorf("%s: %v allocations per decode, want <= %v", c.name, n, c.max)
		}
	}
}

func TestMethodsTable(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range Methods() {
		key := m.Service + "." + m.Method
		if seen[key] {
			t.Errorf("duplicate method %s", key)
		}
		seen[key] = true
		got, ok := LookupMethod(m.Service, m.Method)
		if !ok || got.Method != m.Method {
			t.Errorf("LookupMethod(%s) failed", key)
		}
		req, resp := m.NewRequest(), m.NewResponse()
		if want := m.Method + "Request"; typeName(req) != want {
			t.Errorf("%s: request type %s, want %s", key, typeName(req), want)
		}
		if want := m.Method + "Response"; typeName(resp) != want {
			t.Errorf("%s: response type %s, want %s", key, typeName(resp), want)
		}
		_, isData := req.(DataRequest)
		if isData != (m.Service == ServiceReplica) {
			t.Errorf("%s: DataRequest = %v", key, isData)
		}
		if m.Service == ServiceReplica {
			if _, ok := req.(Sizer); !ok {
				t.Errorf("%s: data request without EncodedSize", key)
			}
			if _, ok := resp.(Sizer); !ok {
				t.Errorf("%s: data response without EncodedSize", key)
			}
		}
	}
	if _, ok := LookupMethod(ServiceReplica, "NoSuch"); ok {
		t.Error("LookupMethod found a missing method")
	}
	if len(seen) != 43 {
		t.Errorf("%d methods, want 43", len(seen))
	}
}

func TestCheckPartition(t *testing.T) {
	h := RequestHeader{Gpid: Gpid{AppID: 1, PartitionIndex: 3}, PartitionHash: 8*101 + 3}
	if err := h.CheckPartition(8); err != nil {
		t.Fatal(err)
	}
	for _, count := range []int32{16, 2, 0, -8} {
		if err := h.CheckPartition(count); !errors.Is(err, CodeWrongPartition) {
			t.Errorf("count %d: got %v", count, err)
		}
	}
	h.Gpid.PartitionIndex = -1
	if err := h.CheckPartition(8); !errors.Is(err, CodeWrongPartition) {
		t.Errorf("negative index: got %v", err)
	}
}

func TestEnumNames(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{AppAvailable.String(), "AS_AVAILABLE"},
		{AppStatus(42).String(), "AS_42"},
		{PartitionLearner.String(), "PS_POTENTIAL_SECONDARY"},
		{NodeDead.String(), "NS_UNALIVE"},
		{ConfigAddSecondary.String(), "CT_ADD_SECONDARY"},
		{ConfigDropPartition.String(), "CT_DROP_PARTITION"},
		{LearnCheckpoint.String(), "LT_APP"},
		{LearnType(7).String(), "LT_7"},
		{DupStatusLog.String(), "DS_LOG"},
		{DupFailSkip.String(), "FAIL_SKIP"},
	} {
		if c.got != c.want {
			t.Errorf("got %s want %s", c.got, c.want)
		}
	}
}
