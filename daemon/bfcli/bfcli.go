// Package bfcli is the bfcli command: it parses bfcli text on the client
// side (so errors point at the user's text, and interface names resolve in
// the client's network namespace), sends IR to the daemon and prints the
// answers as upstream bfcli does.
package bfcli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/bpfilter-go/bpfilter/daemon/client"
	"github.com/bpfilter-go/bpfilter/daemon/proto"
	"github.com/bpfilter-go/bpfilter/frontends/cli"
	"github.com/bpfilter-go/bpfilter/ir"
)

const usage = `Usage: bfcli [--runtime-dir DIR] OBJECT ACTION [OPTIONS]

  bfcli ruleset set   (-f FILE | -s TEXT) [--dry-run]
  bfcli ruleset get   [--no-set-content] [--json]
  bfcli ruleset flush
  bfcli chain set     (-f FILE | -s TEXT) [--name NAME] [--dry-run]
  bfcli chain load    (-f FILE | -s TEXT) [--name NAME] [--dry-run]
  bfcli chain update  (-f FILE | -s TEXT) [--name NAME] [--dry-run]
  bfcli chain get     --name NAME [--no-set-content] [--json]
  bfcli chain attach  --name NAME --option KEY=VALUE...
  bfcli chain update-set --name NAME --set-name SET [--add ELEM]... [--remove ELEM]... [--dry-run]
  bfcli chain flush   --name NAME
  bfcli chain logs    --name NAME [--json]
  bfcli rule insert   --chain NAME --index N (-f FILE | -s RULES) [--expect-rules N] [--dry-run]
  bfcli rule replace  --chain NAME --index N (-f FILE | -s RULES) [--expect-rules N] [--dry-run]
  bfcli rule delete   --chain NAME --index N [--count N] [--expect-rules N] [--dry-run]

  rule commands edit one chain without sending it whole: RULES are bfcli
  rule statements ("rule ip4.saddr 198.18.0.1 counter DROP"), parsed by
  the daemon against the chain's hook and named sets. insert puts them
  before rule N (N may be the rule count: append); replace replaces rules
  N, N+1... one for one; delete removes --count rules (1) from rule N on.
  Rules are numbered from 0, as chain get lists them. --expect-rules N
  refuses the edit when the chain no longer has N rules.
`

// usageError is a command line mistake (exit code 2).
type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// Main runs bfcli and returns its exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	err := run(args, stdout)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "bfcli: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprint(stderr, usage)
		return 2
	}
	return 1
}

// daemonOnly are upstream bfcli global options that belong to the daemon
// here.
var daemonOnly = []string{"--bpffs-path", "--with-bpf-token", "--verbose", "-v"}

func run(args []string, stdout io.Writer) error {
	dir := client.DefaultRuntimeDir
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		a := args[0]
		switch {
		case a == "-h" || a == "--help" || a == "-?":
			fmt.Fprint(stdout, usage)
			return nil
		case a == "--runtime-dir" && len(args) > 1:
			dir, args = args[1], args[2:]
		case strings.HasPrefix(a, "--runtime-dir="):
			dir, args = strings.TrimPrefix(a, "--runtime-dir="), args[1:]
		default:
			for _, d := range daemonOnly {
				if a == d || strings.HasPrefix(a, d+"=") {
					return usagef("%s is an option of the daemon here (bpfilter %s): bfcli talks to a running daemon", d, d)
				}
			}
			return usagef("unknown global option %s", a)
		}
	}
	if len(args) < 2 {
		return usagef("want OBJECT ACTION")
	}
	obj, act := args[0], args[1]
	cmd, ok := commands[obj+" "+act]
	if !ok {
		return usagef("unknown command %q", obj+" "+act)
	}
	o, err := parseOpts(obj+" "+act, args[2:])
	if err != nil {
		return err
	}
	return cmd(&env{dir: dir, out: stdout, o: o})
}

// opts are the command options; each command checks the ones it needs.
type opts struct {
	fromFile, fromStr, name, setName string
	options, add, remove             []string
	dryRun, noSetContent, json       bool
	set                              map[string]bool
	// rule commands (rules.go)
	index, count, expectRules int
}

