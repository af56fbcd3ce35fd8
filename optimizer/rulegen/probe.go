package rulegen

import (
	"encoding/binary"
	"net/netip"

	"github.com/bpfilter-go/bpfilter/ir"
)

// Probe describes the packet a benchmark sends: generated filler rules never
// match it, and a placed rule matches it exactly.
type Probe struct {
	Src, Dst     netip.Addr
	Proto        uint8
	Sport, Dport uint16
	// Ifindex is the interface the packet arrives on (meta.iface).
	Ifindex uint32
}

// DefaultProbe is a UDP packet 198.18.0.1:9 → 198.18.1.1:9 on ifindex 2,
// inside the benchmarking range.
func DefaultProbe() Probe {
	return Probe{
		Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.1.1"),
		Proto: ir.ProtoUDP, Sport: 9, Dport: 9, Ifindex: 2,
	}
}

// Packet builds the probe as an ir.Packet; with l2 it starts at an Ethernet
// header (XDP, TC), otherwise at the IP header (netfilter, cgroup_skb).
func (p Probe) Packet(l2 bool) *ir.Packet {
	var l4 []byte
	switch p.Proto {
	case ir.ProtoTCP:
		l4 = make([]byte, 20)
		l4[12] = 5 << 4
		l4[13] = 0x02
	case ir.ProtoUDP:
		l4 = make([]byte, 8)
		binary.BigEndian.PutUint16(l4[4:], 8)
	case ir.ProtoICMP, ir.ProtoICMPv6:
		l4 = []byte{8, 0, 0, 0, 0, 0, 0, 0}
	default:
		l4 = make([]byte, 8)
	}
	if p.Proto == ir.ProtoTCP || p.Proto == ir.ProtoUDP {
		binary.BigEndian.PutUint16(l4[0:], p.Sport)
		binary.BigEndian.PutUint16(l4[2:], p.Dport)
	}
	var l3 []byte
	ethp := uint16(ir.EthPIP)
	if p.Src.Is4() {
		l3 = make([]byte, 20)
		l3[0] = 0x45
		binary.BigEndian.PutUint16(l3[2:], uint16(20+len(l4)))
		l3[8] = 64
		l3[9] = p.Proto
		s, d := p.Src.As4(), p.Dst.As4()
		copy(l3[12:], s[:])
		copy(l3[16:], d[:])
	} else {
		ethp = ir.EthPIPv6
		l3 = make([]byte, 40)
		l3[0] = 0x60
		binary.BigEndian.PutUint16(l3[4:], uint16(len(l4)))
		l3[6] = p.Proto
		l3[7] = 64
		s, d := p.Src.As16(), p.Dst.As16()
		copy(l3[8:], s[:])
		copy(l3[24:], d[:])
	}
	data := append(l3, l4...)
	if l2 {
		eth := make([]byte, 14)
		eth[0], eth[6] = 0x02, 0x02
		binary.BigEndian.PutUint16(eth[12:], ethp)
		data = append(eth, data...)
	}
	return &ir.Packet{Data: data, L2: l2, L3Proto: ethp, Ifindex: p.Ifindex}
}

// Rule returns a rule that matches the probe exactly (source and
// destination address, protocol, ports), with verdict v.
func (p Probe) Rule(v ir.Verdict) *ir.Rule {
	r := &ir.Rule{Verdict: v, Counter: true}
	if p.Src.Is4() {
		r.Matches = append(r.Matches, eq(ir.IP4Saddr, p.Src.AsSlice()), eq(ir.IP4Daddr, p.Dst.AsSlice()))
	} else {
		r.Matches = append(r.Matches, eq(ir.IP6Saddr, p.Src.AsSlice()), eq(ir.IP6Daddr, p.Dst.AsSlice()))
	}
	r.Matches = append(r.Matches, eq(ir.MetaL4Proto, []byte{p.Proto}))
	switch p.Proto {
	case ir.ProtoTCP:
		r.Matches = append(r.Matches, eq(ir.TCPDport, u16(p.Dport)))
	case ir.ProtoUDP:
		r.Matches = append(r.Matches, eq(ir.UDPDport, u16(p.Dport)))
	}
	return r
}

func eq(f ir.Field, v []byte) ir.Match { return ir.Match{Field: f, Op: ir.OpEq, Value: v} }

func u16(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }
