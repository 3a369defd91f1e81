package server

import (
	"github.com/pegasus-go/pegasus/shared/keyschema"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Request validation. Every check here runs before a request reaches a
// replica, so a request that fails one never takes a decree or a plog
// record.

// checkHashKey requires a hashkey of 1..keyschema.MaxHashKeyLen bytes.
func checkHashKey(hk []byte) error {
	switch {
	case len(hk) == 0:
		return protocol.Errorf(protocol.CodeInvalidArgument, "empty hashkey")
	case len(hk) > keyschema.MaxHashKeyLen:
		return protocol.Errorf(protocol.CodeInvalidArgument, "hashkey of %d bytes exceeds the limit of %d bytes",
			len(hk), keyschema.MaxHashKeyLen)
	}
	return nil
}

// checkWriteSize bounds the keys and values of one write.
func (s *Server) checkWriteSize(n int64) error {
	if n > s.opts.MaxWriteBytes {
		return protocol.Errorf(protocol.CodeInvalidArgument,
			"write of %d bytes (keys and values) exceeds max_write_bytes %d", n, s.opts.MaxWriteBytes)
	}
	return nil
}

// checkHeader checks the header's partition hash against the table's
// partition count (RequestHeader.CheckPartition): a client with a stale
// partition count gets CodeWrongPartition.
func checkHeader(e *entry, h *protocol.RequestHeader) error {
	return h.CheckPartition(e.appInfo().PartitionCount)
}

// checkKeyPartition requires the key (hashkey, sortkey) to hash to the
// replica's partition.
func checkKeyPartition(e *entry, hk, sk []byte) error {
	app := e.appInfo()
	idx, err := keyschema.PartitionIndex(keyschema.Hash(hk, sk), app.PartitionCount)
	if err != nil {
		return protocol.Errorf(protocol.CodeInvalidState, "replica %s has no valid table info: %v", e.gpid, err)
	}
	if idx != e.gpid.PartitionIndex {
		return protocol.Errorf(protocol.CodeWrongPartition, "key hashes to partition %d of %d, not %s",
			idx, app.PartitionCount, e.gpid)
	}
	return nil
}

// checkKey runs the hashkey and partition checks of a single-hashkey
// request.
func checkKey(e *entry, h *protocol.RequestHeader, hk []byte) error {
	if err := checkHashKey(hk); err != nil {
		return err
	}
	if err := checkHeader(e, h); err != nil {
		return err
	}
	return checkKeyPartition(e, hk, nil)
}

// checkWrite runs checkKey and the size limit of a single-hashkey write.
func (s *Server) checkWrite(e *entry, h *protocol.RequestHeader, hk []byte, size int64) error {
	if err := checkHashKey(hk); err != nil {
		return err
	}
	if err := s.checkWriteSize(size); err != nil {
		return err
	}
	if err := checkHeader(e, h); err != nil {
		return err
	}
	return checkKeyPartition(e, hk, nil)
}

// itemCode is the per-key validation of BatchGet and BatchSet: CodeOK, or
// the code the key is answered with.
func itemCode(e *entry, hk, sk []byte) protocol.ErrorCode {
	if err := checkHashKey(hk); err != nil {
		return protocol.CodeInvalidArgument
	}
	return protocol.CodeOf(checkKeyPartition(e, hk, sk))
}

func size(bs ...[]byte) int64 {
	var n int64
	for _, b := range bs {
		n += int64(len(b))
	}
	return n
}

func kvSize(kvs []protocol.KeyValue) int64 {
	var n int64
	for i := range kvs {
		n += int64(len(kvs[i].SortKey)) + int64(len(kvs[i].Value))
	}
	return n
}

func keysSize(keys [][]byte) int64 {
	var n int64
	for _, k := range keys {
		n += int64(len(k))
	}
	return n
}
