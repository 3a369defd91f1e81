module github.com/pegasus-go/pegasus/metaserver

go 1.26.0
