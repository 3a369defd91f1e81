module github.com/pegasus-go/pegasus/client-go

go 1.26.0
