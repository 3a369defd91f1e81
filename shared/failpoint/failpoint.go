package failpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// EnvVar is the environment variable the daemon commands read: when it is
// set (even to ""), failpoints are enabled and start with its spec.
const EnvVar = "PEGASUS_FAILPOINTS"

// Names of the failpoints.
const (
	// PlogWriteError makes a write to a plog file fail with this
	// probability.
	PlogWriteError = "plog-write-error"
	// PlogSyncError makes a sync of a plog file fail with this probability.
	PlogSyncError = "plog-sync-error"
	// ClockOffset is added to every reading of the daemon's clock.
	ClockOffset = "clock-offset"
)

// Names lists every failpoint, sorted.
var Names = []string{ClockOffset, PlogSyncError, PlogWriteError}

// ErrUnknown is returned for a name that is not a failpoint.
var ErrUnknown = errors.New("failpoint: unknown failpoint")

// ErrInjected is the error the file-system hooks return for an injected
// failure.
var ErrInjected = errors.New("failpoint: injected error")

// maxSpecBytes bounds a spec read from an HTTP body.
const maxSpecBytes = 4 << 10

// point is one failpoint: its parsed value in an atomic word (a float64's
// bits for probabilities, nanoseconds for durations) plus its text.
type point struct {
	bits  atomic.Uint64
	text  atomic.Pointer[string]
	fired atomic.Int64
}

// Registry holds the current value of every failpoint of one process.
type Registry struct {
	points map[string]*point // fixed at New; values change atomically
}

// New returns a registry with every failpoint off.
func New() *Registry {
	r := &Registry{points: make(map[string]*point, len(Names))}
	for _, n := range Names {
		p := &point{}
		off := ""
		p.text.Store(&off)
		r.points[n] = p
	}
	return r
}

// Parse returns a registry set from spec (see the package doc).
func Parse(spec string) (*Registry, error) {
	r := New()
	if err := r.SetSpec(spec); err != nil {
		return nil, err
	}
	return r, nil
}

// parse validates value for failpoint name and returns its atomic word.
func parse(name, value string) (uint64, error) {
	switch name {
	case PlogWriteError, PlogSyncError:
		if value == "" {
			return math.Float64bits(0), nil
		}
		p, err := strconv.ParseFloat(value, 64)
		if err != nil || math.IsNaN(p) || p < 0 || p > 1 {
			return 0, fmt.Errorf("failpoint %s=%q: want a probability between 0 and 1", name, value)
		}
		return math.Float64bits(p), nil
	case ClockOffset:
		if value == "" {
			return 0, nil
		}
		d, err := time.ParseDuration(value)
		if err != nil {
			return 0, fmt.Errorf("failpoint %s=%q: want a duration such as -2s: %v", name, value, err)
		}
		return uint64(d), nil
	}
	return 0, fmt.Errorf("%w %q (known: %s)", ErrUnknown, name, strings.Join(Names, ", "))
}

// Set sets one failpoint; "" or "off" turns it off.
func (r *Registry) Set(name, value string) error {
	return r.SetSpec(name + "=" + value)
}

// SetSpec sets every failpoint a spec names, all or none.
func (r *Registry) SetSpec(spec string) error {
	type set struct {
		p     *point
		bits  uint64
		value string
	}
	var sets []set
	for item := range strings.SplitSeq(spec, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, value, ok := strings.Cut(item, "=")
		if !ok {
			return fmt.Errorf("failpoint spec item %q: want name=value", item)
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if value == "off" {
			value = ""
		}
		bits, err := parse(name, value)
		if err != nil {
			return err
		}
		sets = append(sets, set{r.points[name], bits, value})
	}
	for _, s := range sets {
		v := s.value
		s.p.bits.Store(s.bits)
		s.p.text.Store(&v)
	}
	return nil
}

// Reset turns every failpoint off.
func (r *Registry) Reset() {
	for _, n := range Names {
		_ = r.Set(n, "")
	}
}

// Probability returns the probability a PlogWriteError / PlogSyncError
// failpoint holds (0 when off).
func (r *Registry) Probability(name string) float64 {
	p, ok := r.points[name]
	if !ok {
		return 0
	}
	return math.Float64frombits(p.bits.Load())
}

// Fire reports whether a probability failpoint fires now (a random draw),
// and counts it when it does.
func (r *Registry) Fire(name string) bool {
	pr := r.Probability(name)
	if pr <= 0 || (pr < 1 && rand.Float64() >= pr) {
		return false
	}
	r.points[name].fired.Add(1)
	return true
}

// Offset returns the ClockOffset failpoint's value (0 when off).
func (r *Registry) Offset() time.Duration {
	return time.Duration(r.points[ClockOffset].bits.Load())
}

// Clock returns base (time.Now when nil) shifted by the ClockOffset
// failpoint at every reading. The shift applies to the whole reading, the
// monotonic part included: the daemon sees its clock jump when the offset
// changes.
func (r *Registry) Clock(base func() time.Time) func() time.Time {
	if base == nil {
		base = time.Now
	}
	p := r.points[ClockOffset]
	return func() time.Time {
		if off := time.Duration(p.bits.Load()); off != 0 {
			return base().Add(off)
		}
		return base()
	}
}

// State is one failpoint as Handler lists it.
type State struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	// Fired counts the failures a probability failpoint injected.
	Fired int64 `json:"fired"`
}

// States returns every failpoint, sorted by name.
func (r *Registry) States() []State {
	out := make([]State, 0, len(Names))
	for _, n := range Names {
		p := r.points[n]
		out = append(out, State{Name: n, Value: *p.text.Load(), Fired: p.fired.Load()})
	}
	slices.SortFunc(out, func(a, b State) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Handler serves the registry (see the package doc for the methods). Every
// answer is the JSON list of States; a bad request is a 400 with the
// reason.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var err error
		q := req.URL.Query()
		switch req.Method {
		case http.MethodGet, http.MethodHead:
		case http.MethodPut, http.MethodPost:
			if q.Has("name") {
				err = r.Set(q.Get("name"), q.Get("value"))
				break
			}
			var b []byte
			b, err = io.ReadAll(io.LimitReader(req.Body, maxSpecBytes+1))
			if err == nil && len(b) > maxSpecBytes {
				err = fmt.Errorf("failpoint spec longer than %d bytes", maxSpecBytes)
			}
			if err == nil {
				err = r.SetSpec(string(b))
			}
		case http.MethodDelete:
			if q.Has("name") {
				err = r.Set(q.Get("name"), "")
			} else {
				r.Reset()
			}
		default:
			w.Header().Set("Allow", "GET, PUT, POST, DELETE")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(r.States())
	})
}
