package keyschema

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// ValueVersion is the version byte of the current stored-value format.
const ValueVersion byte = 1

// ValueHeaderLen is the size of the stored-value header.
const ValueHeaderLen = 1 + 4 + 8

// ErrMalformedValue is returned by DecodeValue for a value shorter than the
// header or with an unknown version byte.
var ErrMalformedValue = errors.New("keyschema: malformed stored value")

// ValueHeader is the metadata stored in front of every user value.
type ValueHeader struct {
	// ExpireTs is the expiry time in seconds since the Pegasus epoch; 0
	// means no TTL.
	ExpireTs uint32
	// Timetag is PackTimetag(timestamp_us, cluster_id, delete_flag).
	Timetag uint64
}

// AppendValue appends the stored form of (h, userValue) to dst.
func AppendValue(dst []byte, h ValueHeader, userValue []byte) []byte {
	dst = append(dst, ValueVersion)
	dst = binary.BigEndian.AppendUint32(dst, h.ExpireTs)
	dst = binary.BigEndian.AppendUint64(dst, h.Timetag)
	return append(dst, userValue...)
}

// EncodeValue returns the stored form of (h, userValue) in a new slice.
func EncodeValue(h ValueHeader, userValue []byte) []byte {
	return AppendValue(make([]byte, 0, ValueHeaderLen+len(userValue)), h, userValue)
}

// DecodeValue splits a stored value into its header and user value; the
// user value aliases raw.
func DecodeValue(raw []byte) (ValueHeader, []byte, error) {
	if len(raw) < ValueHeaderLen {
		return ValueHeader{}, nil, fmt.Errorf("%w: %d bytes, header needs %d", ErrMalformedValue, len(raw), ValueHeaderLen)
	}
	if raw[0] != ValueVersion {
		return ValueHeader{}, nil, fmt.Errorf("%w: unknown version %d", ErrMalformedValue, raw[0])
	}
	h := ValueHeader{
		ExpireTs: binary.BigEndian.Uint32(raw[1:5]),
		Timetag:  binary.BigEndian.Uint64(raw[5:13]),
	}
	return h, raw[ValueHeaderLen:], nil
}

// Timetag limits.
const (
	MaxTimetagTimestampUs = 1<<56 - 1 // timestamps use the top 56 bits
	MaxClusterID          = 127       // cluster ids use 7 bits
)

// PackTimetag builds timestamp_us<<8 | cluster_id<<1 | delete_flag. It
// fails when timestampUs or clusterID do not fit their fields.
func PackTimetag(timestampUs uint64, clusterID uint8, deleted bool) (uint64, error) {
	if timestampUs > MaxTimetagTimestampUs {
		return 0, fmt.Errorf("keyschema: timetag timestamp %d exceeds 56 bits", timestampUs)
	}
	if clusterID > MaxClusterID {
		return 0, fmt.Errorf("keyschema: cluster id %d exceeds %d", clusterID, MaxClusterID)
	}
	t := timestampUs<<8 | uint64(clusterID)<<1
	if deleted {
		t |= 1
	}
	return t, nil
}

// UnpackTimetag splits a timetag into its fields.
func UnpackTimetag(t uint64) (timestampUs uint64, clusterID uint8, deleted bool) {
	return t >> 8, uint8(t>>1) & MaxClusterID, t&1 == 1
}

// EpochStart is the Pegasus epoch, 2016-01-01 00:00:00 UTC.
var EpochStart = time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)

// epochUnix is EpochStart in Unix seconds.
const epochUnix = 1451606400

// EpochSeconds returns t as whole seconds since the Pegasus epoch, clamped
// to [0, MaxUint32].
func EpochSeconds(t time.Time) uint32 {
	s := t.Unix() - epochUnix
	switch {
	case s < 0:
		return 0
	case s > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(s)
}

// EpochTime returns the time of ts seconds since the Pegasus epoch, in UTC.
func EpochTime(ts uint32) time.Time {
	return time.Unix(epochUnix+int64(ts), 0).UTC()
}

// ExpireTsFromTTL returns the expire_ts of a record written at now with a
// TTL of ttlSeconds: 0 (no TTL) when ttlSeconds <= 0, else
// EpochSeconds(now)+ttlSeconds saturated at MaxUint32.
func ExpireTsFromTTL(ttlSeconds int64, now time.Time) uint32 {
	if ttlSeconds <= 0 {
		return 0
	}
	if ttlSeconds >= math.MaxUint32 {
		return math.MaxUint32
	}
	ts := int64(EpochSeconds(now)) + ttlSeconds
	if ts > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(ts)
}

// IsExpired reports whether a record with expireTs is expired at now:
// expireTs != 0 && expireTs <= EpochSeconds(now).
func IsExpired(expireTs uint32, now time.Time) bool {
	return expireTs != 0 && expireTs <= EpochSeconds(now)
}

// RemainingTTL returns the seconds a record with expireTs has left at now:
// -1 for no TTL, 0 or less when it has expired.
func RemainingTTL(expireTs uint32, now time.Time) int64 {
	if expireTs == 0 {
		return -1
	}
	return int64(expireTs) - int64(EpochSeconds(now))
}
