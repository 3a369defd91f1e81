package robustness

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// OpKind is the kind of one recorded client call.
type OpKind uint8

// Operation kinds of the workload.
const (
	OpGet OpKind = iota
	OpSet
	OpDel
	OpCAS  // check_and_set: set Value when the record equals Expect (absent when ExpectAbsent)
	OpIncr // incr by Value
)

var opNames = [...]string{"get", "set", "del", "cas", "incr"}

func (k OpKind) String() string {
	if int(k) < len(opNames) {
		return opNames[k]
	}
	return fmt.Sprintf("op%d", k)
}

// IsWrite reports whether the operation may change the record.
func (k OpKind) IsWrite() bool { return k != OpGet }

// Input is what a call asked for.
type Input struct {
	Kind OpKind
	Key  string
	// Value: set's value, cas's new value, incr's delta.
	Value int64
	// Expect and ExpectAbsent: cas's check.
	Expect       int64
	ExpectAbsent bool
}

// Output is what a call returned.
type Output struct {
	// Found and Value: get's answer (Value also incr's new value).
	Found bool
	Value int64
	// Passed: cas's check passed.
	Passed bool
	// Unknown: a write whose outcome is unknown (failed or timed out):
	// it may have been applied at any point after its call.
	Unknown bool
}

// Op is one recorded call. Times are nanoseconds since the campaign began;
// an unknown write returns at infinity (math.MaxInt64).
type Op struct {
	Client int
	In     Input
	Out    Output
	Call   int64
	Return int64
	Err    string
}

// Infinity is the return time of a write with an unknown outcome.
const Infinity = int64(math.MaxInt64)

// record is the model's state of one key: absent, or an int64 value.
type record struct {
	exists bool
	v      int64
}

// step applies in to st and reports whether out is a possible answer.
func step(st record, in Input, out Output) (bool, record) {
	switch in.Kind {
	case OpGet:
		return out.Found == st.exists && (!st.exists || out.Value == st.v), st
	case OpSet:
		return true, record{true, in.Value}
	case OpDel:
		return true, record{}
	case OpIncr:
		base := int64(0)
		if st.exists {
			base = st.v
		}
		nv := base + in.Value
		return out.Unknown || out.Value == nv, record{true, nv}
	case OpCAS:
		pass := !st.exists
		if !in.ExpectAbsent {
			pass = st.exists && st.v == in.Expect
		}
		if !out.Unknown && out.Passed != pass {
			return false, st
		}
		if pass {
			return true, record{true, in.Value}
		}
		return true, st
	}
	return false, st
}

// describe renders a call for the visualisation.
func describe(in Input, out Output) string {
	var res string
	switch {
	case out.Unknown:
		res = "?"
	case in.Kind == OpGet && !out.Found:
		res = "absent"
	case in.Kind == OpGet || in.Kind == OpIncr:
		res = fmt.Sprint(out.Value)
	case in.Kind == OpCAS:
		res = fmt.Sprint(out.Passed)
	default:
		res = "ok"
	}
	switch in.Kind {
	case OpGet, OpDel:
		return fmt.Sprintf("%s(%s) -> %s", in.Kind, in.Key, res)
	case OpCAS:
		exp := fmt.Sprint(in.Expect)
		if in.ExpectAbsent {
			exp = "absent"
		}
		return fmt.Sprintf("cas(%s, %s=>%d) -> %s", in.Key, exp, in.Value, res)
	}
	return fmt.Sprintf("%s(%s, %d) -> %s", in.Kind, in.Key, in.Value, res)
}

// Model is the porcupine model of the workload: a map of independent
// int64 registers, partitioned by key.
var Model = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(Input).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return record{} },
	Step: func(state, input, output any) (bool, any) {
		return step(state.(record), input.(Input), output.(Output))
	},
	Equal: func(a, b any) bool { return a.(record) == b.(record) },
	Hash: func(s any) uint64 {
		r := s.(record)
		if !r.exists {
			return 0
		}
		return uint64(r.v)*0x9e3779b97f4a7c15 + 1
	},
	DescribeOperation: func(input, output any) string { return describe(input.(Input), output.(Output)) },
	DescribeState: func(s any) string {
		r := s.(record)
		if !r.exists {
			return "absent"
		}
		return fmt.Sprint(r.v)
	},
}

// KeyResult is the linearizability verdict on one key's history.
type KeyResult struct {
	Key    string
	Ops    int
	Result porcupine.CheckResult
	// Visualization is the HTML file written for a key that is not Ok.
	Visualization string
}

// CheckResult sums up a linearizability check.
type CheckResult struct {
	Ops  int // operations checked
	Keys int
	// Failed lists the keys whose history is Illegal or Unknown (a timeout
	// fails like a violation).
	Failed []KeyResult
}

// Check checks every key's history for linearizability, each with its own
// timeout, and writes a porcupine visualisation into dir for every key
// that is not Ok (annotated with notes, e.g. the faults).
func Check(ops []Op, timeout time.Duration, dir string, notes []porcupine.Annotation) CheckResult {
	byKey := map[string][]porcupine.Operation{}
	for _, op := range ops {
		byKey[op.In.Key] = append(byKey[op.In.Key], porcupine.Operation{
			ClientId: op.Client, Input: op.In, Output: op.Out, Call: op.Call, Return: op.Return,
		})
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range byKey {
			if !yield(k) {
				return
			}
		}
	})
	res := CheckResult{Keys: len(keys)}
	single := Model
	single.Partition = nil
	for _, k := range keys {
		h := byKey[k]
		res.Ops += len(h)
		r, info := porcupine.CheckOperationsVerbose(single, h, timeout)
		if r == porcupine.Ok {
			continue
		}
		kr := KeyResult{Key: k, Ops: len(h), Result: r}
		if dir != "" {
			info.AddAnnotations(notes)
			path := filepath.Join(dir, "linearizability-"+sanitize(k)+".html")
			if err := os.MkdirAll(dir, 0o755); err == nil && porcupine.VisualizePath(single, info, path) == nil {
				kr.Visualization = path
			}
		}
		res.Failed = append(res.Failed, kr)
	}
	return res
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}
