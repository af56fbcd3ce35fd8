package iptables

import "fmt"

// Exit codes of iptables (enum xtables_exittype).
const (
	ExitOK        = 0
	ExitOther     = 1 // OTHER_PROBLEM and errors reported by the kernel
	ExitParameter = 2 // PARAMETER_PROBLEM: usage errors
	ExitVersion   = 3 // VERSION_PROBLEM
	ExitResource  = 4 // RESOURCE_PROBLEM
)

// Error is an error with the message and exit status iptables would give.
type Error struct {
	Code int
	Msg  string
	// Usage adds iptables' "Try `iptables -h'..." hint after the message.
	Usage bool
}

// Error returns the message.
func (e *Error) Error() string { return e.Msg }

func paramErr(format string, args ...any) error {
	return &Error{Code: ExitParameter, Msg: fmt.Sprintf(format, args...), Usage: true}
}

func otherErr(format string, args ...any) error {
	return &Error{Code: ExitOther, Msg: fmt.Sprintf(format, args...)}
}

// Messages libiptc gives for kernel-side errors (iptc_strerror).
var (
	errBadRule      = otherErr("Bad rule (does a matching rule exist in that chain?).")
	errNoChain      = otherErr("No chain/target/match by that name.")
	errChainExists  = otherErr("Chain already exists.")
	errChainNotEmpt = otherErr("Directory not empty.")
	errChainInUse   = otherErr("Too many links.")
	errBadIndex     = otherErr("Index of deletion too big.")
	errInvalidArg   = otherErr("Invalid argument. Run `dmesg' for more information.")
)
