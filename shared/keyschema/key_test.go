package keyschema

import (
	"bytes"
	"errors"
	"testing"
)

func TestEncodeKeyLayout(t *testing.T) {
	k, err := EncodeKey([]byte("hk"), []byte("sk"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x00, 0x02, 'h', 'k', 's', 'k'}; !bytes.Equal(k, want) {
		t.Fatalf("EncodeKey = %x, want %x", k, want)
	}
	k, err = EncodeKey(nil, nil)
	if err != nil || !bytes.Equal(k, []byte{0, 0}) {
		t.Fatalf("EncodeKey(nil, nil) = %x, %v", k, err)
	}
}

func TestEncodeKeyHashKeyLimit(t *testing.T) {
	if _, err := EncodeKey(make([]byte, MaxHashKeyLen), []byte("s")); err != nil {
		t.Fatalf("max-length hashkey rejected: %v", err)
	}
	if _, err := EncodeKey(make([]byte, MaxHashKeyLen+1), nil); !errors.Is(err, ErrHashKeyTooLong) {
		t.Fatalf("65535-byte hashkey: err = %v, want ErrHashKeyTooLong", err)
	}
}

func TestDecodeKeyErrors(t *testing.T) {
	for _, k := range [][]byte{nil, {0x00}, {0x00, 0x03, 'a', 'b'}, {0xFF, 0xFF}, InternalKey("meta")} {
		if _, _, err := DecodeKey(k); !errors.Is(err, ErrMalformedKey) {
			t.Errorf("DecodeKey(%x) err = %v, want ErrMalformedKey", k, err)
		}
	}
	hk, sk, err := DecodeKey([]byte{0x00, 0x01, 'h', 's', 'k'})
	if err != nil || string(hk) != "h" || string(sk) != "sk" {
		t.Fatalf("DecodeKey = %q %q %v", hk, sk, err)
	}
}

func TestInternalKeysSortAfterUserKeys(t *testing.T) {
	big, err := EncodeKey(bytes.Repeat([]byte{0xFF}, MaxHashKeyLen), bytes.Repeat([]byte{0xFF}, 10))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Compare(big, DataUpperBound()) >= 0 || bytes.Compare(InternalKey(""), DataUpperBound()) < 0 {
		t.Fatal("user keys must sort below DataUpperBound and internal keys at or above it")
	}
	if !IsInternalKey(InternalKey("x")) || IsInternalKey(big) {
		t.Fatal("IsInternalKey misclassifies")
	}
}

func TestPrefixEndAndSuccessor(t *testing.T) {
	cases := []struct{ in, want []byte }{
		{[]byte{0x00, 0x01, 'a'}, []byte{0x00, 0x01, 'b'}},
		{[]byte{0x00, 0x01, 0xFF}, []byte{0x00, 0x02}},
		{[]byte{0xFF, 0xFF}, nil},
		{nil, nil},
	}
	for _, c := range cases {
		if got := PrefixEnd(c.in); !bytes.Equal(got, c.want) {
			t.Errorf("PrefixEnd(%x) = %x, want %x", c.in, got, c.want)
		}
	}
	in := []byte("ab")
	s := Successor(in)
	if !bytes.Equal(s, []byte("ab\x00")) || !bytes.Equal(in, []byte("ab")) {
		t.Fatalf("Successor = %q (input %q)", s, in)
	}
}

func TestSortKeyRange(t *testing.T) {
	enc := func(hk, sk string) []byte {
		k, err := EncodeKey([]byte(hk), []byte(sk))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	in := func(lo, hi, k []byte) bool { return bytes.Compare(lo, k) <= 0 && bytes.Compare(k, hi) < 0 }
	type probe struct {
		sk   string
		want bool
	}
	cases := []struct {
		start, stop   string
		sIncl, eIncl  bool
		probes        []probe
		otherHashKeys bool
	}{
		{"b", "d", true, false, []probe{{"a", false}, {"b", true}, {"c", true}, {"d", false}, {"b\x00", true}}, false},
		{"b", "d", false, true, []probe{{"b", false}, {"b\x00", true}, {"d", true}, {"d\x00", false}}, false},
		{"", "", true, false, []probe{{"", true}, {"zzz", true}, {"\xff\xff", true}}, false},
		{"", "", false, false, []probe{{"", false}, {"\x00", true}}, false},
	}
	for i, c := range cases {
		lo, hi, err := SortKeyRange([]byte("hk"), []byte(c.start), c.sIncl, []byte(c.stop), c.eIncl)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range c.probes {
			if got := in(lo, hi, enc("hk", p.sk)); got != p.want {
				t.Errorf("case %d: sortkey %q in range = %v, want %v", i, p.sk, got, p.want)
			}
		}
		for _, other := range []string{"hj", "hl", "h", "hkk", ""} {
			if in(lo, hi, enc(other, c.start)) || in(lo, hi, enc(other, "zz")) {
				t.Errorf("case %d: key of hashkey %q falls in range of hk", i, other)
			}
		}
	}
	lo, hi, err := HashKeyRange([]byte("hk"))
	if err != nil || !in(lo, hi, enc("hk", "")) || !in(lo, hi, enc("hk", "\xff\xff\xff")) || in(lo, hi, enc("hkx", "")) {
		t.Fatalf("HashKeyRange wrong: %x %x %v", lo, hi, err)
	}
	if _, _, err := SortKeyRange(make([]byte, MaxHashKeyLen+1), nil, true, nil, true); err == nil {
		t.Fatal("SortKeyRange accepted an oversized hashkey")
	}
}