var allowed = map[string][]string{
	"ruleset set":      {"from-file", "from-str", "dry-run"},
	"ruleset get":      {"no-set-content", "json"},
	"ruleset flush":    {},
	"chain set":        {"from-file", "from-str", "name", "dry-run"},
	"chain load":       {"from-file", "from-str", "name", "dry-run"},
	"chain update":     {"from-file", "from-str", "name", "dry-run"},
	"chain get":        {"name", "no-set-content", "json"},
	"chain attach":     {"name", "option"},
	"chain update-set": {"name", "set-name", "add", "remove", "dry-run"},
	"chain flush":      {"name"},
	"chain logs":       {"name", "json"},
	// rule commands (rules.go)
	"rule insert":  {"chain", "name", "index", "from-file", "from-str", "expect-rules", "dry-run"},
	"rule replace": {"chain", "name", "index", "from-file", "from-str", "expect-rules", "dry-run"},
	"rule delete":  {"chain", "name", "index", "count", "expect-rules", "dry-run"},
}

func parseOpts(cmd string, args []string) (*opts, error) {
	fs := pflag.NewFlagSet(cmd, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := &opts{set: map[string]bool{}}
	fs.StringVarP(&o.fromFile, "from-file", "f", "", "")
	fs.StringVarP(&o.fromStr, "from-str", "s", "", "")
	fs.StringVar(&o.name, "name", "", "")
	fs.StringVar(&o.setName, "set-name", "", "")
	fs.StringArrayVar(&o.options, "option", nil, "")
	fs.StringArrayVar(&o.add, "add", nil, "")
	fs.StringArrayVar(&o.remove, "remove", nil, "")
	fs.BoolVar(&o.dryRun, "dry-run", false, "")
	fs.BoolVar(&o.noSetContent, "no-set-content", false, "")
	fs.BoolVar(&o.json, "json", false, "")
	// rule commands (rules.go)
	fs.StringVar(&o.name, "chain", "", "")
	fs.IntVar(&o.index, "index", 0, "")
	fs.IntVar(&o.count, "count", 1, "")
	fs.IntVar(&o.expectRules, "expect-rules", -1, "")
	if err := fs.Parse(args); err != nil {
		return nil, usageError{err}
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	ok := map[string]bool{}
	for _, n := range allowed[cmd] {
		ok[n] = true
	}
	var bad error
	fs.Visit(func(f *pflag.Flag) {
		o.set[f.Name] = true
		if !ok[f.Name] && bad == nil {
			bad = usagef("option --%s does not apply to %s", f.Name, cmd)
		}
	})
	return o, bad
}

type env struct {
	dir string
	out io.Writer
	o   *opts
}

func (e *env) do(req *proto.Request) (*proto.Response, error) {
	c, err := client.Dial(e.dir)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	// Loading a large ruleset takes time, a hung daemon must not hang us.
	c.Timeout = 5 * time.Minute
	req.Front = proto.FrontCLI
	return c.Do(req)
}

// source reads the bfcli text of -f or -s.
func (e *env) source() (string, []byte, error) {
	switch {
	case e.o.set["from-file"] && e.o.set["from-str"]:
		return "", nil, usagef("--from-file and --from-str are mutually exclusive")
	case e.o.set["from-file"]:
		b, err := os.ReadFile(e.o.fromFile)
		if err != nil {
			return "", nil, fmt.Errorf("reading rules: %w", err)
		}
		return e.o.fromFile, b, nil
	case e.o.set["from-str"]:
		return "<string>", []byte(e.o.fromStr), nil
	}
	return "", nil, usagef("give the rules with --from-file or --from-str")
}

// parse parses the rules in the client's network namespace.
func (e *env) parse() (*ir.Ruleset, error) {
	name, src, err := e.source()
	if err != nil {
		return nil, err
	}
	return cli.Parse(name, src, ir.ParseEnv{ResolveIface: func(n string) (uint32, error) {
		ifi, err := net.InterfaceByName(n)
		if err != nil {
			return 0, fmt.Errorf("interface %q: %w", n, err)
		}
		return uint32(ifi.Index), nil
	}})
}

func (e *env) requireName() error {
	if e.o.name == "" {
		return usagef("--name is required")
	}
	return nil
}

var commands = map[string]func(*env) error{
	"ruleset set": func(e *env) error {
		rs, err := e.parse()
		if err != nil {
			return err
		}
		_, err = e.do(&proto.Request{Cmd: proto.CmdRulesetSet, Ruleset: rs, DryRun: e.o.dryRun})
		return err
	},
	"ruleset get": func(e *env) error {
		return e.list(&proto.Request{Cmd: proto.CmdRulesetGet})
	},
	"ruleset flush": func(e *env) error {
		_, err := e.do(&proto.Request{Cmd: proto.CmdRulesetFlush})
		return err
	},
	"chain set":    chainCmd(proto.CmdChainSet),
	"chain load":   chainCmd(proto.CmdChainLoad),
	"chain update": chainCmd(proto.CmdChainUpdate),
	"chain get": func(e *env) error {
		if err := e.requireName(); err != nil {
			return err
		}
		return e.list(&proto.Request{Cmd: proto.CmdChainGet, Name: e.o.name})
	},
	"chain attach": func(e *env) error {
		if err := e.requireName(); err != nil {
			return err
		}
		if len(e.o.options) == 0 {
			return usagef("chain attach needs at least one --option")
		}
		var ho ir.HookOpts
		for _, s := range e.o.options {
			if err := proto.ParseHookOption(s, &ho, nil); err != nil {
				return err
			}
		}
		_, err := e.do(&proto.Request{Cmd: proto.CmdChainAttach, Name: e.o.name, HookOpts: &ho})
		return err
	},
	"chain update-set": func(e *env) error {
		if err := e.requireName(); err != nil {
			return err
		}
		if e.o.setName == "" {
			return usagef("--set-name is required")
		}
		if len(e.o.add) == 0 && len(e.o.remove) == 0 {
			return usagef("give at least one --add or --remove")
		}
		_, err := e.do(&proto.Request{Cmd: proto.CmdChainUpdSet, Name: e.o.name, SetName: e.o.setName,
			Add: e.o.add, Remove: e.o.remove, DryRun: e.o.dryRun})
		return err
	},
	"chain flush": func(e *env) error {
		if err := e.requireName(); err != nil {
			return err
		}
		_, err := e.do(&proto.Request{Cmd: proto.CmdChainFlush, Name: e.o.name})
		return err
	},
	"chain logs": logs,
	// rule commands (rules.go)
	"rule insert":  ruleCmd(proto.EditInsert),
	"rule replace": ruleCmd(proto.EditReplace),
	"rule delete":  ruleCmd(proto.EditDelete),
}

func chainCmd(cmd string) func(*env) error {
	return func(e *env) error {
		rs, err := e.parse()
		if err != nil {
			return err
		}
		c, err := cli.SelectChain(rs, e.o.name)
		if err != nil {
			return err
		}
		_, err = e.do(&proto.Request{Cmd: cmd, Chain: c, DryRun: e.o.dryRun})
		return err
	}
}

// list prints a get answer: bfcli listing with counters, or JSON.
func (e *env) list(req *proto.Request) error {
	req.NoSetContent = e.o.json && e.o.noSetContent
	r, err := e.do(req)
	if err != nil {
		return err
	}
	if e.o.json {
		enc := json.NewEncoder(e.out)
		enc.SetIndent("", "  ")
		return enc.Encode(r.Chains)
	}
	rs := &ir.Ruleset{}
	counters := map[string]*cli.ChainCounters{}
	for _, cs := range r.Chains {
		rs.Chains = append(rs.Chains, cs.Chain)
		if cs.Counters != nil {
			cc := &cli.ChainCounters{Policy: cli.Counter(cs.Counters.Policy), Errors: cli.Counter(cs.Counters.Errors)}
			for _, c := range cs.Counters.Rules {
				cc.Rules = append(cc.Rules, cli.Counter(c))
			}
			counters[cs.Chain.Name] = cc
		}
	}
	_, err = io.WriteString(e.out, cli.List(rs, cli.ListOptions{
		Counters:     func(n string) *cli.ChainCounters { return counters[n] },
		NoSetContent: e.o.noSetContent,
	}))
	return err
}

// logs prints log entries until interrupted.
func logs(e *env) error {
	if err := e.requireName(); err != nil {
		return err
	}
	c, err := client.Dial(e.dir)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		c.Close()
	}()
	err = c.Stream(&proto.Request{Front: proto.FrontCLI, Cmd: proto.CmdChainLogs, Name: e.o.name}, func(r *proto.Response) error {
		if r.Log == nil {
			return nil
		}
		if e.o.json {
			_, err := fmt.Fprintf(e.out, "%s\n", r.Log.Data)
			return err
		}
		_, err := fmt.Fprintf(e.out, "%s\n\n", r.Log.Text)
		return err
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}
