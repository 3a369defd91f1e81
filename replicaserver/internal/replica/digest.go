package replica

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	"github.com/pegasus-go/pegasus/replicaserver/internal/storage"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Digest summarizes a replica's data at one decree, so replicas of a
// partition can be compared: equal decrees and equal hashes mean equal
// visible records.
type Digest struct {
	// Decree is the last decree applied to the data digested.
	Decree protocol.Decree `json:"decree"`
	// Records counts the unexpired records.
	Records int64 `json:"records"`
	// SHA256 is the hex SHA-256 of every record in key order: hashkey,
	// sortkey and value, each length-prefixed, and the expire time.
	SHA256 string `json:"sha256"`
}

// Digest computes the replica's digest, whatever its role. The scan is
// opened on the loop goroutine, so the data it sees is exactly the data at
// the reported decree; the records are read afterwards without holding up
// writes. Expired records are skipped (the TTL reaper removes them on each
// replica at its own pace).
func (r *Replica) Digest() (Digest, error) {
	var (
		id     storage.ScanID
		decree protocol.Decree
	)
	scans := r.engine.Scans()
	err := r.call(func() error {
		var err error
		id, err = scans.Open(storage.ScanOptions{BatchSize: storage.DefaultMaxScanBatchSize})
		decree = r.engine.LastAppliedDecree()
		return err
	})
	if err != nil {
		return Digest{}, err
	}
	defer scans.Close(id)
	h := sha256.New()
	var n int64
	var buf []byte
	for {
		b, err := scans.Next(id)
		if err != nil {
			return Digest{}, err
		}
		for _, rec := range b.Records {
			buf = buf[:0]
			buf = binary.AppendUvarint(buf, uint64(len(rec.HashKey)))
			buf = append(buf, rec.HashKey...)
			buf = binary.AppendUvarint(buf, uint64(len(rec.SortKey)))
			buf = append(buf, rec.SortKey...)
			buf = binary.AppendUvarint(buf, uint64(len(rec.Value)))
			buf = append(buf, rec.Value...)
			buf = binary.BigEndian.AppendUint32(buf, rec.ExpireTs)
			h.Write(buf)
			n++
		}
		if b.Done {
			break
		}
	}
	return Digest{Decree: decree, Records: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}
