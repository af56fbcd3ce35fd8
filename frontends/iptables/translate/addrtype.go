package translate

import (
	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
	"github.com/bpfilter-go/bpfilter/ir"
)

// IPv6 address type bits (XT_ADDRTYPE_*).
const (
	atBroadcast = 1 << ir.RTNBroadcast
	atBlackhole = 1 << ir.RTNBlackhole
	atProhibit  = 1 << ir.RTNProhibit
	// atLookup6 are the IPv6 types match_type6 answers with a route
	// lookup (match_lookup_rt6).
	atLookup6 = 1<<ir.RTNLocal | 1<<ir.RTNAnycast | 1<<ir.RTNUnreachable
)

// addrtype translates struct xt_addrtype_info_v1 (addrtype_mt_v1): the
// source test, then the destination test, each "type in mask" (IPv4) or
// "every class of the mask" (IPv6) xor its invert flag.
func (rc *ruleCtx) addrtype(a *xt.Addrtype) error {
	limit := ir.AddrTypeNoLimit
	in, out := a.Flags&xt.AddrtypeLimitIfaceIn != 0, a.Flags&xt.AddrtypeLimitIfaceOut != 0
	switch {
	case in && out:
		return rc.refuse("match addrtype", "--limit-iface-in and --limit-iface-out together (the kernel refuses them too)")
	case in:
		limit = ir.AddrTypeLimitIn
	case out:
		limit = ir.AddrTypeLimitOut
	}
	// xt_addrtype's checkentry: no input device on OUTPUT, no output
	// device on INPUT (user chains are checked by the iptables command,
	// which knows the hooks that reach them).
	switch {
	case in && rc.chain.Builtin() && rc.chain.Hook == abi.HookLocalOut:
		return rc.refuse("match addrtype --limit-iface-in", "input interface limitation not valid in POSTROUTING and OUTPUT")
	case out && rc.chain.Builtin() && rc.chain.Hook == abi.HookLocalIn:
		return rc.refuse("match addrtype --limit-iface-out", "output interface limitation not valid in PREROUTING and INPUT")
	}
	if rc.tr.fam == abi.IPv6 {
		mask := a.Source | a.Dest
		if mask&atBlackhole != 0 || mask >= atProhibit || mask&atBroadcast != 0 {
			return rc.refuse("match addrtype", "ip6tables addrtype refuses BLACKHOLE, BROADCAST, PROHIBIT, THROW, NAT and XRESOLVE (as the kernel does)")
		}
		return rc.addrtype6(a, limit)
	}
	if a.Source != 0 {
		rc.add(ir.Match{Field: ir.AddrTypeField(true, limit), Op: ir.OpAny, Negate: a.Flags&xt.AddrtypeInvertSource != 0, Value: be(uint64(a.Source), 2)})
	}
	if a.Dest != 0 {
		rc.add(ir.Match{Field: ir.AddrTypeField(false, limit), Op: ir.OpAny, Negate: a.Flags&xt.AddrtypeInvertDest != 0, Value: be(uint64(a.Dest), 2)})
	}
	return nil
}

// addrtypeV0 translates struct xt_addrtype_info (addrtype_mt_v0, IPv4
// only, no interface limit).
func (rc *ruleCtx) addrtypeV0(a *xt.AddrtypeV0) error {
	if rc.tr.fam != abi.IPv4 {
		return rc.refuse("match addrtype revision 0", "it exists for IPv4 only")
	}
	v1 := &xt.Addrtype{Source: a.Source, Dest: a.Dest}
	if a.InvertSource != 0 {
		v1.Flags |= xt.AddrtypeInvertSource
	}
	if a.InvertDest != 0 {
		v1.Flags |= xt.AddrtypeInvertDest
	}
	return rc.addrtype(v1)
}
