package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/jedib0t/go-pretty/v6/text"
)

// tableStyle renders aligned columns without borders, headers as written.
var tableStyle = func() table.Style {
	s := table.StyleDefault
	s.Options = table.OptionsNoBordersAndSeparators
	s.Box.PaddingLeft = ""
	s.Box.PaddingRight = "  "
	s.Format.Header = text.FormatDefault
	s.Format.HeaderAlign = text.AlignLeft
	s.Format.RowAlign = text.AlignLeft
	return s
}()

// renderTable writes rows under header as aligned columns.
func renderTable(w io.Writer, header []string, rows [][]any) error {
	t := table.NewWriter()
	t.SetStyle(tableStyle)
	h := make(table.Row, len(header))
	for i, c := range header {
		h[i] = c
	}
	t.AppendHeader(h)
	for _, r := range rows {
		row := make(table.Row, len(r))
		for i, v := range r {
			row[i] = fmt.Sprint(v) // strings: every column aligns left
		}
		t.AppendRow(row)
	}
	return writeTrimmed(w, t.Render())
}

// renderPairs writes key/value lines with aligned values.
func renderPairs(w io.Writer, pairs [][2]string) error {
	t := table.NewWriter()
	t.SetStyle(tableStyle)
	for _, p := range pairs {
		t.AppendRow(table.Row{p[0], p[1]})
	}
	return writeTrimmed(w, t.Render())
}

// writeTrimmed writes s line by line without trailing blanks.
func writeTrimmed(w io.Writer, s string) error {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		b.WriteString(strings.TrimRight(line, " "))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeJSON writes v as indented JSON and a newline.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// formatTimeMs renders a meta-server timestamp (ms since the epoch) in
// UTC, or "-" when unset.
func formatTimeMs(ms int64) string {
	if ms <= 0 {
		return "-"
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}

// orDash returns s, or "-" when it is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
