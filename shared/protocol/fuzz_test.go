package protocol

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

// FuzzDecode covers every decoder: the first input byte selects the type
// (an index into wireTypes, modulo its length), the rest is the encoding.
// Decoding must never panic, and whatever decodes must re-encode (at the
// size EncodedSize promises) to bytes that decode to an equal value.
//
//	go test -run xxx -fuzz FuzzDecode -fuzztime 20s ./shared/protocol/
func FuzzDecode(f *testing.F) {
	types := wireTypes()
	r := rand.New(rand.NewPCG(3, 4))
	for i, ctor := range types {
		enc, err := randomMessage(r, ctor).AppendBinary([]byte{byte(i)})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		ctor := types[int(data[0])%len(types)]
		m := ctor()
		if m.UnmarshalBinary(data[1:]) != nil {
			return
		}
		out, err := m.AppendBinary(nil)
		if err != nil {
			t.Fatalf("%T decoded but does not encode: %v", m, err)
		}
		if s, ok := m.(Sizer); ok && s.EncodedSize() != len(out) {
			t.Fatalf("%T: EncodedSize %d, encoded %d bytes", m, s.EncodedSize(), len(out))
		}
		again := ctor()
		if err := again.UnmarshalBinary(out); err != nil {
			t.Fatalf("%T: re-encoding does not decode: %v", m, err)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("%T: re-decoded value differs:\n%+v\n%+v", m, m, again)
		}
	})
}
