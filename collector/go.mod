module github.com/pegasus-go/pegasus/collector

go 1.26.0
