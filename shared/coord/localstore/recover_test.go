package localstore

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pegasus-go/pegasus/shared/coord"
)

// TestJournalReplay simulates a writer killed in the middle of applying a
// transaction: the next store to take the lock must finish it.
func TestJournalReplay(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Options{Dir: dir, Root: "/r"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Create(ctx, "/a", []byte("old"), coord.Persistent); err != nil {
		t.Fatal(err)
	}

	f, err := s.d.lock(ctx, syscall.LOCK_EX)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _, err := s.d.readState()
	if err != nil {
		t.Fatal(err)
	}
	tx := newTxn(s.d, st.Zxid+1, time.Now().UnixMilli())
	if _, err := tx.set("/r/a", []byte("new"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.create("/r/b", []byte("b"), coord.Persistent, 0); err != nil {
		t.Fatal(err)
	}
	st.Zxid = tx.zxid
	full := &journal{State: st, Actions: tx.acts}
	// Apply the first action only, then leave the journal behind as a
	// writer dying mid-apply would.
	if err := s.d.apply(&journal{State: st, Actions: tx.acts[:1]}); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeAtomic(s.d.path(journalFile), b); err != nil {
		t.Fatal(err)
	}
	f.Close()

	other, err := Open(ctx, Options{Dir: dir, Root: "/r"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	data, stat, err := other.Get(ctx, "/a")
	if err != nil || string(data) != "new" || stat.Version != 1 {
		t.Fatalf("after replay /a = %q %+v %v", data, stat, err)
	}
	data, _, err = other.Get(ctx, "/b")
	if err != nil || string(data) != "b" {
		t.Fatalf("after replay /b = %q %v", data, err)
	}
	_, root, err := other.Children(ctx, "/")
	if err != nil || root.NumChildren != 2 {
		t.Fatalf("after replay root %+v %v", root, err)
	}
	if _, err := os.Stat(s.d.path(journalFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("journal still there after replay: %v", err)
	}
}

// TestReaderReplays checks that a reader finding a journal replays it
// before answering rather than reading a half-applied transaction.
func TestReaderReplays(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Create(ctx, "/a", []byte("old"), coord.Persistent); err != nil {
		t.Fatal(err)
	}
	st, _, _ := s.d.readState()
	tx := newTxn(s.d, st.Zxid+1, time.Now().UnixMilli())
	if _, err := tx.set("/a", []byte("new"), coord.AnyVersion); err != nil {
		t.Fatal(err)
	}
	st.Zxid = tx.zxid
	b, _ := json.Marshal(&journal{State: st, Actions: tx.acts})
	if err := writeAtomic(s.d.path(journalFile), b); err != nil {
		t.Fatal(err)
	}
	data, _, err := s.Get(ctx, "/a")
	if err != nil || string(data) != "new" {
		t.Fatalf("read with a pending journal = %q %v", data, err)
	}
}

func TestOpenRefusesOtherFormats(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/"+stateFile, []byte(`{"format":99,"zxid":1,"next_session":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "format 99") {
		t.Fatalf("Open of a format 99 store = %v", err)
	}
	if err := os.WriteFile(dir+"/"+stateFile, []byte(`{`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "corrupt state") {
		t.Fatalf("Open of a corrupt store = %v", err)
	}
	if _, err := Open(context.Background(), Options{}); !errors.Is(err, coord.ErrInvalidArgument) {
		t.Fatalf("Open without a directory = %v", err)
	}
	if _, err := Open(context.Background(), Options{Dir: dir, Root: "rel"}); !errors.Is(err, coord.ErrInvalidPath) {
		t.Fatalf("Open with a relative root = %v", err)
	}
}

func TestExpireUnknownSession(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := ExpireSession(context.Background(), dir, s.SessionID()+100); !errors.Is(err, coord.ErrNoNode) {
		t.Fatalf("expire of an unknown session = %v", err)
	}
}
