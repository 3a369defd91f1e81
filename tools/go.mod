module github.com/pegasus-go/pegasus/tools

go 1.26.0
