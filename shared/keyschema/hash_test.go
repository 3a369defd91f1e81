package keyschema

import (
	"testing"
)

// bitwiseCRC64 is an independent, table-free CRC-64 (LSB-first, init and
// final xor all ones) used to check the table-driven implementation.
func bitwiseCRC64(data []byte) uint64 {
	const poly = 0x9a6c9329ac4bc9b5
	crc := ^uint64(0)
	for _, b := range data {
		crc ^= uint64(b)
		for range 8 {
			if crc&1 == 1 {
				crc = crc>>1 ^ poly
			} else {
				crc >>= 1
			}
		}
	}
	return ^crc
}

func TestCRC64KnownVectors(t *testing.T) {
	cases := []struct {
		in   string
		want uint64
	}{
		{"", 0},
		{"123456789", 0xae8b14860a799888},
		{"pegasus", 0xce8709cfbd3973c4},
		{"hashkey", 0x1299d9b06672773a},
	}
	for _, c := range cases {
		if got := CRC64([]byte(c.in)); got != c.want {
			t.Errorf("CRC64(%q) = %#x, want %#x", c.in, got, c.want)
		}
		if got := bitwiseCRC64([]byte(c.in)); got != c.want {
			t.Errorf("bitwise CRC64(%q) = %#x, want %#x", c.in, got, c.want)
		}
	}
	buf := make([]byte, 0, 300)
	for i := range 300 {
		buf = append(buf, byte(i*7+3))
		if CRC64(buf) != bitwiseCRC64(buf) {
			t.Fatalf("table and bitwise CRC64 disagree at length %d", len(buf))
		}
	}
}

func TestHashUsesSortKeyForEmptyHashKey(t *testing.T) {
	if Hash([]byte("h"), []byte("s")) != CRC64([]byte("h")) {
		t.Fatal("Hash must hash the hashkey")
	}
	if Hash(nil, []byte("s")) != CRC64([]byte("s")) {
		t.Fatal("Hash of an empty hashkey must hash the sortkey")
	}
}

func TestPartitionIndex(t *testing.T) {
	h := uint64(0xae8b14860a799888)
	for _, n := range []int32{1, 2, 8, 1024} {
		got, err := PartitionIndex(h, n)
		if err != nil || got != int32(h%uint64(n)) {
			t.Errorf("PartitionIndex(%#x, %d) = %d, %v; want %d", h, n, got, err, h%uint64(n))
		}
	}
	for _, n := range []int32{0, -4, 3, 12} {
		if _, err := PartitionIndex(h, n); err == nil {
			t.Errorf("PartitionIndex accepted count %d", n)
		}
	}
}
