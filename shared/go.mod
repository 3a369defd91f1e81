module github.com/pegasus-go/pegasus/shared

go 1.26.0
