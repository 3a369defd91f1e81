package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"
)

// ErrHelpOrPrinted is returned by Load when it has handled --help,
// --print-default-config or --print-config by writing to its output. The
// daemon should exit with status 0 without starting.
var ErrHelpOrPrinted = errors.New("config: help or configuration printed")

// MaxFileSize bounds the configuration file Load reads. A larger file is an
// error rather than a large allocation.
const MaxFileSize = 16 << 20

// UnknownKeysError reports keys in a configuration file that match no field
// of the config struct. Load returns it instead of ignoring typos.
type UnknownKeysError struct {
	// File is the path of the configuration file.
	File string
	// Keys are the unknown keys as dotted TOML paths (e.g.
	// "replication.duplication_enabeld"), in file order. An unknown table
	// is reported by its keys; an empty unknown table by its own path.
	Keys []string

	sections []unknownKey // parallel to Keys, for Error
}

type unknownKey struct {
	section, key string // the enclosing table ("" at top level) and the key
	isTable      bool   // the key is itself an empty unknown table
}

// Error names every unknown key with its section and the file.
func (e *UnknownKeysError) Error() string {
	parts := make([]string, len(e.sections))
	for i, k := range e.sections {
		switch {
		case k.isTable:
			parts[i] = fmt.Sprintf("section [%s]", k.key)
		case k.section == "":
			parts[i] = fmt.Sprintf("%q at top level", k.key)
		default:
			parts[i] = fmt.Sprintf("%q in section [%s]", k.key, k.section)
		}
	}
	noun := "key"
	if len(parts) > 1 {
		noun = "keys"
	}
	return fmt.Sprintf("config file %q: unknown %s: %s", e.File, noun, strings.Join(parts, ", "))
}

// Result describes what Load did besides filling the config.
type Result struct {
	// File is the configuration file that was read ("" if none was given).
	File string
	// Flags is the parsed flag set. Flags a daemon registered with
	// WithFlags are read from it; Flags.Changed reports which flags,
	// including the automatic --<section>.<key> ones, were given.
	Flags *pflag.FlagSet
	// Args are the positional arguments. Load rejects them unless
	// WithPositionalArgs was given.
	Args []string
}

// Option adjusts Load.
type Option func(*options)

type options struct {
	name       string
	out        io.Writer
	extra      []func(*pflag.FlagSet)
	aliases    []alias
	positional bool
}

type alias struct{ name, shorthand, target string }

// WithName sets the program name shown in --help (default "daemon").
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithOutput sets where --help, --print-default-config and --print-config
// write (default os.Stdout).
func WithOutput(w io.Writer) Option { return func(o *options) { o.out = w } }

// WithFlags lets the daemon register flags of its own that are not part of
// the config struct (e.g. --version). fn runs before the built-in and
// automatic flags are added; a name it takes that those need makes Load
// fail. Read the values after Load from the variables fn bound or from
// Result.Flags.
func WithFlags(fn func(fs *pflag.FlagSet)) Option {
	return func(o *options) { o.extra = append(o.extra, fn) }
}

// WithAlias adds --name (and -shorthand if not empty) as another spelling of
// the automatic flag for the config key at the dotted path target, e.g.
// WithAlias("data-dir", "d", "replication.data_dir"). The alias has the same
// precedence as the flag it stands for.
func WithAlias(name, shorthand, target string) Option {
	return func(o *options) { o.aliases = append(o.aliases, alias{name, shorthand, target}) }
}

// WithPositionalArgs allows positional arguments; they are returned in
// Result.Args. Without it a positional argument is an error.
func WithPositionalArgs() Option { return func(o *options) { o.positional = true } }

// Flag names Load always registers.
const (
	FlagConfig             = "config" // -c/--config <file.toml>
	FlagHelp               = "help"   // -h/--help
	FlagPrintDefaultConfig = "print-default-config"
	FlagPrintConfig        = "print-config"
)

