package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/pegasus-go/pegasus/replicaserver/internal/plog"
	"github.com/spf13/pflag"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // corrupt log or IO error
	exitUsage   = 2
)

type jsonUpdate struct {
	Op        string `json:"op"`
	BodyBytes int    `json:"body_bytes"`
}

type jsonRecord struct {
	Segment       string       `json:"segment"`
	Offset        int64        `json:"offset"`
	Ballot        int64        `json:"ballot"`
	Decree        int64        `json:"decree"`
	LastCommitted int64        `json:"last_committed"`
	Timestamp     string       `json:"timestamp"`
	Updates       []jsonUpdate `json:"updates"`
}

type jsonCorrupt struct {
	Corrupt struct {
		Segment string `json:"segment"`
		Offset  int64  `json:"offset"`
		Reason  string `json:"reason"`
	} `json:"corrupt"`
}

func timestamp(us int64) string {
	return time.UnixMicro(us).UTC().Format(time.RFC3339Nano)
}

// run is the whole command: it parses args, dumps the log and returns the
// exit status.
func run(fs vfs.FS, args []string, stdout, stderr io.Writer) int {
	flags := pflag.NewFlagSet("plogdump", pflag.ContinueOnError)
	flags.SetOutput(stderr)
	from := flags.Int64("from", 0, "print only records with decree >= `N`")
	asJSON := flags.Bool("json", false, "print one JSON object per record")
	flags.Usage = func() {
		fmt.Fprintf(stderr, "usage: plogdump [--from N] [--json] <plog dir>\n%s", flags.FlagUsages())
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if flags.NArg() != 1 {
		flags.Usage()
		return exitUsage
	}
	dir := flags.Arg(0)
	if st, err := fs.Stat(dir); err != nil {
		fmt.Fprintf(stderr, "plogdump: %v\n", err)
		return exitFailure
	} else if !st.IsDir() {
		fmt.Fprintf(stderr, "plogdump: %s is not a directory\n", dir)
		return exitFailure
	}

	enc := json.NewEncoder(stdout)
	printed := 0
	err := plog.Scan(fs, dir, func(r plog.Record) error {
		m := r.Mutation
		if int64(m.Decree) < *from {
			return nil
		}
		printed++
		if *asJSON {
			jr := jsonRecord{
				Segment:       r.Segment,
				Offset:        r.Offset,
				Ballot:        int64(m.Ballot),
				Decree:        int64(m.Decree),
				LastCommitted: int64(m.LastCommitted),
				Timestamp:     timestamp(m.TimestampUs),
				Updates:       make([]jsonUpdate, len(m.Updates)),
			}
			for i, u := range m.Updates {
				jr.Updates[i] = jsonUpdate{Op: u.Op.String(), BodyBytes: len(u.Body)}
			}
			return enc.Encode(jr)
		}
		ops := make([]string, len(m.Updates))
		for i, u := range m.Updates {
			ops[i] = fmt.Sprintf("%s:%d", u.Op.String(), len(u.Body))
		}
		_, err := fmt.Fprintf(stdout, "%s offset=%d ballot=%d decree=%d last_committed=%d time=%s updates=%d [%s]\n",
			r.Segment, r.Offset, m.Ballot, m.Decree, m.LastCommitted, timestamp(m.TimestampUs),
			len(m.Updates), strings.Join(ops, " "))
		return err
	})
	var ce *plog.CorruptionError
	switch {
	case errors.As(err, &ce):
		if *asJSON {
			var jc jsonCorrupt
			jc.Corrupt.Segment, jc.Corrupt.Offset, jc.Corrupt.Reason = ce.Segment, ce.Offset, ce.Reason
			_ = enc.Encode(jc)
		} else {
			fmt.Fprintf(stdout, "corrupt record: segment %s offset %d: %s\n", ce.Segment, ce.Offset, ce.Reason)
		}
		fmt.Fprintf(stderr, "plogdump: stopped at a corrupt record after %d records\n", printed)
		return exitFailure
	case err != nil:
		fmt.Fprintf(stderr, "plogdump: %v\n", err)
		return exitFailure
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "%d records\n", printed)
	}
	return exitOK
}
