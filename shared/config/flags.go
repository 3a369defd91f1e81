package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/pflag"
)

// fieldFlag is the pflag.Value behind an automatic --<section>.<key> flag.
// Set only checks and records the text; apply writes the recorded values
// into the config after the file has been loaded, which is what puts flags
// above the file in precedence even though flags are parsed first.
type fieldFlag struct {
	path  []int // index path from the root struct, through struct values only
	typ   reflect.Type
	kind  fieldKind // kindScalar, kindSlice or kindMapScalar
	def   string    // default as shown in --help
	texts []string  // values given on the command line, in order
}

var _ pflag.Value = (*fieldFlag)(nil)

func (f *fieldFlag) String() string { return f.def }

func (f *fieldFlag) Type() string {
	switch f.kind {
	case kindSlice:
		return typeName(f.typ.Elem()) + "s"
	case kindMapScalar:
		return "key=" + typeName(f.typ.Elem())
	}
	return typeName(f.typ)
}

func (f *fieldFlag) Set(s string) error {
	switch f.kind {
	case kindScalar:
		if err := setScalar(reflect.New(f.typ).Elem(), s); err != nil {
			return err
		}
	case kindSlice:
		if _, err := parseList(f.typ, s); err != nil {
			return err
		}
	case kindMapScalar:
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return fmt.Errorf("want key=value, got %q", s)
		}
		if err := setScalar(reflect.New(f.typ.Elem()).Elem(), v); err != nil {
			return fmt.Errorf("key %q: %w", k, err)
		}
	}
	f.texts = append(f.texts, s)
	return nil
}

// apply writes the recorded values into root (the addressable config
// struct). A scalar takes the last value given; a slice is replaced by the
// first occurrence and extended by later ones; a map gets one entry per
// occurrence, merged over what the file and defaults put there.
func (f *fieldFlag) apply(root reflect.Value) error {
	if len(f.texts) == 0 {
		return nil
	}
	v := root.FieldByIndex(f.path)
	switch f.kind {
	case kindScalar:
		return setScalar(v, f.texts[len(f.texts)-1])
	case kindSlice:
		out := reflect.MakeSlice(f.typ, 0, len(f.texts))
		for _, s := range f.texts {
			part, err := parseList(f.typ, s)
			if err != nil {
				return err
			}
			out = reflect.AppendSlice(out, part)
		}
		v.Set(out)
	case kindMapScalar:
		if v.IsNil() {
			v.Set(reflect.MakeMap(f.typ))
		}
		for _, s := range f.texts {
			k, text, _ := strings.Cut(s, "=")
			e := reflect.New(f.typ.Elem()).Elem()
			if err := setScalar(e, text); err != nil {
				return err
			}
			v.SetMapIndex(reflect.ValueOf(k).Convert(f.typ.Key()), e)
		}
	}
	return nil
}

// parseList reads a comma-separated list into a new slice of type t. An
// empty string is an empty list. Elements cannot contain commas.
func parseList(t reflect.Type, s string) (reflect.Value, error) {
	out := reflect.MakeSlice(t, 0, 0)
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for i, part := range strings.Split(s, ",") {
		e := reflect.New(t.Elem()).Elem()
		if err := setScalar(e, strings.TrimSpace(part)); err != nil {
			return reflect.Value{}, fmt.Errorf("element %d: %w", i, err)
		}
		out = reflect.Append(out, e)
	}
	return out, nil
}

// registerFieldFlags adds one flag per scalar, slice-of-scalar and
// map-of-scalar field reachable from the struct value v through nested
// struct values. Map-of-struct fields and fields of other types are left to
// the file. A name already taken in fs is an error, never a panic.
func registerFieldFlags(fs *pflag.FlagSet, v reflect.Value) ([]*fieldFlag, error) {
	var out []*fieldFlag
	var walk func(v reflect.Value, prefix string, path []int) error
	walk = func(v reflect.Value, prefix string, path []int) error {
		for _, f := range structFields(v.Type()) {
			name := prefix + f.name
			fv := v.FieldByIndex(f.index)
			idx := append(append([]int(nil), path...), f.index...)
			switch f.kind {
			case kindStruct:
				if err := walk(fv, name+".", idx); err != nil {
					return err
				}
				continue
			case kindScalar, kindSlice, kindMapScalar:
			default:
				continue
			}
			if fs.Lookup(name) != nil {
				return fmt.Errorf("config field %q collides with an explicitly registered flag --%s", name, name)
			}
			ff := &fieldFlag{path: idx, typ: f.typ, kind: f.kind, def: defaultText(fv, f.kind)}
			usage := f.comment
			if f.kind == kindMapScalar {
				usage = strings.TrimSpace(usage + " (one key=value per flag; repeat the flag for more keys)")
			} else if f.kind == kindSlice {
				usage = strings.TrimSpace(usage + " (comma-separated)")
			}
			fl := fs.VarPF(ff, name, "", usage)
			if f.kind == kindScalar && f.typ.Kind() == reflect.Bool {
				fl.NoOptDefVal = "true"
			}
			out = append(out, ff)
		}
		return nil
	}
	return out, walk(v, "", nil)
}

func defaultText(v reflect.Value, kind fieldKind) string {
	switch kind {
	case kindScalar:
		return formatScalar(v)
	case kindSlice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = formatScalar(v.Index(i))
		}
		return strings.Join(parts, ",")
	case kindMapScalar:
		keys := sortedKeys(v)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k.String() + "=" + formatScalar(v.MapIndex(k))
		}
		return strings.Join(parts, ",")
	}
	return ""
}

func sortedKeys(m reflect.Value) []reflect.Value {
	keys := m.MapKeys()
	slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
	return keys
}
