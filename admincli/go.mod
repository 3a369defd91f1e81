module github.com/pegasus-go/pegasus/admincli

go 1.26.0
