package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	shlex "github.com/desertbit/go-shlex"
	"github.com/desertbit/grumble"
	"github.com/spf13/pflag"

	"github.com/pegasus-go/pegasus/client-go/admin"
	"github.com/pegasus-go/pegasus/metaproxy/route"
	"github.com/pegasus-go/pegasus/shared/protocol"
)

// Exit statuses.
const (
	ExitOK     = 0 // every command succeeded
	ExitFailed = 1 // an operation failed (the cluster said no, or could not be reached)
	ExitUsage  = 2 // the command line was wrong: unknown command, bad flag, missing argument
)

// DefaultTimeout bounds one command.
const DefaultTimeout = 10 * time.Second

// maxScriptLine bounds one line of a script.
const maxScriptLine = 1 << 20

// Env is the process environment Main runs in.
type Env struct {
	Args            []string // command line without the program name
	Stdin           io.Reader
	Stdout, Stderr  io.Writer
	StdinIsTerminal bool   // selects the interactive shell when no command is given
	HistoryFile     string // default shell history file ("" keeps no history)
	Logger          *slog.Logger
	// OpenRoutes opens the meta proxy routing table for the proxy
	// command (nil: a ZooKeeper session, route.Open). Tests substitute
	// another store.
	OpenRoutes func(ctx context.Context, zk []string, root string) (*route.Registry, error)
}

// options are the global flags.
type options struct {
	metas       string
	zk          string // ZooKeeper of the meta proxy routes
	root        string // their root path
	json        bool
	timeout     time.Duration
	keepGoing   bool
	historyFile string
	noColor     bool
	help        bool
}

// session is the state commands share: clients, the used table, output.
type session struct {
	ctx      context.Context
	env      Env
	opts     options
	out      io.Writer
	admin    *admin.Client
	app      *grumble.App
	commands []*command
	byName   map[string]*command
	table    string // the table chosen by `use`
	logger   *slog.Logger
	data     *dataClients // opened by the first data command
}

const usageLine = "usage: admincli -m <meta,...> [--zk <host:port,...>] [--root <path>] [--json] [--timeout <D>] [--keep-going] [command [args...]]"

// Main runs admincli and returns its exit status. See the package doc for
// the modes.
func Main(ctx context.Context, env Env) int {
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	fs := pflag.NewFlagSet("admincli", pflag.ContinueOnError)
	fs.SetInterspersed(false)
	fs.SetOutput(io.Discard)
	var o options
	fs.StringVarP(&o.metas, "meta", "m", "", "comma-separated meta server list (host:port,...)")
	fs.StringVar(&o.zk, "zk", "", "ZooKeeper ensemble of the meta proxy routes (host:port,...), for the proxy command")
	fs.StringVar(&o.root, "root", "", "path of the meta proxy routes in ZooKeeper (default "+route.DefaultRoot+")")
	fs.BoolVar(&o.json, "json", false, "print machine-readable JSON")
	fs.DurationVar(&o.timeout, "timeout", DefaultTimeout, "time limit of one command")
	fs.BoolVar(&o.keepGoing, "keep-going", false, "script mode: run the remaining lines after a failure")
	fs.StringVar(&o.historyFile, "history", env.HistoryFile, "interactive shell history file (empty: none)")
	fs.BoolVar(&o.noColor, "no-color", false, "interactive shell without colors")
	fs.BoolVarP(&o.help, "help", "h", false, "show this help")
	if err := fs.Parse(env.Args); err != nil {
		fmt.Fprintf(env.Stderr, "error: %v (%s)\n", err, usageLine)
		return ExitUsage
	}
	if o.timeout <= 0 {
		fmt.Fprintf(env.Stderr, "error: --timeout %v must be positive\n", o.timeout)
		return ExitUsage
	}
	s := newSession(ctx, env, o)
	if o.help {
		s.printHelp(env.Stdout)
		fmt.Fprintln(env.Stdout)
		fmt.Fprintln(env.Stdout, "global flags:")
		fmt.Fprint(env.Stdout, fs.FlagUsages())
		return ExitOK
	}
	args := fs.Args()
	if len(args) > 0 && args[0] == "help" {
		return s.status(s.runArgs(args), "")
	}
	defer s.close()
	switch {
	case o.metas != "":
		ac, err := admin.New(admin.Config{MetaServers: parseList(strings.ReplaceAll(o.metas, " ", "")), Timeout: o.timeout}, admin.WithLogger(env.Logger))
		if err != nil {
			fmt.Fprintf(env.Stderr, "error: -m %q: %v\n", o.metas, err)
			return ExitUsage
		}
		s.admin = ac
	case len(args) > 0 && s.byName[args[0]] != nil && s.byName[args[0]].noMeta, len(args) == 0 && o.zk != "":
		// Route management only: no meta servers needed.
	default:
		fmt.Fprintln(env.Stderr, "error: no meta servers: pass -m host:port[,host:port...]")
		return ExitUsage
	}

	switch {
	case len(args) > 0:
		return s.status(s.runArgs(args), "")
	case !env.StdinIsTerminal:
		return s.runScript(env.Stdin)
	default:
		return s.runShell()
	}
}

