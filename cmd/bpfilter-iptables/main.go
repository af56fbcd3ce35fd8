// Command bpfilter-iptables is iptables, ip6tables, iptables-save,
// ip6tables-save, iptables-restore and ip6tables-restore for bpfilter: one
// multi-call binary choosing the tool from its name (argv[0], for links
// named like the tools) or from its first argument. It accepts the
// iptables 1.8 command line and prints what iptables prints (package
// compat/iptables), but reads and writes the tables of the bpfilter
// daemon, in the kernel's formats over the daemon's socket, so listings
// show the BPF counters.
//
//	bpfilter-iptables iptables -A INPUT -p tcp --dport 22 -j ACCEPT
//	bpfilter-iptables import [--dry-run] [--reject-as-drop]
//
// The daemon's runtime directory is taken from BPFILTER_RUNTIME_DIR
// (default /run/bpfilter), so that the command line stays the one of
// iptables.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/bpfilter-go/bpfilter/compat/iptables"
	"github.com/bpfilter-go/bpfilter/daemon/client"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
)

// Tools are the names the binary answers to.
var tools = []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"}

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: bpfilter-iptables {%s} [args]\n       bpfilter-iptables import [--dry-run] [--reject-as-drop]\n", strings.Join(tools, "|"))
}

func run(argv []string, stdin io.Reader, stdout, stderr io.Writer) int {
	prog := filepath.Base(argv[0])
	args := argv[1:]
	if !isTool(prog) {
		if len(args) == 0 {
			usage(stderr)
			return iptables.ExitParameter
		}
		prog, args = filepath.Base(args[0]), args[1:]
	}
	dir := os.Getenv("BPFILTER_RUNTIME_DIR")
	if dir == "" {
		dir = client.DefaultRuntimeDir
	}
	if prog == "import" {
		return runImport(dir, args, stdout, stderr)
	}
	if !isTool(prog) {
		fmt.Fprintf(stderr, "bpfilter-iptables: unknown tool %q\n", prog)
		usage(stderr)
		return iptables.ExitParameter
	}
	fam := abi.IPv4
	if strings.HasPrefix(prog, "ip6tables") {
		fam = abi.IPv6
	}
	tool := strings.TrimPrefix(strings.TrimPrefix(prog, "ip6tables"), "iptables")
	if tool != "-save" {
		unlock, err := lock(dir, args)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return iptables.ExitResource
		}
		defer unlock()
	}
	c, err := client.Dial(dir)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return iptables.ExitResource
	}
	defer c.Close()
	conn := &iptables.DaemonConn{C: c, Fam: fam}
	ts := iptables.DaemonTables(conn)
	var code int
	test := false
	switch tool {
	case "":
		code = iptables.Main(ts, args, stdout, stderr)
	case "-save":
		// The daemon has the filter table only.
		if _, err := ts.Table("filter"); err != nil {
			return iptables.ReportError(fam, "-save", err, stderr)
		}
		return iptables.SaveMain(ts, args, stdout, stderr)
	case "-restore":
		// --test also asks the daemon to check and translate the tables
		// (a dry-run replace), so that it fails where a restore would.
		args, test = withoutTest(args)
		code = iptables.RestoreMain(ts, args, stdin, stdout, stderr)
	}
	if code != iptables.ExitOK {
		return code
	}
	if err := ts.CommitDaemon(conn, test); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return iptables.ExitOther
	}
	return code
}

func isTool(name string) bool {
	for _, t := range tools {
		if name == t {
			return true
		}
	}
	return false
}

// withoutTest removes iptables-restore's -t/--test from args.
func withoutTest(args []string) ([]string, bool) {
	var out []string
	test := false
	for _, a := range args {
		if a == "-t" || a == "--test" {
			test = true
			continue
		}
		out = append(out, a)
	}
	return out, test
}
