package appenv

import (
	"fmt"
	"maps"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Keys known to the meta server, with Pegasus's spellings.
const (
	KeyDefaultTTL              = "default_ttl"
	KeyDenyClientRequest       = "replica.deny_client_request"
	KeyUsageScenario           = "rocksdb.usage_scenario"
	KeyAllowIngestBehind       = "rocksdb.allow_ingest_behind"
	KeyCheckpointReserveCount  = "rocksdb.checkpoint.reserve_min_count"
	KeyCheckpointReserveTime   = "rocksdb.checkpoint.reserve_time_seconds"
	KeySlowQueryThreshold      = "replica.slow_query_threshold"
	KeyWriteThrottling         = "replica.write_throttling"
	KeyWriteThrottlingBySize   = "replica.write_throttling_by_size"
	KeyReadThrottling          = "replica.read_throttling"
	KeyReadThrottlingBySize    = "replica.read_throttling_by_size"
	KeyBusinessInfo            = "business.info"
	KeyManualCompactDisabled   = "manual_compact.disabled"
	KeyManualCompactMaxRunning = "manual_compact.max_concurrent_running_count"
	KeyOnceTriggerTime         = "manual_compact.once.trigger_time"
	KeyOnceTargetLevel         = "manual_compact.once.target_level"
	KeyOnceBottommost          = "manual_compact.once.bottommost_level_compaction"
	KeyPeriodicTriggerTime     = "manual_compact.periodic.trigger_time"
	KeyPeriodicTargetLevel     = "manual_compact.periodic.target_level"
	KeyPeriodicBottommost      = "manual_compact.periodic.bottommost_level_compaction"
)

// Limits on envs as a whole.
const (
	// MaxKeyLen and MaxValueLen bound one env's key and value, in bytes.
	MaxKeyLen   = 128
	MaxValueLen = 4096
	// MaxEnvs bounds the number of envs of one table.
	MaxEnvs = 64
)

// Usage scenarios accepted by rocksdb.usage_scenario.
const (
	UsageNormal      = "normal"
	UsagePreferWrite = "prefer_write"
	UsageBulkLoad    = "bulk_load"
)

type check func(v string) error

var checks = map[string]check{
	KeyDefaultTTL:              intIn(0, math.MaxInt32),
	KeyDenyClientRequest:       denyClientRequest,
	KeyUsageScenario:           oneOf(UsageNormal, UsagePreferWrite, UsageBulkLoad),
	KeyAllowIngestBehind:       oneOf("true", "false"),
	KeyCheckpointReserveCount:  intIn(1, math.MaxInt32),
	KeyCheckpointReserveTime:   intIn(0, math.MaxInt32),
	KeySlowQueryThreshold:      intIn(20, math.MaxInt32),
	KeyWriteThrottling:         throttling,
	KeyWriteThrottlingBySize:   throttling,
	KeyReadThrottling:          throttling,
	KeyReadThrottlingBySize:    throttling,
	KeyBusinessInfo:            anyValue,
	KeyManualCompactDisabled:   oneOf("true", "false"),
	KeyManualCompactMaxRunning: intIn(0, math.MaxInt32),
	KeyOnceTriggerTime:         intIn(0, math.MaxInt64),
	KeyOnceTargetLevel:         targetLevel,
	KeyOnceBottommost:          oneOf("force", "skip"),
	KeyPeriodicTriggerTime:     clockTimes,
	KeyPeriodicTargetLevel:     targetLevel,
	KeyPeriodicBottommost:      oneOf("force", "skip"),
	// A full duplication's follower table: where its master is.
	protocol.EnvDupMasterCluster: nonEmpty,
	protocol.EnvDupMasterMetas:   metaList,
	protocol.EnvDupMasterApp:     nonEmpty,
}

// Known returns every accepted key, sorted.
func Known() []string { return slices.Sorted(maps.Keys(checks)) }

// ValidateKey checks one key and its value. The error is a *protocol.Error
// with CodeInvalidArgument naming the key.
func ValidateKey(key, value string) error {
	if len(key) > MaxKeyLen {
		return protocol.Errorf(protocol.CodeInvalidArgument, "app env key %.32q...: longer than %d bytes", key, MaxKeyLen)
	}
	c, ok := checks[key]
	if !ok {
		return protocol.Errorf(protocol.CodeInvalidArgument, "unknown app env key %q", key)
	}
	if len(value) > MaxValueLen {
		return protocol.Errorf(protocol.CodeInvalidArgument, "app env %q: value longer than %d bytes", key, MaxValueLen)
	}
	if err := c(value); err != nil {
		return protocol.Errorf(protocol.CodeInvalidArgument, "app env %q: invalid value %q: %v", key, value, err)
	}
	return nil
}

// Validate checks every env of envs (in key order, so the error names the
// first bad key deterministically) and their number.
func Validate(envs map[string]string) error {
	if len(envs) > MaxEnvs {
		return protocol.Errorf(protocol.CodeInvalidArgument, "%d app envs: at most %d allowed", len(envs), MaxEnvs)
	}
	for _, k := range slices.Sorted(maps.Keys(envs)) {
		if err := ValidateKey(k, envs[k]); err != nil {
			return err
		}
	}
	return nil
}

func anyValue(string) error { return nil }

func nonEmpty(v string) error {
	if v == "" {
		return fmt.Errorf("empty value")
	}
	return nil
}

// metaList accepts a comma-separated host:port list.
func metaList(v string) error {
	if v == "" {
		return fmt.Errorf("want a comma-separated host:port list")
	}
	for a := range strings.SplitSeq(v, ",") {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" || port == "" {
			return fmt.Errorf("%q: want host:port", a)
		}
	}
	return nil
}

