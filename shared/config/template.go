package config

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"

	"github.com/BurntSushi/toml"
)

// WriteTemplate writes cfg (a struct or a pointer to one) as a commented TOML
// document: every field with its current value, preceded by the text of its
// `comment:"..."` struct tag. Reading the output back with Load or
// toml.Decode gives the same values. Supported field types are those Load
// handles: scalars (bool, numbers, strings, time.Duration, Duration,
// ByteSize and any encoding.TextMarshaler/TextUnmarshaler), slices of
// scalars, nested structs, and maps from string to scalars or to structs.
// Other field types make WriteTemplate return an error naming the field.
func WriteTemplate(w io.Writer, cfg any) error {
	v := reflect.ValueOf(cfg)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return fmt.Errorf("config: WriteTemplate of a nil %s", v.Type())
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return fmt.Errorf("config: WriteTemplate needs a struct, got %s", v.Type())
	}
	var buf bytes.Buffer
	buf.WriteString("# Durations are strings with a unit (\"150ms\", \"5s\", \"1m30s\").\n")
	buf.WriteString("# Byte sizes are integers or strings with a unit (\"64KiB\", \"8MiB\", \"1GB\").\n")
	if err := writeTable(&buf, nil, v, "", false); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// headerKey renders a table path such as pegasus.server or
// block_service."my disk", quoting the pieces that are not bare keys.
func headerKey(path []string) string {
	parts := make([]string, len(path))
	for i, p := range path {
		if bareKey.MatchString(p) {
			parts[i] = p
		} else {
			parts[i] = quoteString(p)
		}
	}
	return strings.Join(parts, ".")
}

func quoteString(s string) string {
	line, err := keyValueLine("k", s)
	if err != nil { // a string always encodes
		return fmt.Sprintf("%q", s)
	}
	return strings.TrimPrefix(line, "k = ")
}

// keyValueLine renders `key = value` with the TOML encoder, so quoting of
// keys and strings and the rendering of TextMarshalers and durations are
// exactly what the decoder reads back.
func keyValueLine(key string, val any) (string, error) {
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(map[string]any{key: val}); err != nil {
		return "", err
	}
	return strings.TrimRight(b.String(), "\n"), nil
}

func writeComment(buf *bytes.Buffer, comment string) {
	if comment == "" {
		return
	}
	for line := range strings.SplitSeq(comment, "\n") {
		buf.WriteString("# " + strings.TrimSpace(line) + "\n")
	}
}

// writeTable writes the scalar fields of struct v, then its sub-tables. The
// header is written only when the table has scalar fields of its own (a
// table holding only sub-tables needs none in TOML) or when forceHeader is
// set (a map entry must appear even if it has no scalar fields).
func writeTable(buf *bytes.Buffer, path []string, v reflect.Value, comment string, forceHeader bool) error {
	fields := structFields(v.Type())
	hasScalars := false
	for _, f := range fields {
		if f.kind == kindScalar || f.kind == kindSlice {
			hasScalars = true
			break
		}
	}
	if len(path) > 0 && (comment != "" || hasScalars || forceHeader || len(fields) == 0) {
		buf.WriteString("\n")
		writeComment(buf, comment)
		if hasScalars || forceHeader || len(fields) == 0 {
			buf.WriteString("[" + headerKey(path) + "]\n")
		}
	}
	for _, f := range fields {
		fv := v.FieldByIndex(f.index)
		switch f.kind {
		case kindScalar, kindSlice:
			if f.kind == kindSlice && fv.IsNil() {
				fv = reflect.MakeSlice(f.typ, 0, 0) // the encoder skips nil slices
			}
			line, err := keyValueLine(f.name, fv.Interface())
			if err != nil {
				return fmt.Errorf("config: field %s: %w", headerKey(append(path, f.name)), err)
			}
			writeComment(buf, f.comment)
			buf.WriteString(line + "\n")
		case kindStruct, kindMapScalar, kindMapStruct:
		default:
			return fmt.Errorf("config: field %s has unsupported type %s", headerKey(append(path, f.name)), f.typ)
		}
	}
	for _, f := range fields {
		fv := v.FieldByIndex(f.index)
		sub := append(append([]string(nil), path...), f.name)
		switch f.kind {
		case kindStruct:
			if err := writeTable(buf, sub, fv, f.comment, false); err != nil {
				return err
			}
		case kindMapScalar:
			buf.WriteString("\n")
			writeComment(buf, f.comment)
			buf.WriteString("[" + headerKey(sub) + "]\n")
			for _, k := range sortedKeys(fv) {
				line, err := keyValueLine(k.String(), fv.MapIndex(k).Interface())
				if err != nil {
					return fmt.Errorf("config: field %s: %w", headerKey(append(sub, k.String())), err)
				}
				buf.WriteString(line + "\n")
			}
		case kindMapStruct:
			if fv.Len() == 0 {
				buf.WriteString("\n")
				writeComment(buf, f.comment)
				buf.WriteString("[" + headerKey(sub) + "]\n")
				continue
			}
			for i, k := range sortedKeys(fv) {
				c := ""
				if i == 0 {
					c = f.comment
				}
				// Map elements are not addressable; copy into a value that is.
				e := reflect.New(f.typ.Elem()).Elem()
				e.Set(fv.MapIndex(k))
				if err := writeTable(buf, append(sub[:len(sub):len(sub)], k.String()), e, c, true); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
