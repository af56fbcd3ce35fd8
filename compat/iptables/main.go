package iptables

import (
	"errors"
	"fmt"
	"io"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
)

// Main runs one iptables (fam IPv4) or ip6tables command line on ts,
// printing like iptables, and returns the exit status.
func Main(ts *Tables, args []string, stdout, stderr io.Writer) int {
	cmd, err := ParseCommand(ts.Family, args)
	if err == nil {
		err = ts.Do(cmd, stdout)
	}
	return ReportError(ts.Family, "", err, stderr)
}

// ReportError prints err the way iptables does and returns the exit
// status; nil gives 0. suffix names the tool variant ("-restore").
func ReportError(fam abi.Family, suffix string, err error, stderr io.Writer) int {
	if err == nil {
		return ExitOK
	}
	prog := famCmd(fam) + suffix
	var re *RestoreError
	line := 0
	if errors.As(err, &re) {
		line = re.Line
	}
	var ie *Error
	if !errors.As(err, &ie) {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return ExitOther
	}
	switch {
	case ie.Usage:
		fmt.Fprintf(stderr, "%s %s: %s\n", prog, Version, ie.Msg)
		if line > 0 {
			fmt.Fprintf(stderr, "Error occurred at line: %d\n", line)
		}
		fmt.Fprintf(stderr, "Try `%s -h' or '%s --help' for more information.\n", prog, prog)
	case ie.Code == ExitVersion:
		fmt.Fprintf(stderr, "%s %s: %s\n", prog, Version, ie.Msg)
	case line > 0:
		fmt.Fprintf(stderr, "%s: line %d failed\n%s: %s\n", prog, line, famCmd(fam), ie.Msg)
	default:
		fmt.Fprintf(stderr, "%s: %s\n", prog, ie.Msg)
		if err != ie {
			// Wrapped kernel-check errors carry the reason.
			fmt.Fprintf(stderr, "%s: (%v)\n", prog, err)
		}
	}
	return ie.Code
}
