package failpoint

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	r, err := Parse(" plog-sync-error=0.5 ; clock-offset=-1500ms;")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Probability(PlogSyncError); got != 0.5 {
		t.Errorf("plog-sync-error = %v, want 0.5", got)
	}
	if got := r.Probability(PlogWriteError); got != 0 {
		t.Errorf("plog-write-error = %v, want 0", got)
	}
	if got := r.Offset(); got != -1500*time.Millisecond {
		t.Errorf("clock-offset = %v", got)
	}
	if _, err := Parse(""); err != nil {
		t.Errorf("empty spec: %v", err)
	}
	for _, bad := range []string{"nope=1", "plog-write-error=2", "plog-write-error=NaN", "clock-offset=soon", "plog-sync-error"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
	if _, err := Parse("nope=1"); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown name: %v, want ErrUnknown", err)
	}
}

func TestSetSpecAllOrNothing(t *testing.T) {
	r := New()
	if err := r.SetSpec("plog-write-error=1;clock-offset=bad"); err == nil {
		t.Fatal("invalid spec accepted")
	}
	if r.Probability(PlogWriteError) != 0 {
		t.Fatal("a rejected spec changed a failpoint")
	}
	if err := r.Set(PlogWriteError, "1"); err != nil {
		t.Fatal(err)
	}
	if err := r.Set(PlogWriteError, "off"); err != nil || r.Probability(PlogWriteError) != 0 {
		t.Fatalf("off: %v, %v", err, r.Probability(PlogWriteError))
	}
}

func TestFire(t *testing.T) {
	r := New()
	if r.Fire(PlogWriteError) {
		t.Fatal("an off failpoint fired")
	}
	_ = r.Set(PlogWriteError, "1")
	for range 10 {
		if !r.Fire(PlogWriteError) {
			t.Fatal("a probability-1 failpoint did not fire")
		}
	}
	if st := r.States(); st[2].Name != PlogWriteError || st[2].Fired != 10 || st[2].Value != "1" {
		t.Fatalf("states %+v", st)
	}
	if r.Fire("nope") {
		t.Fatal("an unknown failpoint fired")
	}
}

func TestClock(t *testing.T) {
	r := New()
	base := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := r.Clock(func() time.Time { return base })
	if !clock().Equal(base) {
		t.Fatal("clock shifted with the failpoint off")
	}
	_ = r.Set(ClockOffset, "-3s")
	if got := clock(); !got.Equal(base.Add(-3 * time.Second)) {
		t.Fatalf("clock = %v, want 3s before %v", got, base)
	}
	if r.Clock(nil)().IsZero() {
		t.Fatal("default clock")
	}
}

func TestHandler(t *testing.T) {
	r := New()
	h := r.Handler()
	do := func(method, target, body string) (int, []State) {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, target, strings.NewReader(body)))
		var st []State
		if rec.Code == http.StatusOK {
			if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
				t.Fatal(err)
			}
		}
		return rec.Code, st
	}
	if code, _ := do(http.MethodPut, "/debug/failpoints?name=clock-offset&value=2s", ""); code != http.StatusOK || r.Offset() != 2*time.Second {
		t.Fatalf("PUT by query: %d, offset %v", code, r.Offset())
	}
	if code, _ := do(http.MethodPost, "/debug/failpoints", "plog-sync-error=1"); code != http.StatusOK || r.Probability(PlogSyncError) != 1 {
		t.Fatalf("POST spec: %d", code)
	}
	if code, _ := do(http.MethodPut, "/debug/failpoints?name=clock-offset&value=x", ""); code != http.StatusBadRequest {
		t.Fatalf("bad value: %d", code)
	}
	if code, _ := do(http.MethodPost, "/debug/failpoints", strings.Repeat("x", maxSpecBytes+1)); code != http.StatusBadRequest {
		t.Fatalf("huge body: %d", code)
	}
	if code, _ := do(http.MethodDelete, "/debug/failpoints?name=clock-offset", ""); code != http.StatusOK || r.Offset() != 0 {
		t.Fatalf("DELETE one: %d", code)
	}
	code, st := do(http.MethodGet, "/debug/failpoints", "")
	if code != http.StatusOK || len(st) != len(Names) || st[1].Value != "1" {
		t.Fatalf("GET: %d %+v", code, st)
	}
	if code, _ := do(http.MethodDelete, "/debug/failpoints", ""); code != http.StatusOK || r.Probability(PlogSyncError) != 0 {
		t.Fatalf("DELETE all: %d", code)
	}
	if code, _ := do(http.MethodPatch, "/debug/failpoints", ""); code != http.StatusMethodNotAllowed {
		t.Fatalf("PATCH: %d", code)
	}
}

func FuzzSetSpec(f *testing.F) {
	f.Add("plog-write-error=0.5;clock-offset=1s")
	f.Add("=;;=x")
	f.Fuzz(func(t *testing.T, spec string) {
		r := New()
		if err := r.SetSpec(spec); err == nil {
			_ = r.States()
		}
	})
}
