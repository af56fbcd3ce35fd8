package ir

import (
	"fmt"
	"strconv"
	"strings"
)

// The iptables packet matches pkttype, mac, --tcp-option and multiport
// --ports, as fields:
//
//   - meta.pkttype (u8): skb->pkt_type as xt_pkttype computes it: the raw
//     value, except PACKET_LOOPBACK, which reads as PACKET_MULTICAST for an
//     IPv4 packet to 224.0.0.0/4 or any IPv6 packet, and PACKET_BROADCAST
//     otherwise. Netfilter and TC hooks (both have an skb).
//   - eth.saddr (6 bytes): the Ethernet source address as xt_mac reads it;
//     absent (false, also negated) when the device is not Ethernet or the
//     MAC header is unset or overlaps the network header. Netfilter
//     PREROUTING, INPUT and FORWARD only, as iptables allows.
//   - tcp.option (u8): "eq N" holds when the TCP options carry an option of
//     kind N, walked as xt_tcpudp's tcp_find_option walks them. A header
//     whose data offset is below 5 or whose options are truncated makes
//     the match false, also negated, and drops the packet (below).
//   - tcp.port, udp.port (u16): the match holds when it holds for the
//     source port or for the destination port (multiport --ports); a
//     negation negates the disjunction.
//
// A tcp.option match on a TCP header whose data offset is below 5 or
// whose options run past the packet drops the packet when it is reached,
// as xt_tcpudp's hotdrop does: RuleOutcome reports it once every earlier
// match of the rule held, and Eval then ends with DROP at that rule and
// no counter counting the packet (Result.HotDrop).
//
// These fields are Compound: MatchHolds evaluates them itself.

// Packet types (linux/if_packet.h), the values of meta.pkttype.
const (
	PacketHost      = 0
	PacketBroadcast = 1
	PacketMulticast = 2
	PacketOtherHost = 3
	PacketOutgoing  = 4
	PacketLoopback  = 5
)

// ARPHRDEther is ARPHRD_ETHER, the device type xt_mac requires.
const ARPHRDEther = 1

func pktTypeHooks(h Hook) bool {
	f := h.Flavour()
	return f == FlavourNF || f == FlavourTC
}

// macHooks: xt_mac is valid in PREROUTING, INPUT and FORWARD only.
func macHooks(h Hook) bool {
	return h == HookNFPreRouting || h == HookNFLocalIn || h == HookNFForward
}

// EitherPort returns the source and destination port fields a tcp.port or
// udp.port match tests.
func EitherPort(f Field) (src, dst Field, ok bool) {
	switch f {
	case TCPPort:
		return TCPSport, TCPDport, true
	case UDPPort:
		return UDPSport, UDPDport, true
	}
	return 0, 0, false
}

// pktFieldValue reads meta.pkttype and eth.saddr.
func pktFieldValue(f Field, p *Packet, pp *Parsed) ([]byte, bool) {
	switch f {
	case MetaPktType:
		return []byte{EffectivePktType(p.PktType, pp)}, true
	case MetaMACSaddr:
		if len(p.MACHeader) < 14 {
			return nil, false
		}
		return append([]byte(nil), p.MACHeader[6:12]...), true
	}
	return nil, false
}

// EffectivePktType is the packet type xt_pkttype compares: PACKET_LOOPBACK
// becomes multicast or broadcast from the destination address.
func EffectivePktType(raw uint8, pp *Parsed) uint8 {
	if raw != PacketLoopback {
		return raw
	}
	switch {
	case pp.L3Proto == EthPIP && pp.L3 != nil && pp.L3[16]&0xf0 == 0xe0:
		return PacketMulticast
	case pp.L3Proto == EthPIPv6:
		return PacketMulticast
	}
	return PacketBroadcast
}

// compoundMatch evaluates the matches of tcp.option, tcp.port and
// udp.port; handled is false for other fields.
func compoundMatch(m *Match, p *Packet, pp *Parsed) (hit, handled bool) {
	switch m.Field {
	case XTL4: // ir/xtl4.go; its hotdrop is RuleOutcome's
		k, ok := XTL4KindOf(m)
		if !ok {
			return false, true
		}
		holds, _ := XTL4Outcome(k, pp)
		return holds, true
	case TCPOption:
		if !pp.HasL4Proto || pp.L4Proto != ProtoTCP || pp.L4 == nil || m.Op != OpEq || len(m.Value) != 1 {
			return false, true
		}
		found, ok := TCPOptionPresent(pp.L4, m.Value[0])
		if !ok {
			return false, true
		}
		return found != m.Negate, true
	case TCPPort, UDPPort:
		src, dst, _ := EitherPort(m.Field)
		if m.Op == OpIn {
			return false, true
		}
		s, d := *m, *m
		s.Field, d.Field, s.Negate, d.Negate = src, dst, false, false
		if _, ok := FieldValue(src, p, pp); !ok {
			return false, true
		}
		return (MatchHolds(nil, &s, p, pp) || MatchHolds(nil, &d, p, pp)) != m.Negate, true
	}
	return false, false
}

// parseMAC parses "aa:bb:cc:dd:ee:ff" (hex digits, either case).
func parseMAC(s string) ([]byte, []byte, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return nil, nil, fmt.Errorf("invalid Ethernet address %q", s)
	}
	out := make([]byte, 6)
	for i, x := range parts {
		if len(x) != 2 {
			return nil, nil, fmt.Errorf("invalid Ethernet address %q", s)
		}
		v, err := strconv.ParseUint(x, 16, 8)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid Ethernet address %q", s)
		}
		out[i] = byte(v)
	}
	return out, nil, nil
}

// formatMAC prints an Ethernet address in lower case.
func formatMAC(v []byte) string {
	var sb strings.Builder
	for i, c := range v {
		if i > 0 {
			sb.WriteByte(':')
		}
		fmt.Fprintf(&sb, "%02x", c)
	}
	return sb.String()
}
