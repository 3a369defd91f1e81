package coord

import (
	"context"
	"errors"
	"slices"
	"strings"
)

// EnsurePath creates path and every missing ancestor as empty persistent
// nodes. A node that already exists, at any level, is left as it is.
func EnsurePath(ctx context.Context, s Store, path string) error {
	if err := ValidatePath(path); err != nil {
		return err
	}
	if path == "/" {
		return nil
	}
	if _, ok, err := s.Exists(ctx, path); err != nil || ok {
		return err
	}
	for i := 1; i <= len(path); i++ {
		if i < len(path) && path[i] != '/' {
			continue
		}
		_, err := s.Create(ctx, path[:i], nil, Persistent)
		if err != nil && !errors.Is(err, ErrNodeExists) {
			return err
		}
	}
	return nil
}

// CreateAll creates path with data and mode like Store.Create, first
// creating every missing ancestor as an empty persistent node. It returns
// ErrNodeExists when path itself exists (for non-sequential modes).
func CreateAll(ctx context.Context, s Store, path string, data []byte, mode Mode) (string, error) {
	if err := ValidatePath(path); err != nil {
		return "", err
	}
	// A concurrent Delete of an ancestor can race with us; a few rounds
	// settle any realistic interleaving.
	const attempts = 5
	var err error
	for range attempts {
		var created string
		created, err = s.Create(ctx, path, data, mode)
		if !errors.Is(err, ErrNoNode) {
			return created, err
		}
		if err := EnsurePath(ctx, s, Parent(path)); err != nil {
			return "", err
		}
	}
	return "", err
}

// LockNodePrefix is the name prefix of the candidate nodes Campaign creates
// under an election path. They are Ephemeral|Sequential, so the candidate
// with the lowest sequence number leads.
const LockNodePrefix = "lock-"

// SortCandidates returns the election children that carry a sequence
// suffix, ordered by it (lowest, the leader, first). Other names are
// ignored.
func SortCandidates(children []string) []string {
	type cand struct {
		name string
		seq  int64
	}
	cs := make([]cand, 0, len(children))
	for _, c := range children {
		if !strings.Contains(c, LockNodePrefix) {
			continue
		}
		if seq, ok := SequenceOf(c); ok {
			cs = append(cs, cand{c, seq})
		}
	}
	slices.SortFunc(cs, func(a, b cand) int {
		if a.seq != b.seq {
			if a.seq < b.seq {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.name
	}
	return out
}

// Leader returns the value published by the current leader of the election
// at path, and false when nobody leads (no candidate, or no election node).
func Leader(ctx context.Context, s Store, path string) ([]byte, bool, error) {
	for {
		children, _, err := s.Children(ctx, path)
		if errors.Is(err, ErrNoNode) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		cands := SortCandidates(children)
		if len(cands) == 0 {
			return nil, false, nil
		}
		data, _, err := s.Get(ctx, Join(path, cands[0]))
		if errors.Is(err, ErrNoNode) {
			continue // the leader left between the two reads; look again
		}
		if err != nil {
			return nil, false, err
		}
		return data, true, nil
	}
}

// LeaderW is Leader plus a one-shot watch that fires when the set of
// candidates changes (so possibly the leader), or, when the election node
// does not exist yet, when it is created. The watch can fire for a change
// that leaves the leader as it was (a follower joining or leaving); call
// LeaderW again and compare.
func LeaderW(ctx context.Context, s Store, path string) ([]byte, bool, <-chan Event, error) {
	for {
		children, _, w, err := s.ChildrenW(ctx, path)
		if errors.Is(err, ErrNoNode) {
			_, ok, ew, err := s.ExistsW(ctx, path)
			if err != nil {
				return nil, false, nil, err
			}
			if ok {
				continue // created in between; watch its children instead
			}
			return nil, false, ew, nil
		}
		if err != nil {
			return nil, false, nil, err
		}
		cands := SortCandidates(children)
		if len(cands) == 0 {
			return nil, false, w, nil
		}
		data, _, err := s.Get(ctx, Join(path, cands[0]))
		if errors.Is(err, ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, false, nil, err
		}
		return data, true, w, nil
	}
}

// ValidateCreate checks the arguments of Store.Create.
func ValidateCreate(path string, data []byte, mode Mode) error {
	return CreateOp(path, data, mode).Validate()
}

// pathErr wraps err with op and path unless it is nil.
func pathErr(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return &PathError{Op: op, Path: path, Err: err}
}

// WrapPath wraps err in a *PathError for op and path; nil stays nil.
// Implementations use it so every backend reports errors alike.
func WrapPath(op, path string, err error) error {
	var pe *PathError
	if errors.As(err, &pe) {
		return err
	}
	return pathErr(op, path, err)
}

// ValidateMulti validates every op and returns a *MultiError for the first
// invalid one.
func ValidateMulti(ops []Op) error {
	for i, op := range ops {
		if err := op.Validate(); err != nil {
			return &MultiError{Index: i, Op: op, Err: err}
		}
	}
	return nil
}
