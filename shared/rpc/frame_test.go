package rpc

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	rpcxproto "github.com/smallnest/rpcx/protocol"
)

func requestRules(max int) frameRules {
	return frameRules{maxBytes: max, msgType: rpcxproto.Request}
}

func TestFrameReaderStream(t *testing.T) {
	var stream bytes.Buffer
	bodies := []string{"a", strings.Repeat("b", 10_000), "", strings.Repeat("c", 70_000)}
	for i, b := range bodies {
		stream.Write(requestFrame(t, uint64(i), b))
	}
	fr := newFrameReader(bufio.NewReader(&stream), requestRules(DefaultMaxMessageBytes))
	for i, b := range bodies {
		f, err := fr.next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		m := rpcxproto.NewMessage()
		if err := m.Decode(bytes.NewReader(f)); err != nil {
			t.Fatalf("rpcx cannot decode frame %d: %v", i, err)
		}
		var e echoMsg
		if err := e.UnmarshalBinary(m.Payload); err != nil || string(e.Body) != b || m.Seq() != uint64(i) {
			t.Fatalf("frame %d: seq %d body of %d bytes, err %v", i, m.Seq(), len(e.Body), err)
		}
	}
	if _, err := fr.next(); err != io.EOF {
		t.Fatalf("end of stream: %v", err)
	}
	// The 70 KB frame's buffer is not retained past the next frame.
	if fr.bufferedCap() > 128<<10 {
		t.Fatalf("buffer of %d bytes", fr.bufferedCap())
	}
}

// The reader never holds more than the bytes the peer sent: a frame claiming
// the maximum but delivering little allocates little.
func TestFrameReaderGrowsWithData(t *testing.T) {
	f := requestFrame(t, 1, "x")
	putU32(f, 12, 8<<20)
	fr := newFrameReader(bufio.NewReader(bytes.NewReader(append(f, make([]byte, 100_000)...))), requestRules(8<<20))
	_, err := fr.next()
	if !errors.Is(err, errTruncatedFrame) {
		t.Fatalf("got %v", err)
	}
	if c := fr.bufferedCap(); c > 256<<10 {
		t.Fatalf("buffer grew to %d bytes for 100 KB of data", c)
	}
}

func TestCheckMetadata(t *testing.T) {
	m := rpcxproto.NewMessage()
	m.SetMessageType(rpcxproto.Response)
	m.SetMessageStatusType(rpcxproto.Error)
	m.SetSerializeType(SerializeType)
	m.Metadata = map[string]string{rpcxproto.ServiceError: "pegasus:6:x", "a": "", "": "b"}
	f := m.Encode()
	rules := frameRules{maxBytes: 1 << 20, msgType: rpcxproto.Response}
	if _, err := rules.checkHeader(f); err != nil {
		t.Fatal(err)
	}
	if err := rules.checkBody(f[:16], f[16:]); err != nil {
		t.Fatalf("valid metadata refused: %v", err)
	}
	many := map[string]string{}
	for i := range maxMetadataEntries + 1 {
		many[strings.Repeat("k", i)] = ""
	}
	m.Metadata = many
	f = m.Encode()
	err := rules.checkBody(f[:16], f[16:])
	if err == nil || !strings.Contains(err.Error(), "metadata has more than 64 entries") {
		t.Fatalf("too many entries: %v", err)
	}
}
