package coord

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	// MaxNameLen is the longest path component accepted, in bytes. The
	// local store maps components to directory names, so the bound keeps
	// them (plus a sequence suffix) inside every filesystem's name limit.
	MaxNameLen = 200
	// MaxPathLen is the longest path accepted, in bytes.
	MaxPathLen = 1024
	// SequenceDigits is the width of a Sequential node's suffix.
	SequenceDigits = 10
)

// ValidatePath reports whether p is a valid node path: it starts with "/",
// has no empty, "." or ".." component and no trailing slash (except "/"
// itself), is valid UTF-8 without control, private-use or special characters (the
// ranges ZooKeeper refuses), and respects
// MaxNameLen and MaxPathLen. The error wraps ErrInvalidPath.
func ValidatePath(p string) error {
	if p == "/" {
		return nil
	}
	bad := func(why string) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidPath, truncate(p), why)
	}
	switch {
	case p == "":
		return fmt.Errorf("%w: empty path", ErrInvalidPath)
	case len(p) > MaxPathLen:
		return bad(fmt.Sprintf("longer than %d bytes", MaxPathLen))
	case p[0] != '/':
		return bad("not absolute")
	case !utf8.ValidString(p):
		return bad("not valid UTF-8")
	}
	for _, r := range p {
		// The ranges ZooKeeper refuses: controls, private use, specials.
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || (r >= 0xe000 && r <= 0xf8ff) || r >= 0xfff0 && r <= 0xffff {
			return bad(fmt.Sprintf("contains the disallowed character %U", r))
		}
	}
	for name := range strings.SplitSeq(p[1:], "/") {
		switch {
		case name == "":
			return bad("empty component")
		case name == "." || name == "..":
			return bad("relative component")
		case len(name) > MaxNameLen:
			return bad(fmt.Sprintf("component longer than %d bytes", MaxNameLen))
		}
	}
	return nil
}

func truncate(p string) string {
	if len(p) > 64 {
		return p[:64] + "..."
	}
	return p
}

// Join returns the path of child name under parent.
func Join(parent, name string) string {
	if parent == "/" {
		return "/" + name
	}
	return parent + "/" + name
}

// Parent returns the parent of a valid path; the parent of "/" is "/".
func Parent(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// Base returns the last component of a valid path ("" for "/").
func Base(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}

// SequenceOf parses the suffix a Sequential create appended to name. It
// reports false when name does not end in SequenceDigits digits.
func SequenceOf(name string) (int64, bool) {
	if len(name) < SequenceDigits {
		return 0, false
	}
	n, err := strconv.ParseInt(name[len(name)-SequenceDigits:], 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// SequenceName returns name with the suffix a Sequential create appends for
// sequence number seq.
func SequenceName(name string, seq int32) string {
	return fmt.Sprintf("%s%0*d", name, SequenceDigits, seq)
}
