package rpc

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	rpcxproto "github.com/smallnest/rpcx/protocol"
)

const fuzzMaxBytes = 64 << 10

// FuzzFrameReader feeds arbitrary bytes to the frame reader: it must never
// panic, never buffer more than one maximal frame, and everything it accepts
// must decode in rpcx to a message whose sections fill the frame exactly.
// It also builds a well-formed frame from the input and checks it is
// accepted unchanged.
func FuzzFrameReader(f *testing.F) {
	f.Add([]byte{}, "Test", "Echo", []byte("payload"))
	f.Add(requestFrame(f, 1, "hello"), "S", "M", []byte{})
	huge := requestFrame(f, 2, "x")
	huge[12], huge[13], huge[14], huge[15] = 0x40, 0, 0, 0
	f.Add(huge, "", "", []byte{0})
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"), "a", "b", []byte{1, 2})

	f.Fuzz(func(t *testing.T, data []byte, service, method string, payload []byte) {
		rules := requestRules(fuzzMaxBytes)
		fr := newFrameReader(bufio.NewReaderSize(bytes.NewReader(data), 16), rules)
		for {
			frame, err := fr.next()
			if fr.bufferedCap() > frameHeaderLen+fuzzMaxBytes {
				t.Fatalf("buffer of %d bytes exceeds the limit", fr.bufferedCap())
			}
			if err != nil {
				var v *frameViolation
				if err != io.EOF && !errors.As(err, &v) && !errors.Is(err, errTruncatedFrame) {
					t.Fatalf("unexpected error type %T: %v", err, err)
				}
				break
			}
			m := rpcxproto.NewMessage()
			if err := m.Decode(bytes.NewReader(frame)); err != nil {
				t.Fatalf("accepted frame does not decode in rpcx: %v", err)
			}
			if got := len(m.ServicePath) + len(m.ServiceMethod) + len(m.Payload); got > len(frame) {
				t.Fatalf("decoded sections of %d bytes from a frame of %d", got, len(frame))
			}
			if len(m.Metadata) == 0 && !bytes.Equal(m.Encode(), frame) {
				// Without metadata the encoding is canonical.
				t.Fatalf("accepted frame does not re-encode identically")
			}
		}

		// A frame built by rpcx from the inputs is accepted and intact.
		if len(service) > maxNameBytes || len(method) > maxNameBytes {
			return
		}
		m := rpcxproto.NewMessage()
		m.SetMessageType(rpcxproto.Request)
		m.SetSerializeType(SerializeType)
		m.SetSeq(uint64(len(data)))
		m.ServicePath, m.ServiceMethod, m.Payload = service, method, payload
		enc := m.Encode()
		fr = newFrameReader(bufio.NewReader(bytes.NewReader(enc)), rules)
		got, err := fr.next()
		if len(enc)-frameHeaderLen > fuzzMaxBytes {
			if err == nil {
				t.Fatalf("frame of %d bytes accepted above the limit", len(enc))
			}
			return
		}
		if err != nil {
			t.Fatalf("valid frame refused: %v", err)
		}
		if !bytes.Equal(got, enc) {
			t.Fatal("valid frame altered")
		}
	})
}
