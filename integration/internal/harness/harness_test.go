package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pegasus-go/pegasus/tools/onebox"
)

// recorder is a testing.TB that records errors instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestCheckOutputsReportsRacesAndPanics(t *testing.T) {
	dir := t.TempDir()
	outputs := map[string]string{
		"onebox/meta1":    "==== onebox: starting\nall fine\n",
		"onebox/replica1": "==== onebox: starting\n==================\nWARNING: DATA RACE\nWrite at 0x00c000 by goroutine 7:\n",
		"onebox/replica2": "panic: runtime error: index out of range\n\ngoroutine 1 [running]:\n",
	}
	st := onebox.State{Version: 1, Dir: dir}
	for name, text := range outputs {
		p := filepath.Join(dir, strings.ReplaceAll(name, "/", "-")+".out")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		st.Instances = append(st.Instances, onebox.Instance{Name: name, Output: p})
	}
	b, _ := json.Marshal(st)
	if err := os.WriteFile(filepath.Join(dir, onebox.StateFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	r := &recorder{TB: t}
	CheckOutputs(r, dir)
	if len(r.errs) != 2 {
		t.Fatalf("errors %q, want one for replica1 and one for replica2", r.errs)
	}
	joined := strings.Join(r.errs, "\n")
	for _, want := range []string{"onebox/replica1 reported \"WARNING: DATA RACE\"", "onebox/replica2 reported \"panic:\"", "goroutine 7"} {
		if !strings.Contains(joined, want) {
			t.Errorf("errors %q lack %q", joined, want)
		}
	}
}

func TestRowsAreDistinct(t *testing.T) {
	seen := map[string]bool{}
	for i := range 1000 {
		hk, sk, v := Key(i)
		k := string(hk) + "/" + string(sk)
		if seen[k] || len(v) == 0 {
			t.Fatalf("row %d: key %s repeated or empty value", i, k)
		}
		seen[k] = true
	}
}
