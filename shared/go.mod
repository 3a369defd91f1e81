module github.com/pegasus-go/pegasus/shared

go 1.26.0

require (
	github.com/BurntSushi/toml v1.6.0 // indirect
	github.com/golang/mock v1.6.0 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/spf13/pflag v1.0.10 // indirect
	github.com/twmb/murmur3 v1.1.8 // indirect
	github.com/uber-go/tally/v4 v4.1.17 // indirect
	go.uber.org/atomic v1.11.0 // indirect
)
