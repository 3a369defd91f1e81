package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration that reads and writes as a Go duration string
// ("150ms", "5s", "1m30s") in TOML, in flags and in JSON. time.Duration
// itself is an integer of nanoseconds to encoding/json and has no
// TextUnmarshaler; use Duration in config structs so that files, flags,
// --print-default-config and JSON status pages all show the same text.
//
// A bare number is rejected (except 0): a unit is always required, so that
// "5" is never silently read as five nanoseconds.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d the way time.Duration does ("1m30s", "150ms", "0s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; see ParseDuration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// ParseDuration parses a duration string such as "150ms", "5s" or "1h30m"
// (the syntax of time.ParseDuration). Surrounding spaces are ignored. "0" is
// accepted; any other number without a unit is an error.
func ParseDuration(s string) (Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New(`empty duration: want a value with a unit such as "150ms" or "5s"`)
	}
	if _, err := strconv.ParseFloat(t, 64); err == nil && t != "0" {
		return 0, fmt.Errorf("duration %q has no unit: write e.g. %q or %q", s, t+"ms", t+"s")
	}
	v, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want e.g. \"150ms\", \"5s\", \"1m30s\"", s)
	}
	return Duration(v), nil
}

// ByteSize is a non-negative number of bytes that reads as a plain integer
// ("1048576") or an integer with a unit: B, KiB, MiB, GiB, TiB (powers of
// 1024) or KB, MB, GB, TB (powers of 1000); units are case-insensitive and may
// be separated from the number by spaces. It prints with the largest binary
// unit that divides it exactly ("8MiB", "1000B"), which parses back to the
// same value.
type ByteSize int64

// Common byte sizes.
const (
	KiB ByteSize = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
)

var byteUnits = []struct {
	name string
	mult int64
}{
	{"b", 1},
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
}

// Int64 returns b as an int64 count of bytes.
func (b ByteSize) Int64() int64 { return int64(b) }

// String formats b with the largest binary unit that divides it exactly.
func (b ByteSize) String() string {
	if b == 0 {
		return "0B"
	}
	for _, u := range []struct {
		name string
		size ByteSize
	}{{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}} {
		if b%u.size == 0 {
			return strconv.FormatInt(int64(b/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// MarshalText implements encoding.TextMarshaler.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; see ParseByteSize.
func (b *ByteSize) UnmarshalText(text []byte) error {
	v, err := ParseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// ParseByteSize parses "8MiB", "64 KiB", "10MB", "512B" or "1048576".
// Fractions, negative values and values above math.MaxInt64 bytes are errors.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("invalid byte size %q: want a non-negative integer with an optional unit (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid byte size %q: number out of range", s)
	}
	unit := strings.ToLower(strings.TrimSpace(t[i:]))
	if unit == "" {
		return ByteSize(n), nil
	}
	for _, u := range byteUnits {
		if u.name == unit {
			if n > math.MaxInt64/u.mult {
				return 0, fmt.Errorf("invalid byte size %q: larger than %d bytes", s, int64(math.MaxInt64))
			}
			return ByteSize(n * u.mult), nil
		}
	}
	return 0, fmt.Errorf("invalid byte size %q: unknown unit %q (want B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)", s, strings.TrimSpace(t[i:]))
}
