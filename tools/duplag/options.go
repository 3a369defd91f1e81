package duplag

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Defaults of Options.
const (
	DefaultDuration          = 60 * time.Second
	DefaultPartitions        = 8
	DefaultValueSize         = 100
	DefaultSamplesPerSecond  = 50
	DefaultPollInterval      = 5 * time.Millisecond
	DefaultMaxInflight       = 1024
	DefaultVisibilityTimeout = 60 * time.Second
	DefaultTable             = "duplag"
)

// DefaultRates are the write rates of the benchmark (writes per second).
var DefaultRates = []int{1000, 5000}

// Limits of Options.
const (
	MaxRate      = 1_000_000
	MaxValueSize = 1 << 20
	maxPollEvery = time.Second
)

// Options configure Run.
type Options struct {
	// Rates lists the phases' write rates (writes per second), run in
	// order. Default DefaultRates.
	Rates []int
	// Duration is each phase's load time. Default DefaultDuration.
	Duration time.Duration
	// Partitions is the partition count of the table on both clusters.
	// Default DefaultPartitions.
	Partitions int
	// ValueSize is the bytes of every written value. Default
	// DefaultValueSize.
	ValueSize int
	// SamplesPerSecond is how many writes per second are followed on the
	// target (every rate/SamplesPerSecond-th write). Default
	// DefaultSamplesPerSecond.
	SamplesPerSecond int
	// PollInterval is how often a sampled write is looked for on the
	// target. Default DefaultPollInterval.
	PollInterval time.Duration
	// MaxInflight bounds the writes in flight; when reached, the load
	// stops being open-loop and the phase reports how often. Default
	// DefaultMaxInflight.
	MaxInflight int
	// VisibilityTimeout is how long a sampled write may take to appear on
	// the target before it counts as lost. Default
	// DefaultVisibilityTimeout.
	VisibilityTimeout time.Duration
	// Table is the table's name on both clusters. Default DefaultTable.
	Table string

	// Dir is the onebox directory; empty: a new temporary directory.
	// It is removed at the end unless Keep.
	Dir  string
	Keep bool
	// BasePort is the onebox's first port (0: the onebox default).
	BasePort int
	// BinDir holds the daemon binaries (empty: onebox.FindBinDir).
	BinDir string
	// ZooKeeper runs the onebox on ZooKeeper instead of the local store.
	ZooKeeper bool
	// MetaSettings and ReplicaSettings are "section.key=value" settings
	// for every meta / replica server of both clusters (e.g.
	// "replication.dup_sync_interval=1s").
	MetaSettings, ReplicaSettings []string

	// Progress receives one line per phase step (default: discard);
	// Logger the onebox's progress messages (default: discard).
	Progress io.Writer
	Logger   *slog.Logger
}

func (o *Options) setDefaults() {
	if len(o.Rates) == 0 {
		o.Rates = DefaultRates
	}
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.Partitions == 0 {
		o.Partitions = DefaultPartitions
	}
	if o.ValueSize == 0 {
		o.ValueSize = DefaultValueSize
	}
	if o.SamplesPerSecond == 0 {
		o.SamplesPerSecond = DefaultSamplesPerSecond
	}
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.MaxInflight == 0 {
		o.MaxInflight = DefaultMaxInflight
	}
	if o.VisibilityTimeout == 0 {
		o.VisibilityTimeout = DefaultVisibilityTimeout
	}
	if o.Table == "" {
		o.Table = DefaultTable
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// validate checks o after setDefaults.
func (o *Options) validate() error {
	var errs []error
	for _, r := range o.Rates {
		if r < 1 || r > MaxRate {
			errs = append(errs, fmt.Errorf("rate %d writes/s: want 1..%d", r, MaxRate))
		}
	}
	if o.Duration < time.Second {
		errs = append(errs, fmt.Errorf("duration %v: want at least 1s", o.Duration))
	}
	if o.Partitions < 1 || o.Partitions > 1024 || o.Partitions&(o.Partitions-1) != 0 {
		errs = append(errs, fmt.Errorf("partitions %d: want a power of two in 1..1024", o.Partitions))
	}
	if o.ValueSize < 1 || o.ValueSize > MaxValueSize {
		errs = append(errs, fmt.Errorf("value size %d: want 1..%d", o.ValueSize, MaxValueSize))
	}
	if o.SamplesPerSecond < 1 {
		errs = append(errs, fmt.Errorf("samples per second %d: want at least 1", o.SamplesPerSecond))
	}
	if o.PollInterval < 0 || o.PollInterval > maxPollEvery {
		errs = append(errs, fmt.Errorf("poll interval %v: want up to %v", o.PollInterval, maxPollEvery))
	}
	if o.MaxInflight < 1 {
		errs = append(errs, fmt.Errorf("max in flight %d: want at least 1", o.MaxInflight))
	}
	if o.VisibilityTimeout < time.Second {
		errs = append(errs, fmt.Errorf("visibility timeout %v: want at least 1s", o.VisibilityTimeout))
	}
	return errors.Join(errs...)
}

// sampleEvery returns which writes of a phase at rate are followed: every
// n-th.
func (o *Options) sampleEvery(rate int) int {
	return max(1, rate/o.SamplesPerSecond)
}
