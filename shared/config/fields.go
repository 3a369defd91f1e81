package config

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

var (
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
	timeDurationType    = reflect.TypeFor[time.Duration]()
)

// fieldKind classifies a config struct field by how it maps onto TOML and
// onto flags.
type fieldKind int

const (
	kindUnsupported fieldKind = iota
	kindScalar                // one value: bool, number, string, time.Duration, TextUnmarshaler
	kindSlice                 // slice of scalars
	kindStruct                // nested struct value: a TOML table
	kindMapScalar             // map[string]scalar: a TOML table of arbitrary keys
	kindMapStruct             // map[string]struct: a TOML table of tables
)

func isScalar(t reflect.Type) bool {
	if t == timeDurationType || reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return true
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

func kindOf(t reflect.Type) fieldKind {
	switch {
	case isScalar(t):
		return kindScalar
	case t.Kind() == reflect.Slice && isScalar(t.Elem()):
		return kindSlice
	case t.Kind() == reflect.Struct:
		return kindStruct
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && isScalar(t.Elem()):
		return kindMapScalar
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && t.Elem().Kind() == reflect.Struct:
		return kindMapStruct
	}
	return kindUnsupported
}

// field is one exported, TOML-visible field of a config struct.
type field struct {
	name    string // TOML key
	typ     reflect.Type
	kind    fieldKind
	comment string
}

// structFields lists the TOML-visible fields of struct type t in declaration
// order, flattening anonymous struct fields without a name tag the way the
// TOML codec does. Fields tagged `toml:"-"` and unexported fields are left
// out. The index of a flattened field is a path, so fields are returned with
// their full index path.
func structFields(t reflect.Type) []fieldPath {
	var out []fieldPath
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := range t.NumField() {
			sf := t.Field(i)
			tag := sf.Tag.Get("toml")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			idx := append(append([]int(nil), prefix...), i)
			if sf.Anonymous && name == "" && sf.Type.Kind() == reflect.Struct && !isScalar(sf.Type) {
				walk(sf.Type, idx)
				continue
			}
			if !sf.IsExported() {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			out = append(out, fieldPath{
				field: field{name: name, typ: sf.Type, kind: kindOf(sf.Type), comment: sf.Tag.Get("comment")},
				index: idx,
			})
		}
	}
	walk(t, nil)
	return out
}

// fieldPath is a field with its index path from the struct that lists it.
type fieldPath struct {
	field
	index []int
}

// setScalar parses s into v, which must be addressable and of a scalar type.
func setScalar(v reflect.Value, s string) error {
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(s))
	}
	if v.Type() == timeDurationType {
		d, err := ParseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid boolean %q: want true or false", s)
		}
		v.SetBool(b)
	case reflect.String:
		v.SetString(s)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 0, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("invalid integer %q: want a whole number that fits in %d bits", s, v.Type().Bits())
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(strings.TrimSpace(s), 0, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("invalid unsigned integer %q: want a non-negative whole number that fits in %d bits", s, v.Type().Bits())
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), v.Type().Bits())
		if err != nil {
			return fmt.Errorf("invalid number %q", s)
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("cannot set a value of type %s from text", v.Type())
	}
	return nil
}

// formatScalar renders a scalar value the way setScalar reads it.
func formatScalar(v reflect.Value) string {
	if v.Type().Implements(textMarshalerType) {
		if b, err := v.Interface().(encoding.TextMarshaler).MarshalText(); err == nil {
			return string(b)
		}
	}
	if v.Type() == timeDurationType {
		return time.Duration(v.Int()).String()
	}
	switch v.Kind() {
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.String:
		return v.String()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, v.Type().Bits())
	}
	return fmt.Sprint(v.Interface())
}

// typeName is the short type word shown in flag help.
func typeName(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[Duration]() || t == timeDurationType:
		return "duration"
	case t == reflect.TypeFor[ByteSize]():
		return "bytes"
	case reflect.PointerTo(t).Implements(textUnmarshalerType):
		return "string"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "int"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "uint"
	case reflect.Float32, reflect.Float64:
		return "float"
	}
	return "string"
}