func newSession(ctx context.Context, env Env, o options) *session {
	s := &session{ctx: ctx, env: env, opts: o, out: env.Stdout, logger: env.Logger, byName: map[string]*command{}}
	s.app = grumble.New(&grumble.Config{
		Name:        "admincli",
		Description: "Pegasus-Go operator shell",
		HistoryFile: o.historyFile,
		NoColor:     o.noColor,
		Prompt:      "admincli » ",
	})
	s.app.SetPrintHelp(func(_ *grumble.App, _ bool) { s.printHelp(s.out) })
	s.app.SetPrintCommandHelp(func(_ *grumble.App, gc *grumble.Command, _ bool) {
		if c := s.byName[gc.Name]; c != nil {
			s.printCommandHelp(s.out, c)
		}
	})
	for _, c := range allCommands() {
		s.register(c)
	}
	return s
}

func (s *session) close() {
	if s.data != nil {
		s.data.close()
	}
	if s.admin != nil {
		_ = s.admin.Close()
	}
}

// register adds c to the shell library and the session's index.
func (s *session) register(c *command) {
	s.commands = append(s.commands, c)
	s.byName[c.name] = c
	gc := &grumble.Command{
		Name:      c.name,
		Help:      c.help,
		LongHelp:  c.long,
		HelpGroup: c.group,
		Usage:     c.usage(),
		Flags: func(f *grumble.Flags) {
			for _, fl := range c.flags {
				if fl.kind == flagBool {
					f.Bool(fl.short, fl.long, false, fl.help)
				} else {
					f.String(fl.short, fl.long, "", fl.help)
				}
			}
		},
		Args: func(a *grumble.Args) { a.StringList("args", "arguments") },
		Run:  func(gc *grumble.Context) error { return s.runGrumble(c, gc) },
	}
	if hasTableArg(c) {
		gc.Completer = s.completer(c)
	}
	s.app.AddCommand(gc)
}

func hasTableArg(c *command) bool {
	return slices.ContainsFunc(c.args, func(a argSpec) bool { return a.table })
}

// runGrumble runs c with the flags the shell library parsed (those before
// the first positional argument) and the remaining tokens.
func (s *session) runGrumble(c *command, gc *grumble.Context) error {
	pre := make(map[string]string)
	for _, f := range c.flags {
		if item := gc.Flags[f.long]; item != nil && !item.IsDefault {
			pre[f.long] = fmt.Sprint(item.Value)
		}
	}
	in, err := parseInput(c, pre, gc.Args.StringList("args"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.timeout)
	defer cancel()
	return c.run(ctx, s, in)
}

// runArgs runs one command line given as words.
func (s *session) runArgs(args []string) error {
	if len(args) == 0 {
		return nil
	}
	if args[0] == "help" {
		switch len(args) {
		case 1:
			s.printHelp(s.out)
			return nil
		case 2:
			if c := s.byName[args[1]]; c != nil {
				s.printCommandHelp(s.out, c)
				return nil
			}
			return usagef("help: unknown command %q", args[1])
		default:
			return usagef("help: too many arguments (usage: help [command])")
		}
	}
	c := s.byName[args[0]]
	if c == nil {
		return usagef("unknown command %q, try 'help'", args[0])
	}
	if s.admin == nil && !c.noMeta {
		return usagef("%s: no meta servers: pass -m host:port[,host:port...]", c.name)
	}
	err := s.app.RunCommand(args)
	var ue *usageError
	var oe *opError
	if err != nil && !errors.As(err, &ue) && !errors.As(err, &oe) {
		// The shell library's own parse errors (bad leading flags).
		return usagef("%s: %v (usage: %s)", args[0], err, s.byName[args[0]].usage())
	}
	return err
}

// status prints err (if any) as one line on stderr and returns the exit
// status it maps to.
func (s *session) status(err error, where string) int {
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(s.env.Stderr, "error: %s%s\n", where, oneLine(err.Error()))
	var oe *opError
	if errors.As(err, &oe) {
		return ExitFailed
	}
	return ExitUsage
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// runScript runs one command per line of r.
func (s *session) runScript(r io.Reader) int {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxScriptLine)
	worst := ExitOK
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		where := fmt.Sprintf("line %d: ", lineNo)
		var st int
		if words, err := shlex.Split(line, true); err != nil {
			st = s.status(usagef("cannot split %q: %v", line, err), where)
		} else {
			st = s.status(s.runArgs(words), where)
		}
		worst = max(worst, st)
		if st != ExitOK && !s.opts.keepGoing {
			return st
		}
	}
	if err := sc.Err(); err != nil {
		return max(worst, s.status(usagef("read script: %v", err), fmt.Sprintf("line %d: ", lineNo+1)))
	}
	return worst
}

