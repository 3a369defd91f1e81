package protocol

import (
	"errors"
	"reflect"
	"testing"
)

func TestMutationRoundTrip(t *testing.T) {
	m := &Mutation{Ballot: 3, Decree: 42, LastCommitted: 41, TimestampUs: 1700000000000000,
		Updates: []Update{{Op: OpPut, Body: []byte("abc")}, {Op: OpEmpty}}}
	b, err := m.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	var got Mutation
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, &got) {
		t.Fatalf("got %+v want %+v", got, m)
	}
	for i := range b {
		if err := new(Mutation).UnmarshalBinary(b[:i]); err == nil {
			t.Fatalf("truncated at %d decoded without error", i)
		}
	}
	if err := new(Mutation).UnmarshalBinary(append(b, 0)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing byte: got %v", err)
	}
}

func TestErrorCodes(t *testing.T) {
	err := error(Errorf(CodeNotFound, "key %q", "k"))
	if !errors.Is(err, CodeNotFound) || errors.Is(err, CodeTimeout) {
		t.Fatal("errors.Is on codes")
	}
	if CodeOf(err) != CodeNotFound || CodeOf(nil) != CodeOK || CodeOf(errors.New("x")) != CodeUnknown {
		t.Fatal("CodeOf")
	}
	if err.Error() != `ERR_NOT_FOUND: key "k"` {
		t.Fatal(err.Error())
	}
}

func TestOpCodeString(t *testing.T) {
	want := map[OpCode]string{
		OpEmpty: "empty", OpPut: "put", OpMultiPut: "multi_put", OpRemove: "remove",
		OpMultiRemove: "multi_remove", OpDelRange: "del_range", OpIncr: "incr",
		OpCheckAndSet: "check_and_set", OpCheckAndMutate: "check_and_mutate", OpDuplicate: "duplicate",
		OpDuplicate + 1: "op(10)", 255: "op(255)",
	}
	for op, name := range want {
		if got := op.String(); got != name {
			t.Errorf("OpCode(%d).String() = %q, want %q", uint8(op), got, name)
		}
	}
}
