module github.com/pegasus-go/pegasus/metaserver

go 1.26.0

require github.com/pegasus-go/pegasus/shared v0.0.0-00010101000000-000000000000

replace github.com/pegasus-go/pegasus/shared => ../shared
