package translate

import (
	"fmt"
	"net/netip"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/ir"
)

// ruleCtx collects one rule's translation.
type ruleCtx struct {
	tr    *translator
	chain *abi.Chain
	num   int
	text  string
	out   *ir.Rule
	// proto is the rule's -p protocol when not inverted (0: any).
	proto uint16
}

func (rc *ruleCtx) refuse(feature, reason string) error {
	return &Error{Chain: rc.chain.Name, Rule: rc.num, Text: rc.text, Feature: feature, Reason: reason}
}

func (rc *ruleCtx) add(m ir.Match) { rc.out.Matches = append(rc.out.Matches, m) }

func (tr *translator) rule(c *abi.Chain, num int, r *abi.Rule) (*ir.Rule, error) {
	rc := &ruleCtx{tr: tr, chain: c, num: num}
	if tr.opts.RuleText != nil {
		rc.text = "-A " + c.Name + " " + tr.opts.RuleText(tr.fam, r)
	}
	rc.out = &ir.Rule{Counter: true, Origin: ir.Origin{Frontend: "iptables", Text: rc.text}}
	if rc.text == "" {
		rc.out.Origin.Text = fmt.Sprintf("-A %s (rule %d)", c.Name, num)
	}
	if err := rc.ipHeader(&r.IP); err != nil {
		return nil, err
	}
	for i := range r.Matches {
		if err := rc.match(&r.Matches[i]); err != nil {
			return nil, err
		}
	}
	if err := rc.target(&r.Target, &r.IP); err != nil {
		return nil, err
	}
	return rc.out, nil
}

// ipHeader translates ipt_ip / ip6t_ip6 (ip_packet_match, ip6_packet_match).
func (rc *ruleCtx) ipHeader(h *abi.IPHeader) error {
	v6 := rc.tr.fam == abi.IPv6
	rc.iface(ir.MetaIifName, h.InIface, h.InIfaceMask, h.InvFlags&abi.InvVIAIn != 0)
	rc.iface(ir.MetaOifName, h.OutIface, h.OutIfaceMask, h.InvFlags&abi.InvVIAOut != 0)
	src, dst := ir.IP4Saddr, ir.IP4Daddr
	if v6 {
		src, dst = ir.IP6Saddr, ir.IP6Daddr
	}
	rc.addr(src, h.Src, h.SrcMask, h.InvFlags&abi.InvSrcIP != 0)
	rc.addr(dst, h.Dst, h.DstMask, h.InvFlags&abi.InvDstIP != 0)
	inv := h.InvFlags&abi.InvProto != 0
	if v6 {
		if h.Flags&abi.FlagV6TOS != 0 || h.InvFlags&abi.InvTOS != 0 {
			return rc.refuse("ip6t_ip6 tos", "")
		}
		// ip6_packet_match: the protocol is checked only with
		// IP6T_F_PROTO; "-p all" (0) matches every packet, "! -p all" none.
		if h.Flags&abi.FlagV6Proto != 0 {
			if h.Proto > 255 {
				return rc.refuse(fmt.Sprintf("protocol %d", h.Proto), "")
			}
			if h.Proto == 0 {
				if inv {
					return rc.refuse("! -p all", "never matches")
				}
			} else {
				rc.add(ir.Match{Field: ir.MetaL4Proto, Op: ir.OpEq, Negate: inv, Value: []byte{byte(h.Proto)}})
			}
		}
	} else {
		if h.Flags&abi.FlagFragment != 0 {
			// -f: second and further fragments (fragment offset != 0);
			// ! -f: the others.
			rc.add(ir.Match{Field: ir.IP4FragOff, Op: ir.OpEq, Negate: h.InvFlags&abi.InvFrag == 0, Value: []byte{0, 0}})
		}
		// ip_packet_match: proto 0 matches everything, also inverted.
		if h.Proto > 255 {
			return rc.refuse(fmt.Sprintf("protocol %d", h.Proto), "")
		}
		if h.Proto != 0 {
			rc.add(ir.Match{Field: ir.IP4Proto, Op: ir.OpEq, Negate: inv, Value: []byte{byte(h.Proto)}})
		}
	}
	if !inv {
		rc.proto = h.Proto
	}
	return nil
}

// iface adds an interface name match: ifname_compare is
// ((name ^ iface) & mask) == 0 over IFNAMSIZ bytes, inverted with !, the
// name of a missing device being all zeros. The IR compares
// (name & mask) == value, so the value is the stored name under the mask.
// An all-zero mask without ! ("-i +" or no -i) matches everything.
func (rc *ruleCtx) iface(f ir.Field, name string, mask [abi.IfNameLen]byte, inv bool) {
	if allZero(mask[:]) && !inv {
		return
	}
	v := ir.IfNameBytes(name)
	v[ir.IfNameSize-1] = 0
	m := append([]byte(nil), mask[:]...)
	for i := range v {
		v[i] &= m[i]
	}
	rc.add(ir.Match{Field: f, Op: ir.OpEq, Negate: inv, Value: v, Mask: m})
}

// addr adds "(address & mask) == value", inverted with !; a zero mask
// without ! matches everything and is left out.
func (rc *ruleCtx) addr(f ir.Field, a, mask netip.Addr, inv bool) {
	mb := maskBytes(mask, f.Width())
	if allZero(mb) && !inv {
		return
	}
	ab := make([]byte, f.Width())
	if a.IsValid() {
		s := a.AsSlice()
		copy(ab, s)
	}
	// The kernel compares (address & mask) with the stored address as it
	// is: an address with bits outside the mask never matches. The IR
	// compare is the same.
	rc.add(ir.Match{Field: f, Op: ir.OpEq, Negate: inv, Value: ab, Mask: mb})
}

func maskBytes(m netip.Addr, w int) []byte {
	out := make([]byte, w)
	if m.IsValid() {
		copy(out, m.AsSlice())
	}
	return out
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
