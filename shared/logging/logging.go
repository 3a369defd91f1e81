package logging

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// Format selects the record encoding.
type Format string

// The supported formats.
const (
	FormatText Format = "text" // slog.TextHandler: key=value pairs, for humans
	FormatJSON Format = "json" // slog.JSONHandler: one JSON object per line, for machines
)

// UnmarshalText accepts "text" or "json" (any case), so a bad format in a
// config file or flag is reported where it is read.
func (f *Format) UnmarshalText(b []byte) error {
	switch v := Format(strings.ToLower(strings.TrimSpace(string(b)))); v {
	case FormatText, FormatJSON:
		*f = v
		return nil
	}
	return fmt.Errorf("invalid log format %q: want %q or %q", b, FormatText, FormatJSON)
}

// Output names that are not file paths.
const (
	OutputStderr  = "stderr"
	OutputStdout  = "stdout"
	OutputDiscard = "discard"
)

// Config is the [log] section of a daemon's configuration.
type Config struct {
	Format    Format     `toml:"format" comment:"Record format: text or json."`
	Level     slog.Level `toml:"level" comment:"Minimum level: debug, info, warn or error (also settable at runtime through /debug/loglevel)."`
	Output    string     `toml:"output" comment:"Destination: stderr, stdout, discard, or a file path (appended to, created with mode 0644)."`
	AddSource bool       `toml:"add_source" comment:"Add the source file and line of the logging call to each record."`
}

// DefaultConfig returns text records at info level on stderr.
func DefaultConfig() Config {
	return Config{Format: FormatText, Level: slog.LevelInfo, Output: OutputStderr}
}

// Validate reports an unknown format or an empty output.
func (c Config) Validate() error {
	switch c.Format {
	case FormatText, FormatJSON:
	default:
		return fmt.Errorf("log.format %q: want %q or %q", c.Format, FormatText, FormatJSON)
	}
	if strings.TrimSpace(c.Output) == "" {
		return fmt.Errorf("log.output is empty: want %s, %s, %s or a file path", OutputStderr, OutputStdout, OutputDiscard)
	}
	return nil
}

// ParseLevel reads a level name: debug, info, warn or error, in any case,
// optionally with an offset ("warn+2"), as slog.Level.UnmarshalText does.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
		return 0, fmt.Errorf("invalid log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// Root is a daemon's root logger: the *slog.Logger every component derives
// its own from (with With), the level variable that filters all of them, and
// the output file if there is one.
//
// Root is safe for concurrent use. Logger and LevelVar may be called at any
// time; the level may be changed while other goroutines log.
type Root struct {
	logger *slog.Logger
	level  *slog.LevelVar
	file   *os.File // nil unless cfg.Output is a file path
}

// New builds a Root from cfg, opening cfg.Output if it is a file path. The
// caller must Close the Root when nothing logs through it any more.
func New(cfg Config) (*Root, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("logging: %w", err)
	}
	switch cfg.Output {
	case OutputStderr:
		return newRoot(cfg, os.Stderr, nil), nil
	case OutputStdout:
		return newRoot(cfg, os.Stdout, nil), nil
	case OutputDiscard:
		return newRoot(cfg, io.Discard, nil), nil
	}
	f, err := os.OpenFile(cfg.Output, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("logging: open log output: %w", err)
	}
	return newRoot(cfg, f, f), nil
}

// NewWithWriter builds a Root that writes to w, ignoring cfg.Output. Tests
// and embedded servers use it to capture logs. w must be safe for the
// handler's serialized writes (slog handlers never write concurrently
// through one Root).
func NewWithWriter(cfg Config, w io.Writer) (*Root, error) {
	if cfg.Output == "" {
		cfg.Output = "writer" // Output is not used; keep Validate about the rest
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("logging: %w", err)
	}
	if w == nil {
		return nil, errors.New("logging: nil writer")
	}
	return newRoot(cfg, w, nil), nil
}

func newRoot(cfg Config, w io.Writer, f *os.File) *Root {
	lv := new(slog.LevelVar)
	lv.Set(cfg.Level)
	opts := &slog.HandlerOptions{Level: lv, AddSource: cfg.AddSource}
	var h slog.Handler
	if cfg.Format == FormatJSON {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return &Root{logger: slog.New(h), level: lv, file: f}
}

// Logger returns the root logger.
func (r *Root) Logger() *slog.Logger { return r.logger }

// LevelVar returns the variable holding the minimum level. Setting it
// changes what every logger derived from this Root emits.
func (r *Root) LevelVar() *slog.LevelVar { return r.level }

// Level returns the current minimum level.
func (r *Root) Level() slog.Level { return r.level.Level() }

// SetLevel changes the minimum level at runtime.
func (r *Root) SetLevel(l slog.Level) { r.level.Set(l) }

// LevelHandler serves this Root's level over HTTP; see LevelHandler.
func (r *Root) LevelHandler() *LevelHTTPHandler { return LevelHandler(r.level) }

// Close closes the output file, if any. Records logged after Close are
// dropped. Close is idempotent.
func (r *Root) Close() error {
	if r.file == nil {
		return nil
	}
	err := r.file.Close()
	if errors.Is(err, os.ErrClosed) {
		return nil
	}
	return err
}

// Discard returns a logger that drops every record. Use it where a nil
// *slog.Logger was passed, so that code never checks for nil.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// OrDiscard returns l, or a discarding logger if l is nil.
func OrDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return Discard()
	}
	return l
}