// runShell runs the interactive shell on the process's terminal.
func (s *session) runShell() int {
	s.out = s.app
	s.app.OnShell(func(a *grumble.App) error {
		metas := "none (only proxy commands)"
		if s.admin != nil {
			metas = strings.Join(s.admin.MetaServers(), ",")
		}
		fmt.Fprintf(a, "admincli: meta servers %s; 'help' lists commands, 'exit' quits\n", metas)
		return nil
	})
	s.app.SetInterruptHandler(func(a *grumble.App, count int) {
		if count >= 2 {
			_ = a.Close()
			return
		}
		fmt.Fprintln(a, "press Ctrl-C again, or type exit, to quit")
	})
	// The shell library reads its own flags from os.Args (and takes its
	// color setting from them); it must see only those.
	saved := os.Args
	os.Args = []string{"admincli"}
	if s.opts.noColor {
		os.Args = append(os.Args, "--nocolor")
	}
	defer func() { os.Args = saved }()
	if err := s.app.Run(); err != nil {
		fmt.Fprintf(s.env.Stderr, "error: %v\n", err)
		return ExitFailed
	}
	return ExitOK
}

// setTable records the used table and shows it in the shell prompt.
func (s *session) setTable(name string) {
	s.table = name
	s.app.SetPrompt(fmt.Sprintf("admincli [%s] » ", name))
}

// tableFor returns the table a command works on: its -a flag, else the
// used table.
func (s *session) tableFor(in *input) (string, error) {
	if t := in.str("app"); t != "" {
		return t, nil
	}
	if s.table == "" {
		return "", usagef("%s: no table: run 'use <table>' first or pass -a <table>", in.cmd.name)
	}
	return s.table, nil
}

// emit prints a command's result: v as JSON with --json, else text.
func (s *session) emit(v any, text func(w io.Writer) error) error {
	var err error
	if s.opts.json {
		err = writeJSON(s.out, v)
	} else {
		err = text(s.out)
	}
	if err != nil {
		return &opError{err: fmt.Errorf("write output: %w", err)}
	}
	return nil
}

// completer completes table names for the positional table argument and
// flag names otherwise.
func (s *session) completer(c *command) func(prefix string, args []string) []string {
	return func(prefix string, args []string) []string {
		if strings.HasPrefix(prefix, "-") {
			var out []string
			for _, f := range c.flags {
				for _, name := range []string{"--" + f.long, "-" + f.short} {
					if name != "-" && strings.HasPrefix(name, prefix) {
						out = append(out, name)
					}
				}
			}
			return out
		}
		npos := 0
		for i := 0; i < len(args); i++ {
			if f := c.flag(args[i]); f != nil {
				if f.kind != flagBool && !strings.Contains(args[i], "=") {
					i++
				}
				continue
			}
			npos++
		}
		if npos >= len(c.args) || !c.args[npos].table {
			return nil
		}
		return s.tableNames(prefix)
	}
}

// tableNames lists available tables starting with prefix.
func (s *session) tableNames(prefix string) []string {
	if s.admin == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, min(s.opts.timeout, 3*time.Second))
	defer cancel()
	apps, err := s.admin.ListApps(ctx, protocol.AppAvailable)
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range apps {
		if strings.HasPrefix(a.Name, prefix) {
			out = append(out, a.Name)
		}
	}
	return out
}

// printHelp lists the commands by group.
func (s *session) printHelp(w io.Writer) {
	fmt.Fprintln(w, usageLine)
	var group string
	for _, c := range s.commands {
		if c.group != group {
			group = c.group
			fmt.Fprintf(w, "\n%s:\n", group)
		}
		fmt.Fprintf(w, "  %-18s %s\n", c.name, c.help)
	}
	fmt.Fprintln(w, "\n'help <command>' (or '<command> --help') shows a command's arguments and flags.")
}

// printCommandHelp shows one command's usage, arguments and flags.
func (s *session) printCommandHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "usage: %s\n%s\n", c.usage(), c.help)
	if c.long != "" {
		fmt.Fprintf(w, "\n%s\n", c.long)
	}
	if len(c.args) > 0 {
		fmt.Fprintln(w, "\narguments:")
		for _, a := range c.args {
			fmt.Fprintf(w, "  %-26s %s\n", a.name, a.help)
		}
	}
	if len(c.flags) > 0 {
		fmt.Fprintln(w, "\nflags:")
		for _, f := range c.flags {
			name := "    --" + f.long
			if f.short != "" {
				name = "-" + f.short + ", --" + f.long
			}
			if f.kind != flagBool {
				name += " " + f.value
			}
			fmt.Fprintf(w, "  %-26s %s\n", name, f.help)
		}
	}
}

// openRoutes opens the meta proxy routing table at root on the ZooKeeper
// ensemble zk (or through Env.OpenRoutes).
func (s *session) openRoutes(ctx context.Context, zk []string, root string) (*route.Registry, error) {
	if s.env.OpenRoutes != nil {
		return s.env.OpenRoutes(ctx, zk, root)
	}
	return route.Open(ctx, route.OpenOptions{Servers: zk, Root: root, Logger: s.logger,
		ConnectTimeout: min(s.opts.timeout, 10*time.Second)})
}
