module github.com/pegasus-go/pegasus/metaproxy

go 1.26.0
