package keyschema

import (
	"fmt"
	"hash/crc64"
)

// CRC64Poly is the CRC-64 polynomial of the partition hash, in the reversed
// (LSB-first) form hash/crc64 takes.
const CRC64Poly = 0x9a6c9329ac4bc9b5

var crcTable = crc64.MakeTable(CRC64Poly)

// CRC64 returns the CRC-64 of data with CRC64Poly (initial value and final
// xor all ones, as hash/crc64 computes it).
func CRC64(data []byte) uint64 { return crc64.Checksum(data, crcTable) }

// Hash returns the partition hash of a record: CRC64 of the hashkey, or of
// the sortkey when the hashkey is empty.
func Hash(hashKey, sortKey []byte) uint64 {
	if len(hashKey) == 0 {
		return CRC64(sortKey)
	}
	return CRC64(hashKey)
}

// PartitionIndex maps a partition hash to a partition of a table with
// partitionCount partitions. partitionCount must be a positive power of two;
// anything else is an error.
func PartitionIndex(hash uint64, partitionCount int32) (int32, error) {
	if partitionCount <= 0 || partitionCount&(partitionCount-1) != 0 {
		return 0, fmt.Errorf("keyschema: partition count %d is not a positive power of two", partitionCount)
	}
	return int32(hash & uint64(partitionCount-1)), nil
}
