package ycsb

import (
	"fmt"
	"sort"
	"strconv"
)

// Workload names accepted by Run: "load" inserts every record; "a" to "f"
// are the standard YCSB core workloads.
const (
	WorkloadLoad = "load"
)

// FieldLength and FieldCount fix the record shape of every run: one field
// of 100 bytes, so a record maps to one value in every binding.
const (
	FieldCount  = 1
	FieldLength = 100
)

// coreWorkloads holds the operation mix of each standard YCSB workload
// (the workloads/workload[a-f] files of YCSB).
var coreWorkloads = map[string]map[string]string{
	"a": {"readproportion": "0.5", "updateproportion": "0.5"},
	"b": {"readproportion": "0.95", "updateproportion": "0.05"},
	"c": {"readproportion": "1"},
	"d": {"readproportion": "0.95", "insertproportion": "0.05", "requestdistribution": "latest"},
	"e": {"scanproportion": "0.95", "insertproportion": "0.05", "maxscanlength": "100",
		"scanlengthdistribution": "uniform"},
	"f": {"readproportion": "0.5", "readmodifywriteproportion": "0.5"},
}

// Workloads returns the known workload names, sorted.
func Workloads() []string {
	out := []string{WorkloadLoad}
	for k := range coreWorkloads {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// workloadProperties returns the go-ycsb properties of a run: the common
// record shape and distribution, then the workload's mix. Extra properties
// are applied by the caller afterwards and may override any of them.
func workloadProperties(name string, records, ops int64, threads int) (map[string]string, error) {
	p := map[string]string{
		"workload":            "core",
		"recordcount":         strconv.FormatInt(records, 10),
		"operationcount":      strconv.FormatInt(ops, 10),
		"threadcount":         strconv.Itoa(threads),
		"fieldcount":          strconv.Itoa(FieldCount),
		"fieldlength":         strconv.Itoa(FieldLength),
		"readallfields":       "true",
		"requestdistribution": "zipfian",
		"insertorder":         "hashed",
		// The worker loop reports progress every interval through
		// go-ycsb's own measurement; this package measures instead.
		"measurement.interval": "86400",
		"silence":              "true",
	}
	if name == WorkloadLoad {
		// go-ycsb's zipfian chooser draws keys from the closed range
		// [0, recordcount], so load inserts recordcount+1 records and no
		// read of a later run misses.
		p["dotransactions"] = "false"
		p["recordcount"] = strconv.FormatInt(records+1, 10)
		p["insertcount"] = strconv.FormatInt(records+1, 10)
		return p, nil
	}
	mix, ok := coreWorkloads[name]
	if !ok {
		return nil, fmt.Errorf("unknown workload %q (known: %v)", name, Workloads())
	}
	p["dotransactions"] = "true"
	for _, k := range []string{"readproportion", "updateproportion", "insertproportion", "scanproportion", "readmodifywriteproportion"} {
		p[k] = "0"
	}
	for k, v := range mix {
		p[k] = v
	}
	return p, nil
}
