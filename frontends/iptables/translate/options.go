package translate

import "github.com/bpfilter-go/bpfilter/frontends/iptables/abi"

// DefaultPriorities are the netfilter priorities of the builtin chains: the
// daemon's iptables priorities (daemon.IptablesPriorities), just before the
// kernel's own filter table (NF_IP_PRI_FILTER, 0).
var DefaultPriorities = [2]int32{-2, -1}

// Options tune a translation.
type Options struct {
	// Prefix starts every chain name (default "iptables." for IPv4,
	// "ip6tables." for IPv6). Builtin chains are Prefix+name, user chains
	// Prefix+"u."+escaped name.
	Prefix string
	// Priorities of the builtin chains (zero: DefaultPriorities).
	Priorities [2]int32
	// RuleText prints a rule as iptables -S does, without the "-A CHAIN "
	// part (compat/iptables.RuleString); nil: rules are named by number only.
	RuleText func(abi.Family, *abi.Rule) string
	// RejectAsDrop translates the REJECT target as DROP (no reply is
	// sent); Warn is told about every such rule. Without it REJECT is
	// refused.
	RejectAsDrop bool
	// Warn receives warnings (nil: dropped).
	Warn func(msg string)
}

func (o *Options) prefix(fam abi.Family) string {
	if o.Prefix != "" {
		return o.Prefix
	}
	if fam == abi.IPv6 {
		return "ip6tables."
	}
	return "iptables."
}

func (o *Options) priorities() [2]int32 {
	if o.Priorities == [2]int32{} {
		return DefaultPriorities
	}
	return o.Priorities
}

func (o *Options) warn(msg string) {
	if o.Warn != nil {
		o.Warn(msg)
	}
}
