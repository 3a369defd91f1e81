package protocol

// Sizer is implemented by the messages on the hot paths (data API, Prepare,
// Mutation, CopyFile): EncodedSize returns exactly the number of bytes
// AppendBinary will append, so a caller can allocate the output once.
type Sizer interface {
	EncodedSize() int
}

// defaultEncodeBuffer is the initial capacity Marshal uses for messages
// without a Sizer; they are small control messages.
const defaultEncodeBuffer = 128

// Marshal encodes m into a new slice, allocated once at the exact size when
// m implements Sizer.
func Marshal(m Message) ([]byte, error) {
	n := defaultEncodeBuffer
	if s, ok := m.(Sizer); ok {
		n = s.EncodedSize()
	}
	return m.AppendBinary(make([]byte, 0, n))
}
