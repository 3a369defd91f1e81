module github.com/pegasus-go/pegasus/shared

go 1.26.0

require github.com/smallnest/rpcx v1.9.1

require (
	github.com/apache/thrift v0.21.0 // indirect
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/philhofer/fwd v1.1.3-0.20240916144458-20a13a1f6b7c // indirect
	github.com/tinylib/msgp v1.2.5 // indirect
	github.com/vmihailenco/msgpack/v5 v5.4.1 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
	google.golang.org/protobuf v1.36.4 // indirect
)
