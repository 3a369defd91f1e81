package protocol

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/smallnest/rpcx/codec"
)

// Codec comparison behind the choice recorded in docs/benchmarks.md:
// our hand-written binary codec against rpcx's msgpack codec on the same
// structs. The msgpack side encodes types defined from ours (same fields,
// no methods): msgpack would otherwise detect UnmarshalBinary and refuse
// its own reflective encoding.
//
//	go test -run xxx -bench Codec -benchmem -count 3 ./shared/protocol/

type msgpackSetRequest SetRequest

type msgpackMultiSetRequest MultiSetRequest

func benchHeader() RequestHeader {
	return RequestHeader{Gpid: Gpid{AppID: 2, PartitionIndex: 5}, PartitionHash: 0x9a6c9329ac4bc9b5, TimeoutMs: 1000}
}

func benchSet() *SetRequest {
	return &SetRequest{
		Header:     benchHeader(),
		HashKey:    []byte("user:0000012345"),
		SortKey:    []byte("profile"),
		Value:      bytes.Repeat([]byte{'v'}, 100),
		TTLSeconds: 3600,
	}
}

func benchMultiSet() *MultiSetRequest {
	m := &MultiSetRequest{Header: benchHeader(), HashKey: []byte("user:0000012345"), TTLSeconds: 3600}
	for i := range 100 {
		m.KVs = append(m.KVs, KeyValue{
			SortKey: fmt.Appendf(nil, "sortkey-%03d", i),
			Value:   bytes.Repeat([]byte{byte('a' + i%26)}, 100),
		})
	}
	return m
}

func BenchmarkCodec(b *testing.B) {
	cases := []struct {
		name    string
		ours    Message
		newOurs func() Message
		mp      any
		newMP   func() any
	}{
		{"SetRequest", benchSet(), func() Message { return new(SetRequest) },
			(*msgpackSetRequest)(benchSet()), func() any { return new(msgpackSetRequest) }},
		{"MultiSetRequest", benchMultiSet(), func() Message { return new(MultiSetRequest) },
			(*msgpackMultiSetRequest)(benchMultiSet()), func() any { return new(msgpackMultiSetRequest) }},
	}
	mp := codec.MsgpackCodec{}
	for _, c := range cases {
		enc, err := Marshal(c.ours)
		if err != nil {
			b.Fatal(err)
		}
		mpEnc, err := mp.Encode(c.mp)
		if err != nil {
			b.Fatal(err)
		}
		// Both codecs must round-trip the value, or the comparison is moot.
		back := c.newOurs()
		if err := back.UnmarshalBinary(enc); err != nil || !reflect.DeepEqual(back, c.ours) {
			b.Fatalf("binary round trip: %v", err)
		}
		mpBack := c.newMP()
		if err := mp.Decode(mpEnc, mpBack); err != nil || !reflect.DeepEqual(mpBack, c.mp) {
			b.Fatalf("msgpack round trip: %v", err)
		}

		b.Run(c.name+"/binary/encode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Marshal(c.ours); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(enc)), "wire-bytes")
		})
		// Without EncodedSize: the output grows by append from nil.
		b.Run(c.name+"/binary/encode-unsized", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.ours.AppendBinary(nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		// Into a reused buffer, as a connection's write path does.
		b.Run(c.name+"/binary/append", func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, len(enc))
			for b.Loop() {
				if _, err := c.ours.AppendBinary(buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/binary/decode", func(b *testing.B) {
			b.ReportAllocs()
			m := c.newOurs()
			for b.Loop() {
				if err := m.UnmarshalBinary(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/msgpack/encode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := mp.Encode(c.mp); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(mpEnc)), "wire-bytes")
		})
		b.Run(c.name+"/msgpack/decode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := mp.Decode(mpEnc, c.newMP()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
