package translate

import (
	"fmt"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
	"github.com/bpfilter-go/bpfilter/ir"
)

// pkttype translates xt_pkttype_info (pkttype_mt): (type == pkttype) ^
// invert, where type is skb->pkt_type with PACKET_LOOPBACK read as
// multicast or broadcast (ir.EffectivePktType).
func (rc *ruleCtx) pkttype(p *xt.PktType) error {
	inv := p.Invert != 0
	if p.PktType < 0 || p.PktType > 0xff {
		// The kernel compares a u8 with the int: never equal.
		rc.add(never(ir.MetaPktType, inv))
		return nil
	}
	rc.add(ir.Match{Field: ir.MetaPktType, Op: ir.OpEq, Negate: inv, Value: []byte{byte(p.PktType)}})
	return nil
}

// mac translates xt_mac_info (mac_mt): the Ethernet source address equals
// srcaddr, inverted with !; false (also with !) without an Ethernet
// device or MAC header. iptables allows it in PREROUTING, INPUT and
// FORWARD only; the kernel refuses it elsewhere, so a chain reaching it
// from another hook is refused by validation.
func (rc *ruleCtx) mac(m *xt.MAC) error {
	rc.add(ir.Match{Field: ir.MetaMACSaddr, Op: ir.OpEq, Negate: m.Invert != 0, Value: append([]byte(nil), m.Addr[:]...)})
	return nil
}

// tcpOption translates --tcp-option of xt_tcp (tcp_find_option).
func (rc *ruleCtx) tcpOption(t *xt.TCP) {
	rc.add(ir.Match{Field: ir.TCPOption, Op: ir.OpEq, Negate: t.InvFlags&xt.TCPInvOption != 0, Value: []byte{t.Option}})
}

// iprange6 translates the IPv6 form of xt_iprange_mtinfo (iprange_mt6):
// iprange_ipv6_lt compares the addresses as big-endian 128-bit numbers.
func (rc *ruleCtx) iprange6(r *xt.IPRange) error {
	if rc.tr.fam != abi.IPv6 {
		return fmt.Errorf("iprange6 on %s", rc.tr.fam)
	}
	for _, x := range []struct {
		on, inv uint8
		f       ir.Field
		lo, hi  [16]byte
	}{{xt.IPRangeSrc, xt.IPRangeSrcInv, ir.IP6Saddr, r.SrcMin, r.SrcMax}, {xt.IPRangeDst, xt.IPRangeDstInv, ir.IP6Daddr, r.DstMin, r.DstMax}} {
		if r.Flags&x.on == 0 {
			continue
		}
		inv := r.Flags&x.inv != 0
		if string(x.lo[:]) > string(x.hi[:]) {
			// Every address is below min or above max: the range
			// test is true for all, so the match is false (true with !).
			if !inv {
				rc.add(never(x.f, false))
			}
			continue
		}
		rc.add(ir.Match{Field: x.f, Op: ir.OpRanges, Negate: inv, Value: append([]byte(nil), x.lo[:]...), High: append([]byte(nil), x.hi[:]...)})
	}
	return nil
}
