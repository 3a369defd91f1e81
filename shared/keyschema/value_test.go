package keyschema

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"
)

func TestValueLayout(t *testing.T) {
	v := EncodeValue(ValueHeader{ExpireTs: 0x01020304, Timetag: 0x1122334455667788}, []byte("v"))
	want := []byte{ValueVersion, 1, 2, 3, 4, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 'v'}
	if !bytes.Equal(v, want) {
		t.Fatalf("EncodeValue = %x, want %x", v, want)
	}
	h, u, err := DecodeValue(v)
	if err != nil || h.ExpireTs != 0x01020304 || h.Timetag != 0x1122334455667788 || string(u) != "v" {
		t.Fatalf("DecodeValue = %+v %q %v", h, u, err)
	}
}

func TestDecodeValueErrors(t *testing.T) {
	good := EncodeValue(ValueHeader{}, nil)
	bad := append([]byte{}, good...)
	bad[0] = 9
	for _, v := range [][]byte{nil, good[:ValueHeaderLen-1], bad} {
		if _, _, err := DecodeValue(v); !errors.Is(err, ErrMalformedValue) {
			t.Errorf("DecodeValue(%x) err = %v", v, err)
		}
	}
}

func TestTimetag(t *testing.T) {
	tt, err := PackTimetag(1234567, 5, true)
	if err != nil || tt != 1234567<<8|5<<1|1 {
		t.Fatalf("PackTimetag = %#x, %v", tt, err)
	}
	ts, cid, del := UnpackTimetag(tt)
	if ts != 1234567 || cid != 5 || !del {
		t.Fatalf("UnpackTimetag = %d %d %v", ts, cid, del)
	}
	if _, err := PackTimetag(1<<56, 0, false); err == nil {
		t.Fatal("PackTimetag accepted a 57-bit timestamp")
	}
	if _, err := PackTimetag(0, 128, false); err == nil {
		t.Fatal("PackTimetag accepted cluster id 128")
	}
}

func TestEpoch(t *testing.T) {
	if EpochSeconds(EpochStart) != 0 || EpochStart.Unix() != epochUnix {
		t.Fatal("epoch start mismatch")
	}
	now := time.Date(2024, 3, 1, 12, 0, 0, 500, time.UTC)
	s := EpochSeconds(now)
	if !EpochTime(s).Equal(now.Truncate(time.Second)) {
		t.Fatalf("EpochTime(EpochSeconds(now)) = %v", EpochTime(s))
	}
	if EpochSeconds(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)) != 0 {
		t.Fatal("times before the epoch must clamp to 0")
	}
	if EpochSeconds(time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)) != math.MaxUint32 {
		t.Fatal("times past the range must clamp to MaxUint32")
	}
	if ExpireTsFromTTL(0, now) != 0 || ExpireTsFromTTL(-5, now) != 0 {
		t.Fatal("non-positive TTL must mean no expiry")
	}
	exp := ExpireTsFromTTL(10, now)
	if exp != s+10 || ExpireTsFromTTL(math.MaxInt64, now) != math.MaxUint32 {
		t.Fatalf("ExpireTsFromTTL = %d", exp)
	}
	if IsExpired(exp, now.Add(9*time.Second)) || !IsExpired(exp, now.Add(10*time.Second)) || IsExpired(0, now.Add(1e6*time.Hour)) {
		t.Fatal("IsExpired boundary wrong")
	}
	if RemainingTTL(exp, now) != 10 || RemainingTTL(0, now) != -1 {
		t.Fatal("RemainingTTL wrong")
	}
}