// Load fills *cfg in layers: *cfg holds the compiled defaults on entry; the
// TOML file named by -c/--config (if any) is decoded over them; the flags in
// args (without the program name) are applied over that; finally, if *cfg
// (or cfg) has a method Validate() error, it is called. cfg must point to a
// struct.
//
// Every scalar, slice-of-scalar and map-of-scalar field reachable through
// nested struct fields gets an automatic flag named by its TOML path, e.g.
// --replication.duplication_enabled=false or --meta_server.addrs=a,b. A map
// field takes one key=value per occurrence (--pegasus.clusters
// onebox=127.0.0.1:34601). Map-of-struct fields are set only by the file.
//
// Unknown keys in the file are an *UnknownKeysError; unknown flags, bad flag
// values and positional arguments (unless WithPositionalArgs) are errors;
// Validate's error is returned wrapped. Maps in the file are merged into
// the default maps key by key; slices replace the default.
//
// When --help, --print-default-config (the defaults, before the file and
// flags) or --print-config (the effective configuration, after validation)
// is given, Load writes to its output and returns ErrHelpOrPrinted.
//
// On error *cfg may be partly updated and must not be used.
func Load[T any](args []string, cfg *T, opts ...Option) (Result, error) {
	o := options{name: "daemon", out: os.Stdout}
	for _, opt := range opts {
		opt(&o)
	}
	var res Result
	if cfg == nil {
		return res, errors.New("config: Load of a nil config")
	}
	rv := reflect.ValueOf(cfg).Elem()
	if rv.Kind() != reflect.Struct {
		return res, fmt.Errorf("config: Load needs a pointer to a struct, got %T", cfg)
	}

	fs := pflag.NewFlagSet(o.name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, usage is written by Load
	fs.Usage = func() {}
	res.Flags = fs
	for _, fn := range o.extra {
		fn(fs)
	}
	var (
		file                              string
		help, printDefaults, printCurrent bool
	)
	builtins := []struct {
		name, short string
		add         func()
	}{
		{FlagConfig, "c", func() {
			fs.StringVarP(&file, FlagConfig, "c", "", "TOML configuration `file` read over the compiled defaults")
		}},
		{FlagHelp, "h", func() { fs.BoolVarP(&help, FlagHelp, "h", false, "show this help and exit") }},
		{FlagPrintDefaultConfig, "", func() {
			fs.BoolVar(&printDefaults, FlagPrintDefaultConfig, false, "print the default configuration as a commented TOML template and exit")
		}},
		{FlagPrintConfig, "", func() {
			fs.BoolVar(&printCurrent, FlagPrintConfig, false, "print the effective configuration (defaults, file, flags) as TOML and exit")
		}},
	}
	for _, b := range builtins {
		if err := checkFree(fs, b.name, b.short); err != nil {
			return res, err
		}
		b.add()
	}
	fieldFlags, err := registerFieldFlags(fs, rv)
	if err != nil {
		return res, fmt.Errorf("config: %w", err)
	}
	for _, a := range o.aliases {
		target := fs.Lookup(a.target)
		if target == nil || !slices.ContainsFunc(fieldFlags, func(f *fieldFlag) bool { return f == target.Value }) {
			return res, fmt.Errorf("config: alias --%s: no configuration flag --%s", a.name, a.target)
		}
		if err := checkFree(fs, a.name, a.shorthand); err != nil {
			return res, err
		}
		fs.AddFlag(&pflag.Flag{
			Name: a.name, Shorthand: a.shorthand, Value: target.Value, DefValue: target.DefValue,
			NoOptDefVal: target.NoOptDefVal, Usage: "same as --" + a.target,
		})
	}

	if err := fs.Parse(args); err != nil {
		return res, fmt.Errorf("config: %w (see --help)", err)
	}
	res.Args = fs.Args()
	if help {
		return res, writeUsage(o.out, o.name, fs)
	}
	if printDefaults {
		if err := WriteTemplate(o.out, cfg); err != nil {
			return res, err
		}
		return res, ErrHelpOrPrinted
	}
	if len(res.Args) > 0 && !o.positional {
		return res, fmt.Errorf("config: unexpected argument %q (see --help)", res.Args[0])
	}
	if file != "" {
		res.File = file
		if err := decodeFile(file, cfg); err != nil {
			return res, err
		}
	}
	for _, f := range fieldFlags {
		if err := f.apply(rv); err != nil {
			return res, fmt.Errorf("config: %w", err)
		}
	}
	if v, ok := any(cfg).(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			if file != "" {
				return res, fmt.Errorf("config: invalid configuration (file %q and flags): %w", file, err)
			}
			return res, fmt.Errorf("config: invalid configuration: %w", err)
		}
	}
	if printCurrent {
		if err := WriteTemplate(o.out, cfg); err != nil {
			return res, err
		}
		return res, ErrHelpOrPrinted
	}
	return res, nil
}

// ExitCode maps an error from Load to a process exit status: 0 for nil and
// for ErrHelpOrPrinted, 2 (bad usage or configuration) for anything else.
func ExitCode(err error) int {
	if err == nil || errors.Is(err, ErrHelpOrPrinted) {
		return 0
	}
	return 2
}

func checkFree(fs *pflag.FlagSet, name, shorthand string) error {
	if fs.Lookup(name) != nil {
		return fmt.Errorf("config: flag --%s is already registered", name)
	}
	switch {
	case len(shorthand) > 1:
		return fmt.Errorf("config: shorthand %q for --%s is longer than one character", shorthand, name)
	case len(shorthand) == 1 && fs.ShorthandLookup(shorthand) != nil:
		return fmt.Errorf("config: shorthand -%s for --%s is already registered", shorthand, name)
	}
	return nil
}

func writeUsage(w io.Writer, name string, fs *pflag.FlagSet) error {
	_, err := fmt.Fprintf(w, "Usage: %s [flags]\n\n"+
		"Configuration comes from the compiled defaults, then the TOML file given with\n"+
		"-c/--config, then the flags below (--<section>.<key>=value), and is validated last.\n\n"+
		"Flags:\n%s", name, fs.FlagUsages())
	if err != nil {
		return err
	}
	return ErrHelpOrPrinted
}

// decodeFile decodes the TOML file at path over cfg and rejects keys that
// match no field.
func decodeFile(path string, cfg any) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return fmt.Errorf("config: read %q: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return fmt.Errorf("config file %q: larger than %d bytes", path, MaxFileSize)
	}
	md, err := toml.Decode(string(data), cfg)
	if err != nil {
		return fmt.Errorf("config file %q: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return unknownKeys(path, &md, und)
	}
	return nil
}

func unknownKeys(path string, md *toml.MetaData, keys []toml.Key) error {
	e := &UnknownKeysError{File: path}
	isPrefix := func(p, k toml.Key) bool {
		return len(p) < len(k) && slices.Equal(p, k[:len(p)])
	}
	for _, k := range keys {
		// An unknown table is reported through its keys.
		if slices.ContainsFunc(keys, func(other toml.Key) bool { return isPrefix(k, other) }) {
			continue
		}
		e.Keys = append(e.Keys, k.String())
		e.sections = append(e.sections, unknownKey{
			section: k[:len(k)-1].String(),
			key:     k[len(k)-1],
			isTable: md.Type(k...) == "Hash",
		})
		if e.sections[len(e.sections)-1].isTable {
			e.sections[len(e.sections)-1].key = k.String()
		}
	}
	return e
}
