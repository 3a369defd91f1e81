module github.com/pegasus-go/pegasus/shared

go 1.26.0

require github.com/smallnest/rpcx v1.9.1 // indirect
