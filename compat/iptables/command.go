package iptables

import (
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
)

// Command is one parsed iptables command line.
type Command struct {
	// Op is the command letter: A D I R C L S F Z N X E P, or V for
	// --version and h for --help.
	Op byte
	// ListZero is -L combined with -Z.
	ListZero bool
	// ZeroNum tells that RuleNum was given to -Z (after -L): only that
	// rule is zeroed and nothing is listed. Otherwise a RuleNum of -L -Z
	// selects the listed rule and the whole chain is zeroed.
	ZeroNum bool
	Table   string
	Chain   string
	// RuleNum is the 1-based rule number given to -D, -I, -R, -S, -Z; 0
	// when none was given.
	RuleNum int
	// NewName is -E's new chain name.
	NewName string
	// Policy is -P's target.
	Policy string
	// Spec is the rule specification of -A -I -D -R -C, nil otherwise.
	Spec *RuleSpec

	Numeric, Verbose, Exact, LineNumbers bool
}

// RuleSpec is a rule as given on the command line, before -s/-d lists are
// expanded and before its jump target is resolved against the table.
type RuleSpec struct {
	IP       abi.IPHeader
	Srcs     []addrMask
	Dsts     []addrMask
	SrcInv   bool
	DstInv   bool
	Matches  []*instance
	Target   *instance // extension target, or nil
	Jump     string    // standard verdict or chain name when Target is nil
	Goto     bool
	Counters abi.Counters
	HasJump  bool
	Proto    bool
}

// instance is one loaded extension with its data.
type instance struct {
	ext  *ext
	info xt.Info
	seen map[string]bool
}
