package coord

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestValidatePath(t *testing.T) {
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"/", true},
		{"/a", true},
		{"/a/b-c_d.e/f", true},
		{"/таблица/表", true},
		{"/" + strings.Repeat("n", MaxNameLen), true},
		{"", false},
		{"a", false},
		{"a/b", false},
		{"/a/", false},
		{"//", false},
		{"/a//b", false},
		{"/.", false},
		{"/a/..", false},
		{"/a/./b", false},
		{"/a\x00", false},
		{"/a\tb", false},
		{"/a\x7f", false},
		{"/\ue000", false},
		{"/\ufff0", false},
		{"/\xff", false},
		{"/" + strings.Repeat("n", MaxNameLen+1), false},
		{strings.Repeat("/n", MaxPathLen/2+1), false},
	} {
		err := ValidatePath(tc.path)
		if (err == nil) != tc.ok {
			t.Errorf("ValidatePath(%q) = %v, want ok=%v", tc.path, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidPath) {
			t.Errorf("ValidatePath(%q) error %v does not wrap ErrInvalidPath", tc.path, err)
		}
	}
}

func TestPathHelpers(t *testing.T) {
	for _, tc := range []struct{ path, parent, base string }{
		{"/", "/", ""},
		{"/a", "/", "a"},
		{"/a/b", "/a", "b"},
		{"/a/b/c", "/a/b", "c"},
	} {
		if got := Parent(tc.path); got != tc.parent {
			t.Errorf("Parent(%q) = %q, want %q", tc.path, got, tc.parent)
		}
		if got := Base(tc.path); got != tc.base {
			t.Errorf("Base(%q) = %q, want %q", tc.path, got, tc.base)
		}
		if tc.path != "/" {
			if got := Join(tc.parent, tc.base); got != tc.path {
				t.Errorf("Join(%q, %q) = %q", tc.parent, tc.base, got)
			}
		}
	}
}

func TestSequence(t *testing.T) {
	name := SequenceName("lock-", 42)
	if name != "lock-0000000042" {
		t.Fatalf("SequenceName = %q", name)
	}
	if seq, ok := SequenceOf(name); !ok || seq != 42 {
		t.Fatalf("SequenceOf(%q) = %d, %v", name, seq, ok)
	}
	for _, bad := range []string{"", "lock-", "lock-12345678x9", "123"} {
		if _, ok := SequenceOf(bad); ok {
			t.Errorf("SequenceOf(%q) parsed", bad)
		}
	}
	got := SortCandidates([]string{
		"lock-0000000010",
		"_c_0123456789abcdef0123456789abcdef-lock-0000000002",
		"unrelated",
		"lock-0000000003",
		"lock-notanumber",
	})
	want := []string{"_c_0123456789abcdef0123456789abcdef-lock-0000000002", "lock-0000000003", "lock-0000000010"}
	if !slices.Equal(got, want) {
		t.Fatalf("SortCandidates = %v, want %v", got, want)
	}
}

func TestOpValidate(t *testing.T) {
	for _, tc := range []struct {
		op   Op
		want error
	}{
		{CreateOp("/a", nil, Ephemeral|Sequential), nil},
		{CreateOp("/a", nil, Mode(4)), ErrInvalidArgument},
		{CreateOp("/", nil, Persistent), ErrInvalidArgument},
		{CreateOp("a", nil, Persistent), ErrInvalidPath},
		{CreateOp("/a", make([]byte, MaxDataSize+1), Persistent), ErrInvalidArgument},
		{SetOp("/", []byte("x"), AnyVersion), nil},
		{SetOp("/a", nil, -2), ErrInvalidArgument},
		{DeleteOp("/", AnyVersion), ErrInvalidArgument},
		{DeleteOp("/a", 3), nil},
		{CheckOp("/", 0), nil},
		{Op{Kind: 9, Path: "/a"}, ErrInvalidArgument},
	} {
		err := tc.op.Validate()
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%+v.Validate() = %v, want %v", tc.op, err, tc.want)
		}
	}
	err := ValidateMulti([]Op{CheckOp("/a", 0), SetOp("bad", nil, 0)})
	var me *MultiError
	if !errors.As(err, &me) || me.Index != 1 || !errors.Is(err, ErrInvalidPath) {
		t.Fatalf("ValidateMulti = %v", err)
	}
}

func TestStringers(t *testing.T) {
	for _, s := range []interface{ String() string }{
		Persistent, Ephemeral | Sequential, Mode(9), EventCreated, EventType(0),
		SessionLost, SessionState(0), OpCheck, OpKind(0),
	} {
		if s.String() == "" {
			t.Errorf("%#v has an empty name", s)
		}
	}
	if (Ephemeral|Sequential).String() != "ephemeral|sequential" || !(Ephemeral | Sequential).Valid() || Mode(4).Valid() {
		t.Fatal("mode flags")
	}
}
