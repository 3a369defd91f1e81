module github.com/pegasus-go/pegasus/integration

go 1.26.0
