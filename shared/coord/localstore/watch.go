package localstore

import (
	"context"
	"syscall"

	"github.com/pegasus-go/pegasus/shared/coord"
)

type watchKind uint8

const (
	kindData     watchKind = iota + 1 // GetW: data change or deletion
	kindExists                        // ExistsW: creation when absent, else like kindData
	kindChildren                      // ChildrenW: child create/delete or deletion
	kindAlive                         // internal: deletion only (leader nodes)
)

// watch is one pending one-shot watch. The node's revisions at the time the
// watch was set are its baseline: a different creation revision means the
// node was deleted (and maybe created again), a different modification or
// children revision means a data or children change. So no change is
// missed, however many happen between two polls.
type watch struct {
	rel, abs string
	kind     watchKind
	exists   bool
	czxid    int64
	mzxid    int64
	pzxid    int64
	seen     int64 // store transaction the baseline is known valid for
	ch       chan coord.Event
}

// fire delivers ev and closes the channel. Only the goroutine that removed
// w from the store's list calls it.
func (w *watch) fire(ev coord.Event) {
	w.ch <- ev
	close(w.ch)
}

// addWatch registers w and returns its channel. After the session ended
// the watch fires EventNotWatching at once.
func (s *Store) addWatch(w *watch) <-chan coord.Event {
	w.ch = make(chan coord.Event, 1)
	s.mu.Lock()
	if s.mu.released {
		s.mu.Unlock()
		w.fire(coord.Event{Type: coord.EventNotWatching, Path: w.rel, Err: s.life.Err()})
		return w.ch
	}
	s.mu.watches = append(s.mu.watches, w)
	s.mu.Unlock()
	return w.ch
}

// removeWatch unregisters w without firing it; it reports whether w was
// still registered.
func (s *Store) removeWatch(w *watch) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.mu.watches {
		if x == w {
			s.mu.watches = append(s.mu.watches[:i], s.mu.watches[i+1:]...)
			return true
		}
	}
	return false
}

// pollWatches evaluates the registered watches against the tree when a
// transaction has committed since they were last checked, and fires those
// that saw a change, in registration order. Only the background loop calls
// it.
func (s *Store) pollWatches(ctx context.Context) {
	s.mu.Lock()
	if len(s.mu.watches) == 0 {
		s.mu.Unlock()
		return
	}
	ws := append([]*watch(nil), s.mu.watches...)
	s.mu.Unlock()
	minSeen := ws[0].seen
	for _, w := range ws {
		minSeen = min(minSeen, w.seen)
	}
	if s.d.zxid() <= minSeen {
		return // nothing committed since every watch was last checked
	}
	f, err := s.d.lock(ctx, syscall.LOCK_SH)
	if err != nil {
		return
	}
	if s.d.hasJournal() {
		f.Close()
		return // the next writer replays it; look again next time
	}
	st, _, err := s.d.readState()
	if err != nil {
		f.Close()
		return
	}
	fired := map[*watch]coord.Event{}
	for _, w := range ws {
		if w.seen >= st.Zxid {
			continue
		}
		ev, ok, err := s.evaluate(w)
		if err != nil {
			continue
		}
		if ok {
			fired[w] = ev
		} else {
			w.seen = st.Zxid
		}
	}
	f.Close()
	if len(fired) == 0 {
		return
	}
	s.mu.Lock()
	kept := s.mu.watches[:0]
	var deliver []*watch
	for _, w := range s.mu.watches {
		if _, ok := fired[w]; ok {
			deliver = append(deliver, w)
		} else {
			kept = append(kept, w)
		}
	}
	clear(s.mu.watches[len(kept):])
	s.mu.watches = kept
	s.mu.Unlock()
	for _, w := range deliver {
		w.fire(fired[w])
	}
}

// evaluate compares w's baseline with the node now. Caller holds the lock.
func (s *Store) evaluate(w *watch) (coord.Event, bool, error) {
	m, ok, err := s.d.readMeta(w.abs)
	if err != nil {
		return coord.Event{}, false, err
	}
	ev := func(t coord.EventType) (coord.Event, bool, error) {
		return coord.Event{Type: t, Path: w.rel}, true, nil
	}
	if !w.exists {
		if ok {
			return ev(coord.EventCreated)
		}
		return coord.Event{}, false, nil
	}
	if !ok || m.Czxid != w.czxid {
		return ev(coord.EventDeleted)
	}
	switch w.kind {
	case kindData, kindExists:
		if m.Mzxid != w.mzxid {
			return ev(coord.EventDataChanged)
		}
	case kindChildren:
		if m.Pzxid != w.pzxid {
			return ev(coord.EventChildrenChanged)
		}
	}
	return coord.Event{}, false, nil
}
