package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pegasus-go/pegasus/client-go/pegasus"
)

// defaultScanLimit bounds the records scan prints unless --limit says
// otherwise.
const defaultScanLimit = 100

// dataClients is the data client, opened on first use.
type dataClients struct {
	client *pegasus.Client
}

func (d *dataClients) close() {
	if d.client != nil {
		_ = d.client.Close()
	}
}

// dataTable opens the table a data command works on.
func (s *session) dataTable(ctx context.Context, in *input) (*pegasus.Table, error) {
	name, err := s.tableFor(in)
	if err != nil {
		return nil, err
	}
	if s.data == nil {
		c, err := pegasus.NewClient(pegasus.Config{MetaServers: s.admin.MetaServers(), OperationTimeout: s.opts.timeout},
			pegasus.WithLogger(s.logger))
		if err != nil {
			return nil, failf(err, "%s: open data client", in.cmd.name)
		}
		s.data = &dataClients{client: c}
	}
	t, err := s.data.client.OpenTable(ctx, name)
	if err != nil {
		return nil, failf(err, "%s: open table %s", in.cmd.name, name)
	}
	return t, nil
}

// display renders a key or value: as is when it is printable UTF-8, else
// Go-quoted with escapes.
func display(b []byte) string {
	if utf8.Valid(b) {
		printable := true
		for _, r := range string(b) {
			if !unicode.IsPrint(r) {
				printable = false
				break
			}
		}
		if printable {
			return string(b)
		}
	}
	return strconv.Quote(string(b))
}

// dataFail wraps a data operation error; a missing record reads "not
// found".
func dataFail(err error, format string, args ...any) error {
	if errors.Is(err, pegasus.ErrNotFound) {
		return &opError{err: fmt.Errorf(format+": not found", args...)}
	}
	return failf(err, format, args...)
}

// jsonRecord is one record in JSON output.
type jsonRecord struct {
	HashKey string `json:"hash_key"`
	SortKey string `json:"sort_key"`
	Value   string `json:"value,omitempty"`
}

var hashKeyArg = argSpec{name: "hashkey", help: "the record's hash key"}
var sortKeyArg = argSpec{name: "sortkey", help: "the record's sort key"}

func dataCommands() []*command {
	return []*command{
		{
			name: "set", group: groupData, help: "write a record",
			args: []argSpec{hashKeyArg, sortKeyArg, {name: "value", help: "the value"},
				{name: "ttl_seconds", help: "time to live in seconds (default: none)", optional: true}},
			flags: []flagSpec{appFlag},
			run:   runSet,
		},
		{
			name: "get", group: groupData, help: "read a record (a missing record fails with 'not found')",
			args: []argSpec{hashKeyArg, sortKeyArg}, flags: []flagSpec{appFlag},
			run: runGet,
		},
		{
			name: "del", group: groupData, help: "delete a record",
			args: []argSpec{hashKeyArg, sortKeyArg}, flags: []flagSpec{appFlag},
			run: runDel,
		},
		{
			name: "exist", group: groupData, help: "tell whether a record exists",
			args: []argSpec{hashKeyArg, sortKeyArg}, flags: []flagSpec{appFlag},
			run: runExist,
		},
		{
			name: "ttl", group: groupData, help: "show a record's remaining time to live",
			args: []argSpec{hashKeyArg, sortKeyArg}, flags: []flagSpec{appFlag},
			run: runTTL,
		},
		{
			name: "multi_get", group: groupData, help: "read several sortkeys of a hashkey (all of them when none is given)",
			args:  []argSpec{hashKeyArg, {name: "sortkeys", help: "sort keys to read", list: true, optional: true}},
			flags: []flagSpec{appFlag},
			run:   runMultiGet,
		},
		{
			name: "scan", group: groupData, help: "list the records of a hashkey in sortkey order",
			args: []argSpec{hashKeyArg},
			flags: []flagSpec{
				{long: "start", kind: flagString, value: "S", help: "first sortkey (inclusive; default: the first)"},
				{long: "stop", kind: flagString, value: "S", help: "stop sortkey (exclusive; default: past the last)"},
				{long: "limit", kind: flagInt, value: "N", help: fmt.Sprintf("print at most N records (default %d, 0: no limit)", defaultScanLimit)},
				appFlag,
			},
			run: runScan,
		},
		{
			name: "count", group: groupData, help: "count the sortkeys of a hashkey",
			args: []argSpec{hashKeyArg}, flags: []flagSpec{appFlag},
			run: runCount,
		},
		{
			name: "incr", group: groupData, help: "add delta (default 1) to an integer record and show the new value",
			args:  []argSpec{hashKeyArg, sortKeyArg, {name: "delta", help: "the increment, may be negative", optional: true}},
			flags: []flagSpec{appFlag},
			run:   runIncr,
		},
	}
}

