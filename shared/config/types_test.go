package config

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"5s", 5 * time.Second}, {"150ms", 150 * time.Millisecond}, {" 1m30s ", 90 * time.Second},
		{"0", 0}, {"0s", 0}, {"2h", 2 * time.Hour}, {"10us", 10 * time.Microsecond}, {"-1s", -time.Second},
	} {
		got, err := ParseDuration(tc.in)
		if err != nil || got.Std() != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		// Printing and parsing back is the identity.
		again, err := ParseDuration(got.String())
		if err != nil || again != got {
			t.Errorf("round trip of %v: %v, %v", got, again, err)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"", "empty duration"}, {"5", "has no unit"}, {"1.5", "has no unit"},
		{"5 s", "invalid duration"}, {"fast", "invalid duration"}, {"9999999999h", "invalid duration"},
	} {
		_, err := ParseDuration(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseDuration(%q) err = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestDurationJSON(t *testing.T) {
	b, err := json.Marshal(struct{ D Duration }{Duration(1500 * time.Millisecond)})
	if err != nil || string(b) != `{"D":"1.5s"}` {
		t.Fatalf("%s %v", b, err)
	}
	var v struct{ D Duration }
	if err := json.Unmarshal([]byte(`{"D":"250ms"}`), &v); err != nil || v.D.Std() != 250*time.Millisecond {
		t.Fatalf("%v %v", v, err)
	}
}

func TestParseByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ByteSize
	}{
		{"0", 0}, {"1048576", MiB}, {"8MiB", 8 * MiB}, {"64KiB", 64 * KiB}, {"64 kib", 64 * KiB},
		{"1GiB", GiB}, {"2TiB", 2 * TiB}, {"512B", 512}, {"10MB", 10_000_000}, {"1kb", 1000},
		{"3GB", 3_000_000_000}, {"1TB", 1_000_000_000_000}, {"8388607TiB", 8388607 * TiB},
	} {
		got, err := ParseByteSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
		again, err := ParseByteSize(got.String())
		if err != nil || again != got {
			t.Errorf("round trip of %d via %q: %d, %v", got, got.String(), again, err)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"", "invalid byte size"}, {"-1", "invalid byte size"}, {"1.5MiB", "unknown unit"},
		{"MiB", "invalid byte size"}, {"8MiBs", `unknown unit "MiBs"`}, {"8 X", `unknown unit "X"`},
		{"8388608TiB", "larger than"}, {"99999999999999999999", "out of range"},
	} {
		_, err := ParseByteSize(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseByteSize(%q) err = %v, want %q", tc.in, err, tc.want)
		}
	}
	if s := ByteSize(1000).String(); s != "1000B" {
		t.Errorf("String = %q", s)
	}
	if s := ByteSize(math.MaxInt64).String(); s != "9223372036854775807B" {
		t.Errorf("String = %q", s)
	}
}

func FuzzParseByteSize(f *testing.F) {
	for _, s := range []string{"8MiB", "1", "64 KiB", "9223372036854775807", "1TB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseByteSize(s)
		if err != nil {
			return
		}
		if b < 0 {
			t.Fatalf("negative size %d from %q", b, s)
		}
		again, err := ParseByteSize(b.String())
		if err != nil || again != b {
			t.Fatalf("%q -> %d -> %q -> %d, %v", s, b, b.String(), again, err)
		}
	})
}
