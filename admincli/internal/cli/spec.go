package cli

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// flagKind is the value type of a command flag.
type flagKind uint8

const (
	flagBool flagKind = iota
	flagString
	flagInt
)

// flagSpec describes one command flag.
type flagSpec struct {
	short    string // one letter, or ""
	long     string
	kind     flagKind
	value    string // value name in usage, e.g. "N"
	help     string
	required bool
	table    bool // the value is a table name (completion)
}

// argSpec describes one positional argument.
type argSpec struct {
	name     string
	help     string
	optional bool
	list     bool // takes every remaining argument (always last)
	table    bool // completes table names
}

// command is one shell command.
type command struct {
	name  string
	help  string
	long  string // extra help text, may be empty
	group string // help group
	flags []flagSpec
	args  []argSpec
	run   func(ctx context.Context, s *session, in *input) error
	// noMeta: the command does not talk to the meta servers, so it runs
	// without -m.
	noMeta bool
}

// usage renders the one-line synopsis, e.g.
// "create <table> -p <N> [-r <R>] [-e <k=v,...>]".
func (c *command) usage() string {
	var b strings.Builder
	b.WriteString(c.name)
	for _, a := range c.args {
		name := "<" + a.name + ">"
		if a.list {
			name += "..."
		}
		if a.optional {
			name = "[" + name + "]"
		}
		b.WriteString(" " + name)
	}
	for _, f := range c.flags {
		s := "--" + f.long
		if f.short != "" {
			s = "-" + f.short
		}
		if f.kind != flagBool {
			s += " <" + f.value + ">"
		}
		if !f.required {
			s = "[" + s + "]"
		}
		b.WriteString(" " + s)
	}
	return b.String()
}

func (c *command) flag(name string) *flagSpec {
	for i := range c.flags {
		f := &c.flags[i]
		if name == "--"+f.long || (f.short != "" && name == "-"+f.short) {
			return f
		}
	}
	return nil
}

// usageError is a command line mistake; it exits with status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// opError is a failed operation; it exits with status 1.
type opError struct{ err error }

func (e *opError) Error() string { return e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

// failf wraps an operation's error with context, e.g. "create t1: ...".
func failf(err error, format string, args ...any) error {
	return &opError{err: fmt.Errorf(format+": %w", append(args, err)...)}
}

// input is a parsed command line.
type input struct {
	cmd  *command
	vals map[string]string // flags given, by long name; bools hold "true"/"false"
	pos  []string          // positional arguments
}

// parseInput parses tokens (everything after the command name) against
// the command's spec. Flags may appear before, between or after the
// positional arguments; "--" ends flags; a token that parses as a number
// is positional even when it starts with '-'. pre holds flags already
// parsed (by the shell library) and is overridden by later ones.
func parseInput(c *command, pre map[string]string, tokens []string) (*input, error) {
	in := &input{cmd: c, vals: make(map[string]string)}
	for k, v := range pre {
		in.vals[k] = v
	}
	flagsDone := false
	for i := 0; i < len(tokens); i++ {
		tok := tokens[i]
		if flagsDone || !strings.HasPrefix(tok, "-") || tok == "-" || isNumber(tok) {
			in.pos = append(in.pos, tok)
			continue
		}
		if tok == "--" {
			flagsDone = true
			continue
		}
		name, val, hasVal := strings.Cut(tok, "=")
		f := c.flag(name)
		if f == nil {
			return nil, usagef("%s: unknown flag %s (usage: %s)", c.name, name, c.usage())
		}
		switch {
		case f.kind == flagBool && hasVal:
			b, err := strconv.ParseBool(val)
			if err != nil {
				return nil, usagef("%s: flag %s: %q is not a boolean", c.name, name, val)
			}
			in.vals[f.long] = strconv.FormatBool(b)
		case f.kind == flagBool:
			in.vals[f.long] = "true"
		case hasVal:
			in.vals[f.long] = val
		case i+1 < len(tokens):
			i++
			in.vals[f.long] = tokens[i]
		default:
			return nil, usagef("%s: flag %s needs a value <%s>", c.name, name, f.value)
		}
	}
	for _, f := range c.flags {
		v, ok := in.vals[f.long]
		if f.required && !ok {
			return nil, usagef("%s: missing flag -%s <%s> (usage: %s)", c.name, f.short, f.value, c.usage())
		}
		if ok && f.kind == flagInt {
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				return nil, usagef("%s: flag --%s: %q is not an integer", c.name, f.long, v)
			}
		}
	}
	min, max := 0, 0
	for _, a := range c.args {
		if a.list {
			max = math.MaxInt
			continue
		}
		max++
		if !a.optional {
			min++
		}
	}
	if len(in.pos) < min {
		return nil, usagef("%s: missing argument <%s> (usage: %s)", c.name, c.args[len(in.pos)].name, c.usage())
	}
	if len(in.pos) > max {
		return nil, usagef("%s: unexpected argument %q (usage: %s)", c.name, in.pos[max], c.usage())
	}
	return in, nil
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// str returns a string flag's value, or "" when not given.
func (in *input) str(long string) string { return in.vals[long] }

// has reports whether a flag was given.
func (in *input) has(long string) bool { _, ok := in.vals[long]; return ok }

// boolean returns a bool flag's value.
func (in *input) boolean(long string) bool { return in.vals[long] == "true" }

// integer returns an int flag's value (validated by parseInput), or def.
func (in *input) integer(long string, def int64) int64 {
	v, ok := in.vals[long]
	if !ok {
		return def
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

// arg returns positional argument i, or "" when absent.
func (in *input) arg(i int) string {
	if i < len(in.pos) {
		return in.pos[i]
	}
	return ""
}

// intArg parses positional argument i as an integer within [lo, hi].
func (in *input) intArg(i int, lo, hi int64) (int64, error) {
	name := in.cmd.args[min(i, len(in.cmd.args)-1)].name
	n, err := strconv.ParseInt(in.pos[i], 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, usagef("%s: argument <%s>: %q is not an integer in %d..%d", in.cmd.name, name, in.pos[i], lo, hi)
	}
	return n, nil
}

// parseKVList parses "k1=v1,k2=v2". Keys must be non-empty.
func parseKVList(cmd, flag, s string) (map[string]string, error) {
	out := make(map[string]string)
	for _, item := range strings.Split(s, ",") {
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok || k == "" {
			return nil, usagef("%s: flag %s: %q is not key=value", cmd, flag, item)
		}
		out[k] = v
	}
	if len(out) == 0 {
		return nil, usagef("%s: flag %s: no key=value pairs in %q", cmd, flag, s)
	}
	return out, nil
}

// parseList splits "a,b,c", dropping empty items.
func parseList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item != "" {
			out = append(out, item)
		}
	}
	return out
}
