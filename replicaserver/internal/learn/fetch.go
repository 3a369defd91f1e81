package learn

import (
	"context"
	"errors"
	"hash/crc32"
	"os"
	"strings"

	"github.com/cockroachdb/pebble/vfs"
	"golang.org/x/time/rate"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// DefaultChunkBytes is the chunk Fetch asks for when the rate limit does
// not call for smaller ones.
const DefaultChunkBytes = 1 << 20

// minChunkBytes is the smallest chunk Fetch asks for under a low limit.
const minChunkBytes = 16 << 10

// partSuffix marks a file still being fetched.
const partSuffix = ".copying"

// Limiter is a token bucket of bytes per second shared by every learning
// session of a node. A limit of 0 means unlimited.
type Limiter struct {
	l *rate.Limiter
}

// NewLimiter returns a limiter of bytesPerSec (0: unlimited).
func NewLimiter(bytesPerSec int64) *Limiter {
	l := &Limiter{l: rate.NewLimiter(rate.Inf, DefaultChunkBytes)}
	l.SetLimit(bytesPerSec)
	return l
}

// SetLimit changes the limit (0 or less: unlimited); it applies to the
// next wait.
func (l *Limiter) SetLimit(bytesPerSec int64) {
	if bytesPerSec <= 0 {
		l.l.SetLimit(rate.Inf)
		return
	}
	l.l.SetLimit(rate.Limit(bytesPerSec))
}

// Limit returns the limit in bytes per second, 0 when unlimited.
func (l *Limiter) Limit() int64 {
	if lim := l.l.Limit(); lim != rate.Inf {
		return int64(lim)
	}
	return 0
}

// chunk returns the chunk size to ask for under the current limit: about
// a quarter of a second's worth, between 16 KiB and DefaultChunkBytes.
func (l *Limiter) chunk() int {
	lim := l.Limit()
	if lim == 0 {
		return DefaultChunkBytes
	}
	return int(min(max(lim/4, minChunkBytes), DefaultChunkBytes))
}

// wait takes n bytes' worth of tokens, waiting as long as the limit says.
func (l *Limiter) wait(ctx context.Context, n int) error {
	if err := l.l.WaitN(ctx, n); err != nil {
		if ctx.Err() != nil {
			return protocol.Errorf(protocol.CodeTimeout, "learn: %v", ctx.Err())
		}
		return protocol.Errorf(protocol.CodeInvalidState, "learn: rate limiter: %v", err)
	}
	return nil
}

// FetchFunc fetches up to max bytes of file name from offset off.
type FetchFunc func(ctx context.Context, name string, off int64, max int32) (*protocol.CopyFileResponse, error)

// FetchStats reports a Fetch.
type FetchStats struct {
	Files        int   `json:"files"`
	TotalBytes   int64 `json:"total_bytes"`
	DoneFiles    int   `json:"done_files"`
	ResumedFiles int   `json:"resumed_files"`
	ResumedBytes int64 `json:"resumed_bytes"`
	FetchedBytes int64 `json:"fetched_bytes"`
	// Done lists the files complete in the staging directory so far.
	Done []string `json:"done,omitempty"`
}

// Fetch copies files into the staging directory (created if missing)
// through fetch, keeping the files already complete there (see the
// package documentation). progress, if set, is called after every chunk
// and every finished file. A chunk or file that fails its checksum, a size
// that differs from the list, or a fetch error stops the copy with an
// error; what is complete stays for the next attempt.
func Fetch(ctx context.Context, fs vfs.FS, staging string, files []protocol.LearnFile, fetch FetchFunc, lim *Limiter,
	progress func(FetchStats)) (FetchStats, error) {
	st := FetchStats{Files: len(files)}
	want := make(map[string]bool, len(files))
	for _, f := range files {
		if err := CheckName(f.Name); err != nil {
			return st, err
		}
		if f.Size < 0 {
			return st, protocol.Errorf(protocol.CodeInvalidArgument, "learn: file %s has negative size", f.Name)
		}
		if want[f.Name] {
			return st, protocol.Errorf(protocol.CodeInvalidArgument, "learn: file %s listed twice", f.Name)
		}
		want[f.Name] = true
		st.TotalBytes += f.Size
	}
	if err := fs.MkdirAll(staging, 0o755); err != nil {
		return st, ioErr("create staging dir", err)
	}
	if err := removeUnlisted(fs, staging, "", want); err != nil {
		return st, err
	}
	report := func() {
		if progress != nil {
			progress(st)
		}
	}
	for _, f := range files {
		final := path(fs, staging, f.Name)
		if size, sum, err := checksumFile(fs, final); err == nil && size == f.Size && sum == f.CRC32C {
			st.ResumedFiles++
			st.ResumedBytes += f.Size
			st.DoneFiles++
			st.Done = append(st.Done, f.Name)
			report()
			continue
		}
		if err := fetchFile(ctx, fs, final, f, fetch, lim, func(n int) {
			st.FetchedBytes += int64(n)
			report()
		}); err != nil {
			return st, err
		}
		st.DoneFiles++
		st.Done = append(st.Done, f.Name)
		report()
	}
	d, err := fs.OpenDir(staging)
	if err != nil {
		return st, ioErr("open staging dir", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return st, ioErr("sync staging dir", err)
	}
	return st, nil
}

// fetchFile fetches one file to final, through a .copying file.
func fetchFile(ctx context.Context, fs vfs.FS, final string, f protocol.LearnFile, fetch FetchFunc, lim *Limiter, got func(int)) error {
	if err := fs.MkdirAll(fs.PathDir(final), 0o755); err != nil {
		return ioErr("create dir for "+f.Name, err)
	}
	part := final + partSuffix
	_ = fs.Remove(final)
	out, err := fs.Create(part)
	if err != nil {
		return ioErr("create "+part, err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = out.Close()
		}
	}()
	h := crc32.New(castagnoli)
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return protocol.Errorf(protocol.CodeTimeout, "learn: fetch %s: %v", f.Name, err)
		}
		n := lim.chunk()
		if err := lim.wait(ctx, n); err != nil {
			return err
		}
		resp, err := fetch(ctx, f.Name, off, int32(n))
		if err != nil {
			return err
		}
		switch {
		case resp.FileSize != f.Size:
			return protocol.Errorf(protocol.CodeCorruption, "learn: %s is %d bytes at the source, listed as %d", f.Name, resp.FileSize, f.Size)
		case CRC32C(resp.Data) != resp.CRC32C:
			return protocol.Errorf(protocol.CodeCorruption, "learn: chunk of %s at offset %d fails its checksum", f.Name, off)
		case len(resp.Data) > n || off+int64(len(resp.Data)) > f.Size:
			return protocol.Errorf(protocol.CodeCorruption, "learn: chunk of %s at offset %d is too long (%d bytes)", f.Name, off, len(resp.Data))
		case len(resp.Data) == 0 && !resp.EOF:
			return protocol.Errorf(protocol.CodeCorruption, "learn: empty chunk of %s at offset %d before its end", f.Name, off)
		}
		// Hash first: a file system may scribble over a written buffer.
		h.Write(resp.Data)
		n = len(resp.Data)
		if _, err := out.Write(resp.Data); err != nil {
			return ioErr("write "+part, err)
		}
		off += int64(n)
		got(n)
		if resp.EOF || off == f.Size {
			break
		}
	}
	if off != f.Size || h.Sum32() != f.CRC32C {
		return protocol.Errorf(protocol.CodeCorruption, "learn: %s copied as %d bytes with CRC-32C %08x, listed as %d bytes %08x",
			f.Name, off, h.Sum32(), f.Size, f.CRC32C)
	}
	if err := out.Sync(); err != nil {
		return ioErr("sync "+part, err)
	}
	closed = true
	if err := out.Close(); err != nil {
		return ioErr("close "+part, err)
	}
	if err := fs.Rename(part, final); err != nil {
		return ioErr("rename "+part, err)
	}
	return nil
}

// removeUnlisted removes from dir (recursively) every file that is not a
// listed name (partial .copying files included).
func removeUnlisted(fs vfs.FS, root, rel string, want map[string]bool) error {
	d := root
	if rel != "" {
		d = path(fs, root, rel)
	}
	names, err := fs.List(d)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return ioErr("list "+d, err)
	}
	for _, n := range names {
		name := n
		if rel != "" {
			name = rel + "/" + n
		}
		p := path(fs, root, name)
		st, err := fs.Stat(p)
		if err != nil {
			continue
		}
		if st.IsDir() {
			if !hasPrefixDir(want, name) {
				if err := fs.RemoveAll(p); err != nil {
					return ioErr("remove "+p, err)
				}
				continue
			}
			if err := removeUnlisted(fs, root, name, want); err != nil {
				return err
			}
			continue
		}
		if !want[name] {
			if err := fs.Remove(p); err != nil {
				return ioErr("remove "+p, err)
			}
		}
	}
	return nil
}

func hasPrefixDir(want map[string]bool, dir string) bool {
	for n := range want {
		if strings.HasPrefix(n, dir+"/") {
			return true
		}
	}
	return false
}
