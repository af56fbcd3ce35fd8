// Command xtmulti is a multi-call iptables-legacy work-alike backed by this
// repository's iptables model: it reads the kernel's tables with
// getsockopt, applies the iptables, iptables-save or iptables-restore
// command line (and the ip6tables ones), and writes changed tables back
// with setsockopt, in the calling process's network namespace. It exists
// to run iptables' own shell tests against the model; bpfilter's daemon
// client will use the same package with the daemon as the table store.
//
//	xtmulti iptables -A INPUT -j ACCEPT
//	xtmulti ip6tables-save
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bpfilter-go/bpfilter/compat/iptables"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/kernel"
)

func main() {
	os.Exit(run(os.Args))
}

func run(argv []string) int {
	prog := filepath.Base(argv[0])
	args := argv[1:]
	if prog == "xtmulti" {
		if len(args) == 0 {
			fmt.Fprintln(os.Stderr, "usage: xtmulti iptables|ip6tables|iptables-save|ip6tables-save|iptables-restore|ip6tables-restore [args]")
			return iptables.ExitParameter
		}
		prog, args = filepath.Base(args[0]), args[1:]
	}
	prog = strings.Replace(prog, "-legacy", "", 1)
	fam := abi.IPv4
	if strings.HasPrefix(prog, "ip6tables") {
		fam = abi.IPv6
	}
	tool := strings.TrimPrefix(strings.TrimPrefix(prog, "ip6tables"), "iptables")
	if tool != "-save" {
		if err := lock(args); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return iptables.ExitResource
		}
	}
	conn, err := kernel.Open(fam)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
		return iptables.ExitResource
	}
	defer conn.Close()
	ts := iptables.KernelTables(conn)
	var code int
	switch tool {
	case "":
		code = iptables.Main(ts, args, os.Stdout, os.Stderr)
	case "-save":
		names, err := kernel.TableNames(fam)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
			return iptables.ExitOther
		}
		for _, n := range names {
			if _, err := ts.Table(n); err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
				return iptables.ExitOther
			}
		}
		return iptables.SaveMain(ts, args, os.Stdout, os.Stderr)
	case "-restore":
		code = iptables.RestoreMain(ts, args, os.Stdin, os.Stdout, os.Stderr)
	default:
		fmt.Fprintf(os.Stderr, "xtmulti: unknown tool %q\n", prog)
		return iptables.ExitParameter
	}
	if err := ts.Commit(conn); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
		return iptables.ExitOther
	}
	return code
}
