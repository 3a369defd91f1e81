module github.com/pegasus-go/pegasus/replicaserver

go 1.26.0

require (
	github.com/cockroachdb/datadriven v1.0.3
	github.com/pegasus-go/pegasus/shared v0.0.0-00010101000000-000000000000
)

require github.com/pmezard/go-difflib v1.0.0 // indirect

replace github.com/pegasus-go/pegasus/shared => ../shared
