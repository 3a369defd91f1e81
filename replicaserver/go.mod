module github.com/pegasus-go/pegasus/replicaserver

go 1.26.0
