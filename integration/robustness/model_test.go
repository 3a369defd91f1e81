package robustness

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

func set(c int, key string, v int64, call, ret int64) Op {
	return Op{Client: c, In: Input{Kind: OpSet, Key: key, Value: v}, Call: call, Return: ret}
}

func get(c int, key string, found bool, v int64, call, ret int64) Op {
	return Op{Client: c, In: Input{Kind: OpGet, Key: key}, Out: Output{Found: found, Value: v}, Call: call, Return: ret}
}

func TestCheckLinearizable(t *testing.T) {
	ops := []Op{
		set(0, "a", 1, 0, 10),
		get(1, "a", true, 1, 11, 12),
		// A set and a concurrent get that sees either value.
		set(0, "a", 2, 20, 30),
		get(1, "a", true, 1, 21, 22),
		get(2, "a", true, 2, 25, 26),
		{Client: 0, In: Input{Kind: OpIncr, Key: "a", Value: 3}, Out: Output{Value: 5}, Call: 31, Return: 32},
		{Client: 1, In: Input{Kind: OpCAS, Key: "a", Expect: 5, Value: 9}, Out: Output{Passed: true}, Call: 33, Return: 34},
		{Client: 2, In: Input{Kind: OpCAS, Key: "a", Expect: 5, Value: 10}, Out: Output{Passed: false}, Call: 35, Return: 36},
		{Client: 0, In: Input{Kind: OpDel, Key: "a"}, Call: 37, Return: 38},
		get(1, "a", false, 0, 39, 40),
		{Client: 1, In: Input{Kind: OpCAS, Key: "a", ExpectAbsent: true, Value: 11}, Out: Output{Passed: true}, Call: 41, Return: 42},
		get(2, "a", true, 11, 43, 44),
		// Another key is independent.
		get(0, "b", false, 0, 0, 1),
	}
	if res := Check(ops, 10*time.Second, "", nil); len(res.Failed) != 0 || res.Ops != len(ops) || res.Keys != 2 {
		t.Fatalf("linearizable history judged %+v", res)
	}
}

// An unknown write may have been applied at any point after its call, or
// never.
func TestCheckUnknownWrites(t *testing.T) {
	unknown := Op{Client: 0, In: Input{Kind: OpSet, Key: "a", Value: 7}, Out: Output{Unknown: true}, Call: 5, Return: Infinity}
	applied := []Op{set(1, "a", 1, 0, 1), unknown, get(2, "a", true, 7, 100, 101)}
	notApplied := []Op{set(1, "a", 1, 0, 1), unknown, get(2, "a", true, 1, 100, 101)}
	for name, ops := range map[string][]Op{"applied": applied, "not applied": notApplied} {
		if res := Check(ops, 10*time.Second, "", nil); len(res.Failed) != 0 {
			t.Errorf("%s: %+v", name, res)
		}
	}
	// An unknown incr: its new value is not known either.
	incr := []Op{set(1, "a", 1, 0, 1), {Client: 0, In: Input{Kind: OpIncr, Key: "a", Value: 2}, Out: Output{Unknown: true}, Call: 2, Return: Infinity},
		get(2, "a", true, 3, 10, 11)}
	if res := Check(incr, 10*time.Second, "", nil); len(res.Failed) != 0 {
		t.Errorf("unknown incr: %+v", res)
	}
}

// The checker fails a stale read (a value overwritten before the read
// began) and a lost acknowledged write, and writes the visualisation.
func TestCheckViolations(t *testing.T) {
	dir := t.TempDir()
	stale := []Op{set(0, "k", 1, 0, 1), set(0, "k", 2, 2, 3), get(1, "k", true, 1, 4, 5)}
	res := Check(stale, 10*time.Second, dir, []porcupine.Annotation{{Tag: "nemesis", Start: 1, End: 4, Description: "test"}})
	if len(res.Failed) != 1 || res.Failed[0].Result != porcupine.Illegal {
		t.Fatalf("stale read judged %+v", res)
	}
	if _, err := os.Stat(res.Failed[0].Visualization); err != nil || filepath.Dir(res.Failed[0].Visualization) != dir {
		t.Fatalf("visualization %q: %v", res.Failed[0].Visualization, err)
	}
	lost := []Op{set(0, "k", 1, 0, 1), get(1, "k", false, 0, 4, 5)}
	if res := Check(lost, 10*time.Second, "", nil); len(res.Failed) != 1 {
		t.Fatalf("lost write judged %+v", res)
	}
	wrongIncr := []Op{set(0, "k", 1, 0, 1), {In: Input{Kind: OpIncr, Key: "k", Value: 1}, Out: Output{Value: 5}, Call: 2, Return: 3}}
	if res := Check(wrongIncr, 10*time.Second, "", nil); len(res.Failed) != 1 {
		t.Fatalf("wrong incr judged %+v", res)
	}
	wrongCAS := []Op{set(0, "k", 1, 0, 1), {In: Input{Kind: OpCAS, Key: "k", Expect: 1, Value: 3}, Out: Output{Passed: false}, Call: 2, Return: 3}}
	if res := Check(wrongCAS, 10*time.Second, "", nil); len(res.Failed) != 1 {
		t.Fatalf("wrong cas judged %+v", res)
	}
}

func TestDescribe(t *testing.T) {
	for in, want := range map[Input]string{
		{Kind: OpGet, Key: "k"}:                               "get(k) -> absent",
		{Kind: OpCAS, Key: "k", ExpectAbsent: true, Value: 4}: "cas(k, absent=>4) -> false",
		{Kind: OpIncr, Key: "k", Value: 2}:                    "incr(k, 2) -> 0",
	} {
		if got := describe(in, Output{}); got != want {
			t.Errorf("describe(%+v) = %q, want %q", in, got, want)
		}
	}
	if got := describe(Input{Kind: OpSet, Key: "k", Value: 1}, Output{Unknown: true}); got != "set(k, 1) -> ?" {
		t.Errorf("unknown set: %q", got)
	}
}