func runSet(ctx context.Context, s *session, in *input) error {
	var ttl time.Duration
	if len(in.pos) > 3 {
		n, err := in.intArg(3, 0, math.MaxInt32)
		if err != nil {
			return err
		}
		ttl = time.Duration(n) * time.Second
	}
	t, err := s.dataTable(ctx, in)
	if err != nil {
		return err
	}
	hk, sk, v := in.arg(0), in.arg(1), in.arg(2)
	if err := t.Set(ctx, []byte(hk), []byte(sk), []byte(v), &pegasus.SetOptions{TTL: ttl}); err != nil {
		return dataFail(err, "set %s %s", display([]byte(hk)), display([]byte(sk)))
	}
	out := struct {
		jsonRecord
		TTLSeconds int64 `json:"ttl_seconds,omitempty"`
	}{jsonRecord{display([]byte(hk)), display([]byte(sk)), display([]byte(v))}, int64(ttl / time.Second)}
	return s.emit(out, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, "OK")
		return err
	})
}

func runGet(ctx context.Context, s *session, in *input) error {
	t, err := s.dataTable(ctx, in)
	if err != nil {
		return err
	}
	hk, sk := []byte(in.arg(0)), []byte(in.arg(1))
	v, err := t.Get(ctx, hk, sk)
	if err != nil {
		return dataFail(err, "get %s %s", display(hk), display(sk))
	}
	return s.emit(jsonRecord{display(hk), display(sk), display(v)}, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, display(v))
		return err
	})
}

func runDel(ctx context.Context, s *session, in *input) error {
	t, err := s.dataTable(ctx, in)
	if err != nil {
		return err
	}
	hk, sk := []byte(in.arg(0)), []byte(in.arg(1))
	if err := t.Del(ctx, hk, sk); err != nil {
		return dataFail(err, "del %s %s", display(hk), display(sk))
	}
	return s.emit(struct {
		jsonRecord
		Deleted bool `json:"deleted"`
	}{jsonRecord{HashKey: display(hk), SortKey: display(sk)}, true}, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, "OK")
		return err
	})
}

func runExist(ctx context.Context, s *session, in *input) error {
	t, err := s.dataTable(ctx, in)
	if err != nil {
		return err
	}
	hk, sk := []byte(in.arg(0)), []byte(in.arg(1))
	ok, err := t.Exist(ctx, hk, sk)
	if err != nil {
		return dataFail(err, "exist %s %s", display(hk), display(sk))
	}
	return s.emit(struct {
		jsonRecord
		Exists bool `json:"exists"`
	}{jsonRecord{HashKey: display(hk), SortKey: display(sk)}, ok}, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, ok)
		return err
	})
}

func runTTL(ctx context.Context, s *session, in *input) error {
	t, err := s.dataTable(ctx, in)
	if err != nil {
		return err
	}
	hk, sk := []byte(in.arg(0)), []byte(in.arg(1))
	d, has, err := t.TTL(ctx, hk, sk)
	if err != nil {
		return dataFail(err, "ttl %s %s", display(hk), display(sk))
	}
	v := struct {
		jsonRecord
		TTLSeconds *int64 `json:"ttl_seconds"` // null: no TTL
	}{jsonRecord: jsonRecord{HashKey: display(hk), SortKey: display(sk)}}
	if has {
		secs := int64(d / time.Second)
		v.TTLSeconds = &secs
	}
	return s.emit(v, func(w io.Writer) error {
		var err error
		if has {
			_, err = fmt.Fprintf(w, "%d seconds\n", *v.TTLSeconds)
		} else {
			_, err = fmt.Fprintln(w, "no TTL")
		}
		return err
	})
}

