package ir

import "fmt"

// The xt.l4 construct (docs/HOTDROP.md): the iptables translator puts
// one at the position of every tcp, udp, icmp, icmp6 and multiport xt
// match. Its value is one byte, the XTL4Kind. Reached in rule order
// (every earlier criterion held), it drops the packet uncounted where the
// kernel's match hotdrops, is false where the match is false without
// looking further (fragments, a protocol the match cannot see), and
// holds otherwise (XTL4Outcome); the xt match's own criteria follow it as
// ordinary matches.
//
// In a rule carrying the construct, every match on a transport field
// must follow a construct that guards it (xtl4Guards): the construct,
// not the field's own protocol guard, decides what happens on a
// truncated header. Port fields may follow a multiport construct, which
// needs 4 transport bytes only: those read the ports from the transport
// bytes present (xtl4View), as multiport_mt does.
//
// The construct is iptables-only (FieldInfo.IptablesOnly): the bfcli
// language cannot write it, its semantics stay unchanged.

// XTL4Match returns the construct of xt match k.
func XTL4Match(k XTL4Kind) Match {
	return Match{Field: XTL4, Op: OpEq, Value: []byte{byte(k)}}
}

// XTL4KindOf returns the kind of an xt.l4 match; ok is false for other
// matches and malformed ones.
func XTL4KindOf(m *Match) (k XTL4Kind, ok bool) {
	if m.Field != XTL4 || m.Op != OpEq || len(m.Value) != 1 {
		return 0, false
	}
	k = XTL4Kind(m.Value[0])
	return k, XTL4NeedBytes(k) > 0
}

// RuleHasXTL4 reports whether r carries an xt.l4 construct.
func RuleHasXTL4(r *Rule) bool {
	for i := range r.Matches {
		if r.Matches[i].Field == XTL4 {
			return true
		}
	}
	return false
}

// ChainHasXTL4 reports whether a rule of c carries an xt.l4 construct.
func ChainHasXTL4(c *Chain) bool {
	for _, r := range c.Rules {
		if r != nil && RuleHasXTL4(r) {
			return true
		}
	}
	return false
}

// TransportField reports whether f is read from the transport header
// (it has a transport protocol guard).
func TransportField(f Field) bool {
	return len(f.Info().L4) > 0 || f == MetaFlowProbability
}

// xtl4PortField reports whether f only reads the two ports.
func xtl4PortField(f Field) bool {
	switch f {
	case TCPSport, TCPDport, TCPPort, UDPSport, UDPDport, UDPPort, MetaSport, MetaDport:
		return true
	}
	return false
}

// xtl4Guards reports whether a construct of kind k, once it holds,
// guarantees the bytes transport field f reads (the protocol aside for
// multiport, whose ports are then read as the field's protocol).
func xtl4Guards(k XTL4Kind, f Field) bool {
	l4 := f.Info().L4
	switch {
	case f == MetaSport || f == MetaDport:
		return k == XTL4TCP || k == XTL4UDP || k == XTL4Multiport
	case len(l4) != 1:
		return false
	case k == XTL4Multiport:
		return xtl4PortField(f) && (l4[0] == ProtoTCP || l4[0] == ProtoUDP)
	}
	switch l4[0] {
	case ProtoTCP:
		return k == XTL4TCP
	case ProtoUDP:
		return k == XTL4UDP
	case ProtoICMP:
		return k == XTL4ICMP
	case ProtoICMPv6:
		return k == XTL4ICMP6
	}
	return false
}

// matchFields returns the fields m reads: its field, or the set's key.
func matchFields(c *Chain, m *Match) []Field {
	if m.Op == OpIn {
		if c != nil {
			if s := c.Set(m.Set); s != nil {
				return s.Key
			}
		}
		return nil
	}
	return []Field{m.Field}
}

// xtl4ProtoEq returns the protocol an earlier "-p" match fixes: a
// non-negated ip4.proto or meta.l4_proto equality without mask.
func xtl4ProtoEq(m *Match) (uint8, bool) {
	if (m.Field != IP4Proto && m.Field != MetaL4Proto) || m.Op != OpEq || m.Negate || m.Mask != nil || len(m.Value) != 1 {
		return 0, false
	}
	return m.Value[0], true
}

// xtl4Problems lists what is wrong with r's xt.l4 constructs and the
// transport fields they guard.
func xtl4Problems(c *Chain, r *Rule) []string {
	if !RuleHasXTL4(r) {
		return nil
	}
	var p []string
	var kinds []XTL4Kind
	tcpOrUDP := false
	for i := range r.Matches {
		m := &r.Matches[i]
		if proto, ok := xtl4ProtoEq(m); ok && (proto == ProtoTCP || proto == ProtoUDP) {
			tcpOrUDP = true
		}
		if m.Field == XTL4 {
			k, ok := XTL4KindOf(m)
			switch {
			case !ok:
				p = append(p, fmt.Sprintf("matcher %s: unknown xt match %v", XTL4, m.Value))
				continue
			case m.Negate || m.Mask != nil:
				p = append(p, fmt.Sprintf("matcher %s %s cannot be negated or masked", XTL4, k))
			case k == XTL4Multiport && !tcpOrUDP:
				p = append(p, fmt.Sprintf("matcher %s multiport needs an earlier protocol match on tcp or udp", XTL4))
			}
			kinds = append(kinds, k)
			continue
		}
		for _, f := range matchFields(c, m) {
			if !TransportField(f) {
				continue
			}
			guarded := false
			for _, k := range kinds {
				guarded = guarded || xtl4Guards(k, f)
			}
			if !guarded {
				p = append(p, fmt.Sprintf("matcher %s must follow the %s construct of its xt match in a rule that has one", f, XTL4))
			}
		}
	}
	return p
}

