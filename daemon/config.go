package daemon

import (
	"errors"
	"fmt"
	"io"
	"os/user"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// Version is the daemon's version string.
const Version = "bpfilter-go 0.1 (protocol 1)"

// Config is the daemon's command line.
type Config struct {
	Transient    bool
	NoCLI        bool
	NoNftables   bool
	NoIptables   bool
	WithBPFToken bool
	BPFFSPath    string
	RuntimeDir   string
	// SocketGroup may use the socket besides root (-1: root only).
	SocketGroup int
	// Verbose holds the -v flags: debug, bpf, bytecode.
	Verbose map[string]bool
	// BufferLenPow is the verifier log size as a power of two (0: default).
	BufferLenPow uint8
	// IptablesRejectAsDrop translates iptables REJECT rules as DROP, with
	// a logged warning per rule (--iptables-reject-as-drop). Off, they
	// are refused.
	IptablesRejectAsDrop bool
}

// ErrExit is returned by ParseFlags when a flag like --help asked to print
// something and exit successfully.
var ErrExit = errors.New("exit requested")

const usageLine = "Usage: bpfilter [-t|--transient] [--no-cli] [--no-nftables] [--no-iptables] [--with-bpf-token]\n" +
	"                [--bpffs-path PATH] [--runtime-dir DIR] [--socket-group GROUP] [--iptables-reject-as-drop]\n" +
	"                [-v|--verbose=debug|bpf|bytecode]... [-b|--buffer-len=POW] [--usage] [-?|--help] [--version]\n"

// ParseFlags parses the daemon's arguments. --help, --usage and --version
// print to out and return ErrExit.
func ParseFlags(args []string, out io.Writer) (*Config, error) {
	fs := pflag.NewFlagSet("bpfilter", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	cfg := &Config{Verbose: map[string]bool{}, SocketGroup: -1}
	fs.BoolVarP(&cfg.Transient, "transient", "t", false, "do not pin anything nor save the context: everything is removed when the daemon stops")
	fs.BoolVar(&cfg.NoCLI, "no-cli", false, "disable bfcli support")
	fs.BoolVar(&cfg.NoNftables, "no-nftables", false, "disable nftables support")
	fs.BoolVar(&cfg.NoIptables, "no-iptables", false, "disable iptables support (no INPUT/FORWARD/OUTPUT pass-through programs)")
	fs.BoolVar(&cfg.WithBPFToken, "with-bpf-token", false, "create a BPF token from the bpffs and use it for every bpf() call (Linux 6.9+)")
	fs.StringVar(&cfg.BPFFSPath, "bpffs-path", "/sys/fs/bpf", "BPF filesystem to pin objects in (under its bpfilter directory)")
	fs.StringVar(&cfg.RuntimeDir, "runtime-dir", "/run/bpfilter", "directory of the socket, the lock and the saved context")
	fs.BoolVar(&cfg.IptablesRejectAsDrop, "iptables-reject-as-drop", false, "translate iptables REJECT rules as DROP (no ICMP error or TCP reset is sent), logging a warning per rule; without it they are refused")
	group := fs.String("socket-group", "", "group allowed to use the socket besides root (name or gid)")
	verbose := fs.StringSliceP("verbose", "v", nil, "verbose output: debug, bpf, bytecode (repeatable)")
	buflen := fs.Uint8P("buffer-len", "b", 0, "verifier log buffer size as a power of two (with --verbose)")
	usage := fs.Bool("usage", false, "print a short usage message")
	help := fs.BoolP("help", "?", false, "print this help")
	version := fs.Bool("version", false, "print the version")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, usageLine)
	}
	switch {
	case *help:
		fmt.Fprintf(out, "%s\nbpfilter turns filtering rules into BPF programs and attaches them to the kernel's hooks.\n\nOptions:\n%s", usageLine, fs.FlagUsages())
		return nil, ErrExit
	case *usage:
		fmt.Fprint(out, usageLine)
		return nil, ErrExit
	case *version:
		fmt.Fprintln(out, Version)
		return nil, ErrExit
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q\n%s", fs.Arg(0), usageLine)
	}
	for _, v := range *verbose {
		switch v {
		case "debug", "bytecode", "bpf":
			cfg.Verbose[v] = true
		default:
			return nil, fmt.Errorf("unknown verbose flag %q (want debug, bpf or bytecode)", v)
		}
	}
	if fs.Changed("buffer-len") {
		if len(cfg.Verbose) == 0 {
			return nil, errors.New("--buffer-len is only available with --verbose")
		}
		if *buflen < 12 || *buflen > 30 {
			return nil, fmt.Errorf("--buffer-len=%d out of range (12..30)", *buflen)
		}
		cfg.BufferLenPow = *buflen
	}
	if *group != "" {
		gid, err := lookupGroup(*group)
		if err != nil {
			return nil, err
		}
		cfg.SocketGroup = gid
	}
	if cfg.RuntimeDir == "" || cfg.BPFFSPath == "" {
		return nil, errors.New("--runtime-dir and --bpffs-path must not be empty")
	}
	return cfg, nil
}

func lookupGroup(s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil && n >= 0 {
		return n, nil
	}
	g, err := user.LookupGroup(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("--socket-group: %w", err)
	}
	n, err := strconv.Atoi(g.Gid)
	if err != nil {
		return 0, fmt.Errorf("--socket-group %s: gid %q: %w", s, g.Gid, err)
	}
	return n, nil
}
