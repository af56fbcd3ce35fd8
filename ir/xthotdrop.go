package ir

// XT hotdrops on truncated transport headers (docs/HOTDROP.md).
//
// This file holds the semantics of the iptables-only construct xt.l4
// (ir/xtl4.go) the translator places where an xt match (tcp, udp, icmp,
// icmp6, multiport) sits in a rule.

// XTL4Kind names the xt match whose transport-header checks XTL4Outcome
// models.
type XTL4Kind uint8

// The xt matches that read the transport header and hotdrop when it is
// missing.
const (
	XTL4TCP       XTL4Kind = iota + 1 // tcp_mt (xt_tcpudp)
	XTL4UDP                           // udp_mt (xt_tcpudp)
	XTL4ICMP                          // icmp_match (ip_tables)
	XTL4ICMP6                         // icmp6_match (ip6_tables)
	XTL4Multiport                     // multiport_mt (xt_multiport)
)

// String returns the xt match name.
func (k XTL4Kind) String() string {
	switch k {
	case XTL4TCP:
		return "tcp"
	case XTL4UDP:
		return "udp"
	case XTL4ICMP:
		return "icmp"
	case XTL4ICMP6:
		return "icmp6"
	case XTL4Multiport:
		return "multiport"
	}
	return "unknown"
}

// XTL4NeedBytes is the number of transport bytes the match reads with
// skb_header_pointer (sizeof the header struct, two ports for
// multiport); 0 for an unknown kind.
func XTL4NeedBytes(k XTL4Kind) int {
	switch k {
	case XTL4TCP:
		return 20 // struct tcphdr
	case XTL4UDP, XTL4ICMP, XTL4ICMP6:
		return 8 // struct udphdr, icmphdr, icmp6hdr
	case XTL4Multiport:
		return 4 // source and destination port
	}
	return 0
}

// xtl4Proto reports whether the packet's transport protocol and family
// are ones the match's mandatory "-p" admits. multiport admits every
// protocol with ports; the rule's own "-p" match narrows it.
func xtl4Proto(k XTL4Kind, pp *Parsed) bool {
	switch k {
	case XTL4TCP:
		return pp.L4Proto == ProtoTCP
	case XTL4UDP:
		return pp.L4Proto == ProtoUDP
	case XTL4ICMP:
		return pp.L4Proto == ProtoICMP && pp.L3Proto == EthPIP
	case XTL4ICMP6:
		return pp.L4Proto == ProtoICMPv6 && pp.L3Proto == EthPIPv6
	case XTL4Multiport:
		return true
	}
	return false
}

// XTL4Outcome is the outcome of the transport-header checks of the xt
// match k on a parsed packet, once the match is reached (every earlier
// criterion of the rule held):
//
//   - IPv4 fragment offset 1 and k tcp: hotDrop (tcp_mt);
//   - any other non-zero fragment offset: false, no drop;
//   - fewer transport bytes than XTL4NeedBytes(k): hotDrop;
//   - else holds (the match's own criteria are separate IR matches).
//
// A packet without a transport protocol, or whose protocol k cannot
// match (the kernel refuses such rules: k needs "-p" without "!"), is
// false without a drop, as is one whose transport offset is unknown
// (more than MaxIPv6ExtHeaders extension headers).
func XTL4Outcome(k XTL4Kind, pp *Parsed) (holds, hotDrop bool) {
	if pp.L3 == nil || !pp.HasL4Proto || !xtl4Proto(k, pp) {
		return false, false
	}
	if pp.FragOff != 0 {
		return false, pp.FragOff == 1 && k == XTL4TCP && pp.L3Proto == EthPIP
	}
	if pp.Transport == nil {
		return false, false
	}
	if len(pp.Transport) < XTL4NeedBytes(k) {
		return false, true
	}
	return true, false
}

// XTL4SlowPath is the once-per-packet flag of the design's prologue
// (docs/HOTDROP.md, "Keeping the optimiser's lookups"): an IPv4 TCP
// packet with fragment offset 1, or a first (or unfragmented) TCP, UDP,
// ICMP or ICMPv6 packet whose transport bytes are fewer than the xt
// match of that protocol reads (XTL4NeedBytes). Only flagged packets can
// make XTL4Outcome differ from XTL4FastHolds, so a program may evaluate
// the construct as XTL4FastHolds (and keep its lookups) for every packet
// without the flag (TestXTL4SlowPathCoversDifferences).
//
// multiport is covered for tcp and udp only, the protocols the iptables
// translator accepts it with (on others its 4-byte read would need the
// flag too).
func XTL4SlowPath(pp *Parsed) bool {
	if pp.L3 == nil || !pp.HasL4Proto {
		return false
	}
	v4 := pp.L3Proto == EthPIP
	if pp.FragOff != 0 {
		return v4 && pp.FragOff == 1 && pp.L4Proto == ProtoTCP
	}
	if pp.Transport == nil {
		return false
	}
	var k XTL4Kind
	switch {
	case pp.L4Proto == ProtoTCP:
		k = XTL4TCP
	case pp.L4Proto == ProtoUDP:
		k = XTL4UDP
	case pp.L4Proto == ProtoICMP && v4:
		k = XTL4ICMP
	case pp.L4Proto == ProtoICMPv6 && !v4:
		k = XTL4ICMP6
	default:
		return false
	}
	return len(pp.Transport) < XTL4NeedBytes(k)
}

// XTL4FastHolds is the construct as a program's fast path may evaluate
// it for packets without XTL4SlowPath: the IR's transport header of a
// protocol k admits is present (Parsed.L4, the protocol guard every L4
// field has); multiport admits tcp and udp. It never hotdrops.
func XTL4FastHolds(k XTL4Kind, pp *Parsed) bool {
	if pp.L3 == nil || !pp.HasL4Proto || pp.L4 == nil {
		return false
	}
	if k == XTL4Multiport {
		return pp.L4Proto == ProtoTCP || pp.L4Proto == ProtoUDP
	}
	return xtl4Proto(k, pp)
}
