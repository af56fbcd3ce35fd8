package translate

import (
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
	"github.com/bpfilter-go/bpfilter/ir"
)

// tcp_mt and udp_mt are false on every non-first fragment and need the
// transport header even when they test nothing else (`-p tcp -m tcp`,
// full port ranges, `--tcp-flags NONE NONE`): a rule whose tcp or udp
// match adds no IR match gets one that compares nothing but still needs
// the header, as the icmp "any" type does. (Truncated headers: the kernel
// hotdrops, the IR misses; see docs/HOTDROP.md.)

// udp translates struct xt_udp (udp_mt).
func (rc *ruleCtx) udp(u *xt.UDP) error {
	n := len(rc.out.Matches)
	if err := rc.ports(ir.UDPSport, ir.UDPDport, u.SrcPorts, u.DstPorts,
		u.InvFlags&xt.UDPInvSrcPorts != 0, u.InvFlags&xt.UDPInvDstPorts != 0); err != nil {
		return err
	}
	rc.needL4(n, ir.UDPSport)
	return nil
}

// needL4 adds "f & 0 == 0" (true whenever f's header is there) when the
// match that started at rule match n added nothing.
func (rc *ruleCtx) needL4(n int, f ir.Field) {
	if len(rc.out.Matches) == n {
		w := f.Width()
		rc.add(ir.Match{Field: f, Op: ir.OpEq, Value: make([]byte, w), Mask: make([]byte, w)})
	}
}