// printRecords renders records as a table, or JSON with a completeness
// flag.
func (s *session) printRecords(recs []jsonRecord, complete bool, note string) error {
	v := struct {
		Records  []jsonRecord `json:"records"`
		Count    int          `json:"count"`
		Complete bool         `json:"complete"`
	}{recs, len(recs), complete}
	if v.Records == nil {
		v.Records = []jsonRecord{}
	}
	return s.emit(v, func(w io.Writer) error {
		rows := make([][]any, 0, len(recs))
		for _, r := range recs {
			rows = append(rows, []any{r.HashKey, r.SortKey, r.Value})
		}
		if err := renderTable(w, []string{"hash_key", "sort_key", "value"}, rows); err != nil {
			return err
		}
		msg := fmt.Sprintf("%d record(s)", len(recs))
		if !complete {
			msg += "; " + note
		}
		_, err := fmt.Fprintln(w, msg)
		return err
	})
}

func runMultiGet(ctx context.Context, s *session, in *input) error {
	t, err := s.dataTable(ctx, in)
	if err != nil {
		return err
	}
	hk := []byte(in.arg(0))
	var kvs []pegasus.KeyValue
	var complete bool
	if len(in.pos) > 1 {
		sks := make([][]byte, 0, len(in.pos)-1)
		for _, sk := range in.pos[1:] {
			sks = append(sks, []byte(sk))
		}
		kvs, complete, err = t.MultiGet(ctx, hk, sks, nil)
	} else {
		kvs, complete, err = t.MultiGetRange(ctx, hk, nil, nil, nil)
	}
	if err != nil {
		return dataFail(err, "multi_get %s", display(hk))
	}
	recs := make([]jsonRecord, 0, len(kvs))
	for _, kv := range kvs {
		recs = append(recs, jsonRecord{display(hk), display(kv.SortKey), display(kv.Value)})
	}
	return s.printRecords(recs, complete, "the server cut the result short; use scan for all of them")
}

func runScan(ctx context.Context, s *session, in *input) error {
	limit := in.integer("limit", defaultScanLimit)
	if limit < 0 {
		return usagef("scan: --limit %d is negative", limit)
	}
	t, err := s.dataTable(ctx, in)
	if err != nil {
		return err
	}
	hk := []byte(in.arg(0))
	sc, err := t.GetScanner(hk, []byte(in.str("start")), []byte(in.str("stop")), nil)
	if err != nil {
		return dataFail(err, "scan %s", display(hk))
	}
	defer sc.Close()
	var recs []jsonRecord
	complete := true
	for {
		kv, ok, err := sc.Next(ctx)
		if err != nil {
			return dataFail(err, "scan %s", display(hk))
		}
		if !ok {
			break
		}
		if limit > 0 && int64(len(recs)) == limit {
			complete = false
			break
		}
		recs = append(recs, jsonRecord{display(kv.HashKey), display(kv.SortKey), display(kv.Value)})
	}
	return s.printRecords(recs, complete, fmt.Sprintf("stopped at --limit %d", limit))
}

func runCount(ctx context.Context, s *session, in *input) error {
	t, err := s.dataTable(ctx, in)
	if err != nil {
		return err
	}
	hk := []byte(in.arg(0))
	n, err := t.SortKeyCount(ctx, hk)
	if err != nil {
		return dataFail(err, "count %s", display(hk))
	}
	return s.emit(struct {
		HashKey string `json:"hash_key"`
		Count   int64  `json:"count"`
	}{display(hk), n}, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, n)
		return err
	})
}

func runIncr(ctx context.Context, s *session, in *input) error {
	delta := int64(1)
	if len(in.pos) > 2 {
		n, err := in.intArg(2, math.MinInt64, math.MaxInt64)
		if err != nil {
			return err
		}
		delta = n
	}
	t, err := s.dataTable(ctx, in)
	if err != nil {
		return err
	}
	hk, sk := []byte(in.arg(0)), []byte(in.arg(1))
	v, err := t.Incr(ctx, hk, sk, delta, nil)
	if err != nil {
		return dataFail(err, "incr %s %s", display(hk), display(sk))
	}
	return s.emit(struct {
		jsonRecord
		NewValue int64 `json:"new_value"`
	}{jsonRecord{HashKey: display(hk), SortKey: display(sk)}, v}, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, v)
		return err
	})
}
