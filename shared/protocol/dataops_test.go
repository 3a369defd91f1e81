package protocol

import (
	"errors"
	"testing"
)

func TestCheckTypeEvaluate(t *testing.T) {
	const missing = "\x00missing" // marks a record that does not exist
	cases := []struct {
		ct      CheckType
		value   string // missing = no record
		operand string
		want    bool
		code    ErrorCode // CodeOK = no error
	}{
		{CheckNoCheck, missing, "", true, CodeOK},
		{CheckNoCheck, "x", "", true, CodeOK},
		{CheckValueNotExist, missing, "", true, CodeOK},
		{CheckValueNotExist, "", "", false, CodeOK},
		{CheckValueNotExistOrEmpty, missing, "", true, CodeOK},
		{CheckValueNotExistOrEmpty, "", "", true, CodeOK},
		{CheckValueNotExistOrEmpty, "v", "", false, CodeOK},
		{CheckValueExist, missing, "", false, CodeOK},
		{CheckValueExist, "", "", true, CodeOK},
		{CheckValueNotEmpty, missing, "", false, CodeOK},
		{CheckValueNotEmpty, "", "", false, CodeOK},
		{CheckValueNotEmpty, "v", "", true, CodeOK},
		{CheckMatchAnywhere, "abcde", "bcd", true, CodeOK},
		{CheckMatchAnywhere, "abcde", "xyz", false, CodeOK},
		{CheckMatchAnywhere, "abcde", "", true, CodeOK},
		{CheckMatchAnywhere, "", "", true, CodeOK},
		{CheckMatchAnywhere, missing, "", false, CodeOK},
		{CheckMatchPrefix, "abcde", "ab", true, CodeOK},
		{CheckMatchPrefix, "abcde", "bc", false, CodeOK},
		{CheckMatchPrefix, missing, "ab", false, CodeOK},
		{CheckMatchPostfix, "abcde", "de", true, CodeOK},
		{CheckMatchPostfix, "abcde", "cd", false, CodeOK},
		{CheckBytesLess, "abc", "abd", true, CodeOK},
		{CheckBytesLess, "abc", "abc", false, CodeOK},
		{CheckBytesLess, missing, "z", false, CodeOK},
		{CheckBytesLessOrEqual, "abc", "abc", true, CodeOK},
		{CheckBytesLessOrEqual, "abd", "abc", false, CodeOK},
		{CheckBytesEqual, "abc", "abc", true, CodeOK},
		{CheckBytesEqual, "", "", true, CodeOK},
		{CheckBytesEqual, "abc", "ab", false, CodeOK},
		{CheckBytesGreaterOrEqual, "abc", "abc", true, CodeOK},
		{CheckBytesGreaterOrEqual, "ab", "abc", false, CodeOK},
		{CheckBytesGreater, "b", "abc", true, CodeOK},
		{CheckBytesGreater, "abc", "abc", false, CodeOK},
		// Int comparisons are numeric, not bytewise.
		{CheckIntLess, "9", "10", true, CodeOK},
		{CheckIntLess, "10", "10", false, CodeOK},
		{CheckIntLess, "-3", "-2", true, CodeOK},
		{CheckIntLessOrEqual, "10", "10", true, CodeOK},
		{CheckIntLessOrEqual, "11", "10", false, CodeOK},
		{CheckIntEqual, "30", "30", true, CodeOK},
		{CheckIntEqual, "30", "31", false, CodeOK},
		{CheckIntGreaterOrEqual, "10", "10", true, CodeOK},
		{CheckIntGreaterOrEqual, "9", "10", false, CodeOK},
		{CheckIntGreater, "10", "9", true, CodeOK},
		{CheckIntGreater, "9223372036854775807", "-9223372036854775808", true, CodeOK},
		{CheckIntGreater, "9", "9", false, CodeOK},
		// A missing record fails an int check without parsing anything.
		{CheckIntEqual, missing, "zz", false, CodeOK},
		// Unparsable sides of an existing record are invalid arguments.
		{CheckIntEqual, "abc", "1", false, CodeInvalidArgument},
		{CheckIntEqual, "1", "abc", false, CodeInvalidArgument},
		{CheckIntLess, "", "1", false, CodeInvalidArgument},
		{CheckIntLess, "12a", "1", false, CodeInvalidArgument},
		{CheckIntGreater, "9223372036854775808", "1", false, CodeInvalidArgument},
		// Unknown check types are invalid arguments.
		{CheckType(18), "v", "", false, CodeInvalidArgument},
		{CheckType(99), "v", "", false, CodeInvalidArgument},
		{CheckType(99), missing, "", false, CodeInvalidArgument},
	}
	for _, c := range cases {
		exists := c.value != missing
		var value []byte
		if exists {
			value = []byte(c.value)
		}
		got, err := c.ct.Evaluate(exists, value, []byte(c.operand))
		if c.code != CodeOK {
			var perr *Error
			if !errors.As(err, &perr) || perr.Code != c.code {
				t.Errorf("Evaluate(%d, exists=%v, %q, %q) error = %v, want code %v", c.ct, exists, c.value, c.operand, err, c.code)
			}
			if got {
				t.Errorf("Evaluate(%d, exists=%v, %q, %q) passed together with an error", c.ct, exists, c.value, c.operand)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Evaluate(%d, exists=%v, %q, %q) = %v, %v; want %v, nil", c.ct, exists, c.value, c.operand, got, err, c.want)
		}
	}
}

func TestFilterMatch(t *testing.T) {
	cases := []struct {
		f    Filter
		key  string
		want bool
	}{
		{Filter{}, "anything", true},
		{Filter{Type: FilterNone, Pattern: []byte("zz")}, "abc", true},
		{Filter{Type: FilterAnywhere, Pattern: []byte("bc")}, "abcd", true},
		{Filter{Type: FilterAnywhere, Pattern: []byte("x")}, "abcd", false},
		{Filter{Type: FilterAnywhere}, "", true},
		{Filter{Type: FilterPrefix, Pattern: []byte("ab")}, "abcd", true},
		{Filter{Type: FilterPrefix, Pattern: []byte("bc")}, "abcd", false},
		{Filter{Type: FilterPrefix, Pattern: []byte("abcde")}, "abcd", false},
		{Filter{Type: FilterPrefix}, "abcd", true},
		{Filter{Type: FilterPostfix, Pattern: []byte("cd")}, "abcd", true},
		{Filter{Type: FilterPostfix, Pattern: []byte("bc")}, "abcd", false},
		{Filter{Type: FilterPostfix}, "", true},
		{Filter{Type: FilterType(9), Pattern: []byte("zz")}, "abc", true},
	}
	for _, c := range cases {
		if got := c.f.Match([]byte(c.key)); got != c.want {
			t.Errorf("Filter{%d, %q}.Match(%q) = %v, want %v", c.f.Type, c.f.Pattern, c.key, got, c.want)
		}
	}
}
