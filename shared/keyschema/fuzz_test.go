package keyschema

import (
	"bytes"
	"cmp"
	"testing"
)

func FuzzKeyRoundTrip(f *testing.F) {
	f.Add([]byte("hk"), []byte("sk"))
	f.Add([]byte{}, []byte{0xFF})
	f.Add([]byte{0x00, 0xFF}, []byte{})
	f.Fuzz(func(t *testing.T, hk, sk []byte) {
		k, err := EncodeKey(hk, sk)
		if len(hk) > MaxHashKeyLen {
			if err == nil {
				t.Fatal("oversized hashkey accepted")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		h2, s2, err := DecodeKey(k)
		if err != nil || !bytes.Equal(h2, hk) || !bytes.Equal(s2, sk) {
			t.Fatalf("round trip: %q %q %v", h2, s2, err)
		}
		if bytes.Compare(k, DataLowerBound()) < 0 || bytes.Compare(k, DataUpperBound()) >= 0 || IsInternalKey(k) {
			t.Fatal("user key outside the data range")
		}
		// Decoding arbitrary bytes must never panic; when it succeeds the
		// re-encoding must give the same bytes back.
		if h3, s3, err := DecodeKey(sk); err == nil {
			k3, err := EncodeKey(h3, s3)
			if err != nil || !bytes.Equal(k3, sk) {
				t.Fatalf("decode/encode of %x gave %x, %v", sk, k3, err)
			}
		}
	})
}

// tupleCompare is the documented order: (len(hashkey), hashkey, sortkey).
func tupleCompare(h1, s1, h2, s2 []byte) int {
	if c := cmp.Compare(len(h1), len(h2)); c != 0 {
		return c
	}
	if c := bytes.Compare(h1, h2); c != 0 {
		return c
	}
	return bytes.Compare(s1, s2)
}

func FuzzKeyOrder(f *testing.F) {
	f.Add([]byte("a"), []byte("b"), []byte("a"), []byte("c"))
	f.Add([]byte("ab"), []byte(""), []byte("b"), []byte("zz"))
	f.Add([]byte(""), []byte("\xff"), []byte("\x00"), []byte(""))
	f.Fuzz(func(t *testing.T, h1, s1, h2, s2 []byte) {
		k1, err1 := EncodeKey(h1, s1)
		k2, err2 := EncodeKey(h2, s2)
		if err1 != nil || err2 != nil {
			return
		}
		if got, want := bytes.Compare(k1, k2), tupleCompare(h1, s1, h2, s2); got != want {
			t.Fatalf("bytes.Compare = %d, tuple order = %d for (%q,%q) vs (%q,%q)", got, want, h1, s1, h2, s2)
		}
		lo, hi, err := HashKeyRange(h1)
		if err != nil {
			t.Fatal(err)
		}
		inRange := bytes.Compare(lo, k2) <= 0 && bytes.Compare(k2, hi) < 0
		if inRange != bytes.Equal(h1, h2) {
			t.Fatalf("HashKeyRange(%q) contains key of %q: %v", h1, h2, inRange)
		}
	})
}

func FuzzValueRoundTrip(f *testing.F) {
	f.Add(uint32(0), uint64(0), []byte("v"))
	f.Add(uint32(1<<31), uint64(1<<63|5), []byte{})
	f.Fuzz(func(t *testing.T, exp uint32, tag uint64, user []byte) {
		h := ValueHeader{ExpireTs: exp, Timetag: tag}
		raw := EncodeValue(h, user)
		h2, u2, err := DecodeValue(raw)
		if err != nil || h2 != h || !bytes.Equal(u2, user) {
			t.Fatalf("round trip: %+v %q %v", h2, u2, err)
		}
		// Arbitrary input must decode or fail cleanly.
		if h3, u3, err := DecodeValue(user); err == nil {
			if !bytes.Equal(EncodeValue(h3, u3), user) {
				t.Fatal("decode/encode of arbitrary bytes is not the identity")
			}
		}
		ts, cid, del := UnpackTimetag(tag)
		back, err := PackTimetag(ts, cid, del)
		if err != nil || back != tag {
			t.Fatalf("timetag round trip %#x -> %#x, %v", tag, back, err)
		}
	})
}
