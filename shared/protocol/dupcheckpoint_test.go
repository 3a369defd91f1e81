package protocol

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// TestLearnResponseEncodingUnchanged pins the LearnResponse layout that
// the learn file list helpers (shared with DupCheckpointResponse) write:
// byte for byte the layout of format version 1.
func TestLearnResponseEncodingUnchanged(t *testing.T) {
	m := &LearnResponse{
		Gpid: Gpid{AppID: 3, PartitionIndex: 1}, Config: PartitionConfiguration{Gpid: Gpid{AppID: 3, PartitionIndex: 1}, Ballot: 4, Primary: "a:1"},
		Type: LearnCheckpointAndLog, BaseDecree: 10, LastCommitted: 12, PrepareStartDecree: 13, LearnDir: "7f",
		Files:     []LearnFile{{Name: "data/000001.sst", Size: 1234, CRC32C: 0xdeadbeef}, {Name: "app_info.json", Size: 0, CRC32C: 0}},
		Mutations: []Mutation{{Ballot: 4, Decree: 11, LastCommitted: 10, TimestampUs: 99, Updates: []Update{{Op: OpPut, Body: []byte("x")}}}},
	}
	want := appendGpid([]byte{formatV1}, m.Gpid)
	want = appendPartitionConfig(want, &m.Config)
	want = append(want, byte(m.Type))
	want = AppendVarint(want, 10)
	want = AppendVarint(want, 12)
	want = AppendVarint(want, 13)
	want = AppendString(want, "7f")
	want = AppendUvarint(want, 2)
	want = AppendString(want, "data/000001.sst")
	want = AppendVarint(want, 1234)
	want = AppendFixed32(want, 0xdeadbeef)
	want = AppendString(want, "app_info.json")
	want = AppendVarint(want, 0)
	want = AppendFixed32(want, 0)
	want = AppendUvarint(want, 1)
	want, err := appendMutation(want, &m.Mutations[0])
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("LearnResponse encoding changed:\n got %x\nwant %x", got, want)
	}
	var back LearnResponse
	if err := back.UnmarshalBinary(got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, m) {
		t.Fatalf("round trip: %+v", back)
	}
}

func TestDupCheckpointMessages(t *testing.T) {
	req := &DupCheckpointRequest{Gpid: Gpid{AppID: 2, PartitionIndex: 5}, MinDecree: 77, Follower: "f:1"}
	resp := &DupCheckpointResponse{Gpid: req.Gpid, PartitionCount: 8, BaseDecree: 80, Dir: "dupcp-1",
		Files: []LearnFile{{Name: "data/CURRENT", Size: 16, CRC32C: 1}, {Name: "data/000002.sst", Size: 1 << 40, CRC32C: 2}}}
	for _, m := range []Message{req, resp} {
		enc, err := m.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		back := reflect.New(reflect.TypeOf(m).Elem()).Interface().(Message)
		if err := back.UnmarshalBinary(enc); err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		if !reflect.DeepEqual(back, m) {
			t.Fatalf("%T: round trip %+v, want %+v", m, back, m)
		}
		// Every truncation fails cleanly.
		for n := range len(enc) {
			if err := back.UnmarshalBinary(enc[:n]); err == nil {
				t.Fatalf("%T: %d of %d bytes decoded", m, n, len(enc))
			}
		}
	}
	// A file count the input cannot hold is refused before allocating.
	bad := appendGpid([]byte{formatV1}, Gpid{AppID: 1})
	bad = AppendVarint(bad, 8)
	bad = AppendVarint(bad, 1)
	bad = AppendString(bad, "d")
	bad = AppendUvarint(bad, 1<<40)
	var out DupCheckpointResponse
	if err := out.UnmarshalBinary(bad); !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrMalformed) {
		t.Fatalf("huge file count: %v", err)
	}
	if m, ok := LookupMethod(ServicePeer, MethodDupCheckpoint); !ok || typeName(m.NewRequest()) != "DupCheckpointRequest" {
		t.Fatal("DupCheckpoint is not in the methods table")
	}
}
