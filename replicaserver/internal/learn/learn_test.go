package learn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/pegasus-go/pegasus/shared/protocol"
)

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"a", true}, {"data/000001.sst", true}, {"a/b/c", true}, {"..a", true},
		{"", false}, {"/etc/passwd", false}, {"../x", false}, {"a/../../x", false}, {"a/./b", false},
		{"a//b", false}, {"a/", false}, {`a\b`, false}, {"..", false}, {".", false}, {"a\x00b", false},
	} {
		err := CheckName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("CheckName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, protocol.CodeInvalidArgument) {
			t.Errorf("CheckName(%q) = %v, want CodeInvalidArgument", tc.name, err)
		}
	}
}

func writeFile(t *testing.T, fs vfs.FS, p string, data []byte) {
	t.Helper()
	if err := fs.MkdirAll(fs.PathDir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := fs.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(slices.Clone(data)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, fs vfs.FS, p string) []byte {
	t.Helper()
	f, err := fs.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// source builds a learn directory of files with random contents.
func source(t *testing.T, fs vfs.FS, dir string, sizes map[string]int) map[string][]byte {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	out := map[string][]byte{}
	for name, n := range sizes {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		writeFile(t, fs, fs.PathJoin(dir, name), b)
		out[name] = b
	}
	return out
}

func TestListFilesAndReadChunk(t *testing.T) {
	fs := vfs.NewMem()
	data := source(t, fs, "src", map[string]int{"app": 10, "data/a.sst": 3000, "data/b/c": 0})
	files, err := ListFiles(fs, "src")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
		if f.Size != int64(len(data[f.Name])) || f.CRC32C != CRC32C(data[f.Name]) {
			t.Errorf("%s: size %d crc %08x", f.Name, f.Size, f.CRC32C)
		}
	}
	if want := []string{"app", "data/a.sst", "data/b/c"}; !slices.Equal(names, want) {
		t.Fatalf("names %v, want %v", names, want)
	}
	c, err := ReadChunk(fs, "src", "data/a.sst", 1000, 1500)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.Data, data["data/a.sst"][1000:2500]) || c.EOF || c.FileSize != 3000 || c.CRC32C != CRC32C(c.Data) {
		t.Fatalf("chunk: %d bytes eof=%v size=%d", len(c.Data), c.EOF, c.FileSize)
	}
	c, err = ReadChunk(fs, "src", "data/a.sst", 2500, 1500)
	if err != nil || len(c.Data) != 500 || !c.EOF {
		t.Fatalf("last chunk: %d bytes eof=%v err=%v", len(c.Data), c.EOF, err)
	}
	c, err = ReadChunk(fs, "src", "data/b/c", 0, 10)
	if err != nil || len(c.Data) != 0 || !c.EOF {
		t.Fatalf("empty file: %+v %v", c, err)
	}
	writeFile(t, fs, "secret", []byte("x"))
	for _, bad := range []struct {
		name string
		off  int64
		max  int
	}{{"../secret", 0, 10}, {"/secret", 0, 10}, {"app", 11, 10}, {"app", -1, 10}, {"app", 0, 0}} {
		if _, err := ReadChunk(fs, "src", bad.name, bad.off, bad.max); !errors.Is(err, protocol.CodeInvalidArgument) {
			t.Errorf("ReadChunk(%q, %d, %d) = %v, want CodeInvalidArgument", bad.name, bad.off, bad.max, err)
		}
	}
}

// server serves a learn directory through ReadChunk and counts the bytes
// it served per file; corrupt, if set, damages the next chunk of a file.
type server struct {
	fs      vfs.FS
	dir     string
	served  map[string]int64
	corrupt string
	failAt  int64 // serve at most this many bytes in total, then fail (0: no limit)
	total   int64
}

func (s *server) fetch(_ context.Context, name string, off int64, max int32) (*protocol.CopyFileResponse, error) {
	if s.failAt > 0 && s.total >= s.failAt {
		return nil, protocol.Errorf(protocol.CodeNetworkFailure, "connection lost")
	}
	c, err := ReadChunk(s.fs, s.dir, name, off, int(max))
	if err != nil {
		return nil, err
	}
	s.served[name] += int64(len(c.Data))
	s.total += int64(len(c.Data))
	if s.corrupt == name && len(c.Data) > 0 {
		c.Data[0] ^= 1
		s.corrupt = ""
	}
	return &c, nil
}

func TestFetchResumes(t *testing.T) {
	fs := vfs.NewMem()
	sizes := map[string]int{"a": 5000, "b": 70_000, "c/d": 40_000, "e": 0}
	data := source(t, fs, "src", sizes)
	files, err := ListFiles(fs, "src")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, f := range files {
		total += f.Size
	}
	lim := NewLimiter(minChunkBytes * 4) // chunks of 16 KiB
	if lim.chunk() != minChunkBytes || lim.Limit() != minChunkBytes*4 {
		t.Fatalf("chunk %d limit %d", lim.chunk(), lim.Limit())
	}
	lim.SetLimit(0)
	if lim.Limit() != 0 || lim.chunk() != DefaultChunkBytes {
		t.Fatalf("unlimited: chunk %d limit %d", lim.chunk(), lim.Limit())
	}
	lim.SetLimit(minChunkBytes * 4)
	// A stale file from another checkpoint is removed.
	writeFile(t, fs, "stage/old.sst", []byte("old"))

	// The first attempt breaks after 80 KB: a and b are complete, c/d is not.
	srv := &server{fs: fs, dir: "src", served: map[string]int64{}, failAt: 80_000}
	var progress []FetchStats
	st, err := Fetch(context.Background(), fs, "stage", files, srv.fetch, lim, func(s FetchStats) { progress = append(progress, s) })
	if !errors.Is(err, protocol.CodeNetworkFailure) {
		t.Fatalf("first attempt: %v", err)
	}
	if st.DoneFiles != 2 || !slices.Equal(st.Done, []string{"a", "b"}) || len(progress) == 0 {
		t.Fatalf("first attempt stats %+v", st)
	}
	if _, err := fs.Stat("stage/old.sst"); err == nil {
		t.Fatal("stale file kept")
	}

	// The second attempt fetches c/d and e only, after one corrupt chunk
	// that fails the attempt.
	srv2 := &server{fs: fs, dir: "src", served: map[string]int64{}, corrupt: "c/d"}
	if _, err := Fetch(context.Background(), fs, "stage", files, srv2.fetch, lim, nil); !errors.Is(err, protocol.CodeCorruption) {
		t.Fatalf("corrupt chunk: %v", err)
	}
	srv3 := &server{fs: fs, dir: "src", served: map[string]int64{}}
	st, err = Fetch(context.Background(), fs, "stage", files, srv3.fetch, lim, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.ResumedFiles != 2 || st.ResumedBytes != 75_000 || st.FetchedBytes != 40_000 || st.DoneFiles != 4 || st.TotalBytes != total {
		t.Fatalf("resumed stats %+v", st)
	}
	if srv3.served["a"] != 0 || srv3.served["b"] != 0 || srv3.served["c/d"] != 40_000 {
		t.Fatalf("served on resume: %v", srv3.served)
	}
	for name, b := range data {
		if got := readFile(t, fs, "stage/"+name); !bytes.Equal(got, b) {
			t.Fatalf("%s differs after the copy", name)
		}
	}
	names, _ := fs.List("stage")
	slices.Sort(names)
	if !slices.Equal(names, []string{"a", "b", "c", "e"}) {
		t.Fatalf("staging holds %v", names)
	}

	// A file changed in the staging dir is fetched again.
	writeFile(t, fs, "stage/a", []byte("damaged"))
	srv4 := &server{fs: fs, dir: "src", served: map[string]int64{}}
	if st, err = Fetch(context.Background(), fs, "stage", files, srv4.fetch, lim, nil); err != nil || srv4.served["a"] != 5000 || st.FetchedBytes != 5000 {
		t.Fatalf("damaged file: %+v %v %v", st, err, srv4.served)
	}
}

func TestFetchRefusesBadLists(t *testing.T) {
	fs := vfs.NewMem()
	lim := NewLimiter(0)
	never := func(context.Context, string, int64, int32) (*protocol.CopyFileResponse, error) {
		return nil, fmt.Errorf("not called")
	}
	for _, files := range [][]protocol.LearnFile{
		{{Name: "../x", Size: 1}},
		{{Name: "a", Size: -1}},
		{{Name: "a", Size: 1}, {Name: "a", Size: 1}},
	} {
		if _, err := Fetch(context.Background(), fs, "stage", files, never, lim, nil); !errors.Is(err, protocol.CodeInvalidArgument) {
			t.Errorf("Fetch(%+v) = %v, want CodeInvalidArgument", files, err)
		}
	}
	// A source whose file does not match the list.
	writeFile(t, fs, "src/a", []byte("hello"))
	srv := &server{fs: fs, dir: "src", served: map[string]int64{}}
	files := []protocol.LearnFile{{Name: "a", Size: 6, CRC32C: 1}}
	if _, err := Fetch(context.Background(), fs, "stage", files, srv.fetch, lim, nil); !errors.Is(err, protocol.CodeCorruption) {
		t.Errorf("size mismatch: %v", err)
	}
	files = []protocol.LearnFile{{Name: "a", Size: 5, CRC32C: 1}}
	if _, err := Fetch(context.Background(), fs, "stage", files, srv.fetch, lim, nil); !errors.Is(err, protocol.CodeCorruption) {
		t.Errorf("checksum mismatch: %v", err)
	}
	if _, err := fs.Stat("stage/a"); err == nil {
		t.Error("a file failing its checksum was installed")
	}
}
