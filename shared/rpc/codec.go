package rpc

import (
	"fmt"

	rpcxproto "github.com/smallnest/rpcx/protocol"
	"github.com/smallnest/rpcx/share"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// SerializeType is the rpcx serialize type of every Pegasus-Go frame: the
// payload is the protocol.Message binary encoding. rpcx's built-in types
// occupy 0 (none) to 4 (thrift); the field is four bits wide, so 10 leaves
// room for rpcx to add types without colliding.
const SerializeType rpcxproto.SerializeType = 10

// MaxMessageBytesLimit is the largest MaxMessageBytes a server or client
// accepts. It is also installed as rpcx's process-global
// protocol.MaxMessageLength, a second line of defence behind the frame
// guard: rpcx never allocates more than this for one frame.
const MaxMessageBytesLimit = 256 << 20

// DefaultMaxMessageBytes is the default frame size limit.
const DefaultMaxMessageBytes = 8 << 20

func init() {
	// Both are process-global rpcx tables; they are written here, before
	// any server or client goroutine can read them, and never again.
	share.RegisterCodec(SerializeType, Codec{})
	if rpcxproto.MaxMessageLength <= 0 || rpcxproto.MaxMessageLength > MaxMessageBytesLimit {
		rpcxproto.MaxMessageLength = MaxMessageBytesLimit
	}
}

// Codec is the rpcx codec (github.com/smallnest/rpcx/codec.Codec) for
// protocol.Message values, registered under SerializeType. It is stateless
// and safe for concurrent use.
type Codec struct{}

// Encode returns the binary encoding of i, which must implement
// protocol.Message.
func (Codec) Encode(i any) ([]byte, error) {
	m, ok := i.(protocol.Message)
	if !ok {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument,
			"rpc codec: cannot encode %T: it does not implement protocol.Message", i)
	}
	b, err := m.AppendBinary(nil)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "rpc codec: encode %T: %v", i, err)
	}
	return b, nil
}

// Decode decodes data into i, which must implement protocol.Message.
// Decoding errors come back as CodeInvalidArgument.
func (Codec) Decode(data []byte, i any) error {
	m, ok := i.(protocol.Message)
	if !ok {
		return protocol.Errorf(protocol.CodeInvalidArgument,
			"rpc codec: cannot decode into %T: it does not implement protocol.Message", i)
	}
	if err := m.UnmarshalBinary(data); err != nil {
		return protocol.Errorf(protocol.CodeInvalidArgument, "rpc codec: decode %T: %v", i, err)
	}
	return nil
}

// checkMaxMessageBytes validates a configured frame limit.
func checkMaxMessageBytes(n int) error {
	if n < frameHeaderLen || n > MaxMessageBytesLimit {
		return fmt.Errorf("max_message_bytes %d out of range [%d, %d]", n, frameHeaderLen, MaxMessageBytesLimit)
	}
	return nil
}