// xtl4View is the packet as the matches of a rule carrying the construct
// read it: the transport bytes present stand for the header when they
// are fewer than L4HeaderLen but hold the ports (multiport reads 4
// bytes; every other field is guarded by a construct that needs its
// whole header, and FieldValue checks each field's length).
func xtl4View(pp *Parsed) *Parsed {
	if pp.L4 != nil || pp.FragOff != 0 || len(pp.Transport) < 4 {
		return pp
	}
	v := *pp
	v.L4 = pp.Transport
	return &v
}

// XTL4FastRule returns r with each xt.l4 construct replaced by the
// ordinary matches equal to XTL4FastHolds (what a program evaluates for
// packets without XTL4SlowPath), left out when another match of the rule
// already needs the same header: `-p tcp -m tcp --dport 22` plans as
// `-p tcp --dport 22` always did. r itself is returned when it has no
// construct. Lookup classification uses this form.
func XTL4FastRule(c *Chain, r *Rule) *Rule {
	if !RuleHasXTL4(r) {
		return r
	}
	out := *r
	out.Matches = make([]Match, 0, len(r.Matches)+1)
	for i := range r.Matches {
		m := &r.Matches[i]
		if k, ok := XTL4KindOf(m); ok {
			out.Matches = append(out.Matches, xtl4FastMatches(c, k, r)...)
			continue
		}
		out.Matches = append(out.Matches, *m)
	}
	return &out
}

// xtl4FastMatches are the matches XTL4FastRule puts for a construct of
// kind k in r.
func xtl4FastMatches(c *Chain, k XTL4Kind, r *Rule) []Match {
	var l4 Field
	var protos []uint8
	var l3 uint16
	switch k {
	case XTL4TCP:
		l4, protos = TCPSport, []uint8{ProtoTCP}
	case XTL4UDP:
		l4, protos = UDPSport, []uint8{ProtoUDP}
	case XTL4ICMP:
		l4, protos, l3 = ICMPType, []uint8{ProtoICMP}, EthPIP
	case XTL4ICMP6:
		l4, protos, l3 = ICMPv6Type, []uint8{ProtoICMPv6}, EthPIPv6
	default: // multiport
		l4, protos = MetaSport, []uint8{ProtoTCP, ProtoUDP}
	}
	needL4, needL3 := true, l3 != 0
	for i := range r.Matches {
		m := &r.Matches[i]
		if m.Field == XTL4 {
			continue
		}
		if m.Field == MetaL3Proto && m.Op == OpEq && !m.Negate && m.Mask == nil && len(m.Value) == 2 &&
			uint16(m.Value[0])<<8|uint16(m.Value[1]) == l3 {
			needL3 = false
		}
		for _, f := range matchFields(c, m) {
			fi := f.Info()
			if fi.Layer == LayerL3 && fi.L3 == l3 {
				needL3 = false
			}
			if f != MetaL4Proto && TransportField(f) && subsetU8(fieldProtos(f), protos) {
				needL4 = false
			}
		}
	}
	var out []Match
	if needL3 {
		out = append(out, Match{Field: MetaL3Proto, Op: OpEq, Value: []byte{byte(l3 >> 8), byte(l3)}})
	}
	if needL4 {
		w := l4.Width()
		out = append(out, Match{Field: l4, Op: OpEq, Value: make([]byte, w), Mask: make([]byte, w)})
	}
	return out
}

// fieldProtos is the set of transport protocols one of which a transport
// field needs, with its header.
func fieldProtos(f Field) []uint8 {
	if f == MetaFlowProbability {
		return l4TCPUDP
	}
	return f.Info().L4
}

func subsetU8(a, b []uint8) bool {
	if len(a) == 0 {
		return false
	}
	for _, x := range a {
		if !containsU8(b, x) {
			return false
		}
	}
	return true
}

// XTL4FastChain returns c with every rule in its XTL4FastRule form (c
// itself when it has no construct). Rules are shared, not copied.
func XTL4FastChain(c *Chain) *Chain {
	if !ChainHasXTL4(c) {
		return c
	}
	out := *c
	out.Rules = make([]*Rule, len(c.Rules))
	for i, r := range c.Rules {
		out.Rules[i] = XTL4FastRule(c, r)
	}
	return &out
}
