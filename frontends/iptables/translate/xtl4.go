package translate

import (
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
	"github.com/bpfilter-go/bpfilter/ir"
)

// The tcp, udp, icmp, icmp6 and multiport xt matches read the transport
// header: the kernel's match is false on non-first fragments, and drops
// the packet on the spot (hotdrop) when the header is truncated, or for
// tcp on an IPv4 fragment at offset 1 (docs/HOTDROP.md). Each of them
// starts with the IR's xt.l4 construct at its position in the rule
// (ir/xtl4.go), also when the match tests nothing else (`-p tcp -m tcp`,
// full port ranges): the construct holds exactly when the header is
// there, so such a match is never dropped from the rule.

// xtL4Kind returns the construct kind of an xt match, if it has one.
func xtL4Kind(name string, info any) (ir.XTL4Kind, bool) {
	switch info.(type) {
	case *xt.TCP:
		return ir.XTL4TCP, true
	case *xt.UDP:
		return ir.XTL4UDP, true
	case *xt.ICMP:
		if name == "icmp6" {
			return ir.XTL4ICMP6, true
		}
		return ir.XTL4ICMP, true
	case *xt.Multiport:
		return ir.XTL4Multiport, true
	}
	return 0, false
}

// udp translates struct xt_udp (udp_mt).
func (rc *ruleCtx) udp(u *xt.UDP) error {
	return rc.ports(ir.UDPSport, ir.UDPDport, u.SrcPorts, u.DstPorts,
		u.InvFlags&xt.UDPInvSrcPorts != 0, u.InvFlags&xt.UDPInvDstPorts != 0)
}
