package translate

import (
	"fmt"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/frontends/iptables/xt"
	"github.com/bpfilter-go/bpfilter/ir"
)

// match translates one -m match.
func (rc *ruleCtx) match(m *abi.Match) error {
	if reason, ok := Unsupported[m.Name]; ok {
		return rc.refuse("match "+m.Name, reason)
	}
	if m.Info == nil {
		return rc.refuse(fmt.Sprintf("match %s revision %d", m.Name, m.Revision), "no decoder for this revision")
	}
	if k, ok := xtL4Kind(m.Name, m.Info); ok { // xtl4.go
		rc.add(ir.XTL4Match(k))
	}
	switch info := m.Info.(type) {
	case *xt.TCP:
		return rc.tcp(info)
	case *xt.UDP:
		return rc.udp(info) // xtl4.go
	case *xt.ICMP:
		if m.Name == "icmp6" {
			return rc.icmp(ir.ICMPv6Type, ir.ICMPv6Code, info)
		}
		return rc.icmp(ir.ICMPType, ir.ICMPCode, info)
	case *xt.Comment:
		return nil // kept in the rule's text
	case *xt.Conntrack:
		return rc.conntrack(info)
	case *xt.ConntrackOld:
		return rc.conntrack(info.AsV3())
	case *xt.State:
		return rc.state(info)
	case *xt.Multiport:
		return rc.multiport(info)
	case *xt.Length:
		return rc.length(info)
	case *xt.IPRange:
		return rc.iprange(info)
	case *xt.TTL:
		return rc.ttl(m.Name, info)
	case *xt.Limit:
		return rc.limit(info)
	case *xt.PktType:
		return rc.pkttype(info)
	case *xt.MAC:
		return rc.mac(info)
	case *xt.MarkMatch:
		// mark_mt: ((skb->mark & mask) == mark) ^ invert.
		rc.add(ir.Match{Field: ir.MetaMark, Op: ir.OpEq, Negate: info.Invert != 0, Value: be(uint64(info.Mark), 4), Mask: be(uint64(info.Mask), 4)})
		return nil
	case *xt.Addrtype: // addrtype.go
		return rc.addrtype(info)
	case *xt.AddrtypeV0:
		return rc.addrtypeV0(info)
	}
	return rc.refuse("match "+m.Name, "not translated yet")
}

// tcp translates struct xt_tcp (tcp_mt).
func (rc *ruleCtx) tcp(t *xt.TCP) error {
	if err := rc.ports(ir.TCPSport, ir.TCPDport, t.SrcPorts, t.DstPorts,
		t.InvFlags&xt.TCPInvSrcPorts != 0, t.InvFlags&xt.TCPInvDstPorts != 0); err != nil {
		return err
	}
	inv := t.InvFlags&xt.TCPInvFlags != 0
	if t.FlagMask != 0 || t.FlagCmp != 0 || inv {
		// (th[13] & mask) == cmp, inverted with !.
		rc.add(ir.Match{Field: ir.TCPFlags, Op: ir.OpEq, Negate: inv, Value: []byte{t.FlagCmp}, Mask: []byte{t.FlagMask}})
	}
	if t.Option != 0 {
		rc.tcpOption(t)
	}
	return nil
}

// ports adds the port range matches of tcp and udp: port_match is
// (min <= port <= max) ^ invert; the full range without ! is left out.
func (rc *ruleCtx) ports(sf, df ir.Field, sp, dp [2]uint16, sinv, dinv bool) error {
	for _, p := range []struct {
		f   ir.Field
		r   [2]uint16
		inv bool
		opt string
	}{{sf, sp, sinv, "--sport"}, {df, dp, dinv, "--dport"}} {
		switch {
		case p.r[0] == 0 && p.r[1] == 0xffff && !p.inv:
		case p.r[0] > p.r[1]:
			return rc.refuse(fmt.Sprintf("%s %d:%d", p.opt, p.r[0], p.r[1]), "empty port range")
		case p.r[0] == p.r[1]:
			rc.add(ir.Match{Field: p.f, Op: ir.OpEq, Negate: p.inv, Value: be(uint64(p.r[0]), 2)})
		default:
			rc.add(ir.Match{Field: p.f, Op: ir.OpRange, Negate: p.inv, Value: be(uint64(p.r[0]), 2), High: be(uint64(p.r[1]), 2)})
		}
	}
	return nil
}

// icmp translates ipt_icmp / ip6t_icmp: ((type == 0xff) || (type == t &&
// min <= code <= max)) ^ invert, false on fragments and packets without the
// ICMP header.
func (rc *ruleCtx) icmp(tf, cf ir.Field, i *xt.ICMP) error {
	inv := i.InvFlags&xt.ICMPInv != 0
	if i.Type == 0xff {
		// Any type: true (false with !) whenever the header is there; a
		// zero mask compares nothing but still needs the header.
		rc.add(ir.Match{Field: tf, Op: ir.OpEq, Negate: inv, Value: []byte{0}, Mask: []byte{0}})
		return nil
	}
	rc.add(ir.Match{Field: tf, Op: ir.OpEq, Negate: inv, Value: []byte{i.Type}})
	switch {
	case i.Code == [2]uint8{0, 0xff}:
	case i.Code[0] == i.Code[1] && !inv:
		rc.add(ir.Match{Field: cf, Op: ir.OpEq, Value: []byte{i.Code[0]}})
	default:
		return rc.refuse(fmt.Sprintf("icmp code range %d-%d%s", i.Code[0], i.Code[1], map[bool]string{true: " with !"}[inv]),
			"the IR cannot express this code range")
	}
	return nil
}

// multiport translates xt_multiport_v1 (ports_match_v1): the packet's
// source or destination port is one of the ports or ranges, inverted with
// !; false on fragments and packets without the transport header.
func (rc *ruleCtx) multiport(m *xt.Multiport) error {
	if int(m.Count) > xt.MultiPorts || m.Count == 0 {
		return rc.refuse(fmt.Sprintf("multiport with %d ports", m.Count), "")
	}
	var sf, df ir.Field
	switch rc.proto {
	case ir.ProtoTCP:
		sf, df = ir.TCPSport, ir.TCPDport
	case ir.ProtoUDP:
		sf, df = ir.UDPSport, ir.UDPDport
	default:
		return rc.refuse(fmt.Sprintf("multiport with protocol %d", rc.proto), "only tcp and udp ports are IR fields")
	}
	f := df
	switch m.Flags {
	case xt.MultiportSource:
		f = sf
	case xt.MultiportDestination:
	case xt.MultiportEither:
		// --ports: source or destination (tcp.port / udp.port).
		f = ir.TCPPort
		if rc.proto == ir.ProtoUDP {
			f = ir.UDPPort
		}
	default:
		return rc.refuse(fmt.Sprintf("multiport flags %d", m.Flags), "unknown multiport mode")
	}
	match := ir.Match{Field: f, Op: ir.OpRanges, Negate: m.Invert != 0}
	for i := 0; i < int(m.Count); i++ {
		lo, hi := m.Ports[i], m.Ports[i]
		if m.PFlags[i] != 0 && i+1 < int(m.Count) {
			i++
			hi = m.Ports[i]
		}
		if lo > hi {
			return rc.refuse(fmt.Sprintf("multiport range %d:%d", lo, hi), "empty port range")
		}
		match.Value = append(match.Value, be(uint64(lo), 2)...)
		match.High = append(match.High, be(uint64(hi), 2)...)
	}
	rc.add(match)
	return nil
}
