package learn

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

// MaxChunkBytes bounds one CopyFile chunk, whatever the request asks.
const MaxChunkBytes = 4 << 20

// maxFiles bounds the files of one learn directory, so a bad directory
// cannot produce an unbounded list.
const maxFiles = 100_000

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC32C returns the Castagnoli checksum of p.
func CRC32C(p []byte) uint32 { return crc32.Checksum(p, castagnoli) }

// CheckName validates a file name relative to a learn directory: non-empty,
// '/'-separated, not absolute, and without empty, ".", ".." or backslash
// components. Errors are CodeInvalidArgument.
func CheckName(name string) error {
	if name == "" || len(name) > 1024 {
		return protocol.Errorf(protocol.CodeInvalidArgument, "learn: bad file name length %d", len(name))
	}
	if strings.ContainsAny(name, "\\\x00") || strings.HasPrefix(name, "/") {
		return protocol.Errorf(protocol.CodeInvalidArgument, "learn: file name %q is not a relative path", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" || part == "." || part == ".." {
			return protocol.Errorf(protocol.CodeInvalidArgument, "learn: file name %q leaves its directory", name)
		}
	}
	return nil
}

// path joins a checked relative name onto dir with fs's separator.
func path(fs vfs.FS, dir, name string) string {
	return fs.PathJoin(append([]string{dir}, strings.Split(name, "/")...)...)
}

// ListFiles returns every regular file under dir, recursively, sorted by
// name, with its size and CRC-32C (reading every file once).
func ListFiles(fs vfs.FS, dir string) ([]protocol.LearnFile, error) {
	var out []protocol.LearnFile
	var walk func(rel string) error
	walk = func(rel string) error {
		d := dir
		if rel != "" {
			d = path(fs, dir, rel)
		}
		names, err := fs.List(d)
		if err != nil {
			return ioErr("list "+d, err)
		}
		slices.Sort(names)
		for _, n := range names {
			name := n
			if rel != "" {
				name = rel + "/" + n
			}
			st, err := fs.Stat(path(fs, dir, name))
			if err != nil {
				return ioErr("stat "+name, err)
			}
			if st.IsDir() {
				if err := walk(name); err != nil {
					return err
				}
				continue
			}
			if len(out) >= maxFiles {
				return protocol.Errorf(protocol.CodeInvalidState, "learn: %s holds more than %d files", dir, maxFiles)
			}
			size, sum, err := checksumFile(fs, path(fs, dir, name))
			if err != nil {
				return err
			}
			out = append(out, protocol.LearnFile{Name: name, Size: size, CRC32C: sum})
		}
		return nil
	}
	if err := walk(""); err != nil {
		return nil, err
	}
	return out, nil
}

// checksumFile returns a file's size and CRC-32C.
func checksumFile(fs vfs.FS, p string) (int64, uint32, error) {
	f, err := fs.Open(p)
	if err != nil {
		return 0, 0, ioErr("open "+p, err)
	}
	defer f.Close()
	h := crc32.New(castagnoli)
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, 0, ioErr("read "+p, err)
	}
	return n, h.Sum32(), nil
}

// ReadChunk reads up to max bytes (at most MaxChunkBytes) of file name in
// dir from offset off. The caller checks that name is one it serves;
// ReadChunk checks that it stays inside dir. An offset past the end is
// CodeInvalidArgument.
func ReadChunk(fs vfs.FS, dir, name string, off int64, max int) (protocol.CopyFileResponse, error) {
	if err := CheckName(name); err != nil {
		return protocol.CopyFileResponse{}, err
	}
	if off < 0 || max <= 0 {
		return protocol.CopyFileResponse{}, protocol.Errorf(protocol.CodeInvalidArgument, "learn: bad range offset %d size %d", off, max)
	}
	max = min(max, MaxChunkBytes)
	f, err := fs.Open(path(fs, dir, name))
	if err != nil {
		return protocol.CopyFileResponse{}, ioErr("open "+name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return protocol.CopyFileResponse{}, ioErr("stat "+name, err)
	}
	size := st.Size()
	if off > size {
		return protocol.CopyFileResponse{}, protocol.Errorf(protocol.CodeInvalidArgument, "learn: offset %d past the end of %s (%d bytes)", off, name, size)
	}
	n := int(min(int64(max), size-off))
	buf := make([]byte, n)
	if n > 0 {
		if _, err := f.ReadAt(buf, off); err != nil && !(errors.Is(err, io.EOF)) {
			return protocol.CopyFileResponse{}, ioErr("read "+name, err)
		}
	}
	return protocol.CopyFileResponse{Data: buf, CRC32C: CRC32C(buf), FileSize: size, EOF: off+int64(n) == size}, nil
}

func ioErr(what string, err error) error {
	return &protocol.Error{Code: protocol.CodeIOError, Message: fmt.Sprintf("learn: %s: %v", what, err)}
}