func oneOf(allowed ...string) check {
	return func(v string) error {
		if slices.Contains(allowed, v) {
			return nil
		}
		return fmt.Errorf("want one of %s", strings.Join(allowed, ", "))
	}
}

func intIn(lo, hi int64) check {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer")
		}
		if n < lo || n > hi {
			return fmt.Errorf("want %d..%d", lo, hi)
		}
		return nil
	}
}

// denyClientRequest accepts "<timeout|reconfig>*<read|write|all>".
func denyClientRequest(v string) error {
	how, what, ok := strings.Cut(v, "*")
	if !ok || (how != "timeout" && how != "reconfig") || (what != "read" && what != "write" && what != "all") {
		return fmt.Errorf("want timeout|reconfig * read|write|all, e.g. reconfig*all")
	}
	return nil
}

// targetLevel accepts -1 (the engine's bottommost level) or 1..6.
func targetLevel(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || (n != -1 && (n < 1 || n > 6)) {
		return fmt.Errorf("want -1 or 1..6")
	}
	return nil
}

// clockTimes accepts a comma-separated list of "HH:MM".
func clockTimes(v string) error {
	if v == "" {
		return fmt.Errorf("want a comma-separated list of HH:MM")
	}
	for t := range strings.SplitSeq(v, ",") {
		h, m, ok := strings.Cut(t, ":")
		hh, err1 := strconv.Atoi(h)
		mm, err2 := strconv.Atoi(m)
		if !ok || len(h) != 2 || len(m) != 2 || err1 != nil || err2 != nil || hh > 23 || mm > 59 || hh < 0 || mm < 0 {
			return fmt.Errorf("%q: want HH:MM", t)
		}
	}
	return nil
}

// throttling accepts Pegasus's throttling spec: a comma-separated list of
// "<count>[K|M]*<delay|reject>*<ms>", e.g. "20000*delay*100,40000*reject*200".
func throttling(v string) error {
	if v == "" {
		return fmt.Errorf("empty throttling spec")
	}
	for part := range strings.SplitSeq(v, ",") {
		fields := strings.Split(part, "*")
		if len(fields) != 3 {
			return fmt.Errorf("%q: want <count>*<delay|reject>*<ms>", part)
		}
		count := strings.TrimRight(fields[0], "KM")
		if len(fields[0])-len(count) > 1 {
			return fmt.Errorf("%q: bad count %q", part, fields[0])
		}
		if n, err := strconv.ParseInt(count, 10, 64); err != nil || n < 0 {
			return fmt.Errorf("%q: bad count %q", part, fields[0])
		}
		if fields[1] != "delay" && fields[1] != "reject" {
			return fmt.Errorf("%q: want delay or reject, not %q", part, fields[1])
		}
		if n, err := strconv.ParseInt(fields[2], 10, 64); err != nil || n < 0 {
			return fmt.Errorf("%q: bad milliseconds %q", part, fields[2])
		}
	}
	return nil
}
