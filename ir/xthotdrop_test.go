package ir

import (
	"encoding/binary"
	"testing"
)

// xtPkt4 is an IPv4 packet (no Ethernet header) carrying l4 with the
// given fragment offset (8-byte units).
func xtPkt4(proto uint8, fragOff uint16, l4 []byte) *Packet {
	b := pkt4([4]byte{198, 18, 0, 2}, [4]byte{198, 18, 0, 1}, proto, l4)[14:]
	binary.BigEndian.PutUint16(b[6:], fragOff)
	return &Packet{L3Proto: EthPIP, Data: b}
}

// xtPkt6 is an IPv6 packet carrying l4, behind a fragment header with
// the given offset (bytes, a multiple of 8) when frag is set.
func xtPkt6(proto uint8, frag bool, fragOff uint16, l4 []byte) *Packet {
	b := make([]byte, 40)
	b[0] = 0x60
	b[6] = proto
	b[7] = 64
	if frag {
		b[6] = 44
		fh := make([]byte, 8)
		fh[0] = proto
		binary.BigEndian.PutUint16(fh[2:], fragOff)
		b = append(b, fh...)
	}
	b = append(b, l4...)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
	return &Packet{L3Proto: EthPIPv6, Data: b}
}

func TestXTL4Outcome(t *testing.T) {
	type want struct{ holds, drop bool }
	match, drop, miss := want{true, false}, want{false, true}, want{false, false}
	cases := []struct {
		name string
		k    XTL4Kind
		p    *Packet
		want want
	}{
		// Rows of docs/HOTDROP.md, with the measured cases.
		{"tcp full", XTL4TCP, xtPkt4(ProtoTCP, 0, make([]byte, 20)), match},
		{"tcp 19 bytes", XTL4TCP, xtPkt4(ProtoTCP, 0, make([]byte, 19)), drop},
		{"tcp 10 bytes", XTL4TCP, xtPkt4(ProtoTCP, 0, make([]byte, 10)), drop},
		{"tcp 0 bytes", XTL4TCP, xtPkt4(ProtoTCP, 0, nil), drop},
		{"tcp fragoff 1", XTL4TCP, xtPkt4(ProtoTCP, 1, make([]byte, 20)), drop},
		{"tcp fragoff 2", XTL4TCP, xtPkt4(ProtoTCP, 2, make([]byte, 20)), miss},
		{"tcp fragoff 1 MF", XTL4TCP, xtPkt4(ProtoTCP, 0x2001, make([]byte, 8)), drop},
		{"tcp first fragment MF", XTL4TCP, xtPkt4(ProtoTCP, 0x2000, make([]byte, 20)), match},
		{"udp full", XTL4UDP, xtPkt4(ProtoUDP, 0, make([]byte, 8)), match},
		{"udp 4 bytes", XTL4UDP, xtPkt4(ProtoUDP, 0, make([]byte, 4)), drop},
		{"udp 7 bytes", XTL4UDP, xtPkt4(ProtoUDP, 0, make([]byte, 7)), drop},
		{"udp fragoff 1", XTL4UDP, xtPkt4(ProtoUDP, 1, make([]byte, 8)), miss},
		{"icmp 8 bytes", XTL4ICMP, xtPkt4(ProtoICMP, 0, make([]byte, 8)), match},
		{"icmp 7 bytes", XTL4ICMP, xtPkt4(ProtoICMP, 0, make([]byte, 7)), drop},
		{"icmp 5 bytes", XTL4ICMP, xtPkt4(ProtoICMP, 0, make([]byte, 5)), drop},
		{"icmp fragoff 1", XTL4ICMP, xtPkt4(ProtoICMP, 1, make([]byte, 8)), miss},
		{"multiport tcp 4 bytes", XTL4Multiport, xtPkt4(ProtoTCP, 0, make([]byte, 4)), match},
		{"multiport tcp 10 bytes", XTL4Multiport, xtPkt4(ProtoTCP, 0, make([]byte, 10)), match},
		{"multiport udp 3 bytes", XTL4Multiport, xtPkt4(ProtoUDP, 0, make([]byte, 3)), drop},
		{"multiport tcp fragoff 1", XTL4Multiport, xtPkt4(ProtoTCP, 1, make([]byte, 20)), miss},
		{"udp match on tcp packet", XTL4UDP, xtPkt4(ProtoTCP, 0, make([]byte, 4)), miss},
		{"icmp6 match on IPv4", XTL4ICMP6, xtPkt4(ProtoICMPv6, 0, make([]byte, 4)), miss},
		{"ip6 udp 8 bytes", XTL4UDP, xtPkt6(ProtoUDP, false, 0, make([]byte, 8)), match},
		{"ip6 udp 4 bytes", XTL4UDP, xtPkt6(ProtoUDP, false, 0, make([]byte, 4)), drop},
		{"ip6 icmp6 8 bytes", XTL4ICMP6, xtPkt6(ProtoICMPv6, false, 0, make([]byte, 8)), match},
		{"ip6 icmp6 7 bytes", XTL4ICMP6, xtPkt6(ProtoICMPv6, false, 0, make([]byte, 7)), drop},
		{"ip6 tcp 19 bytes", XTL4TCP, xtPkt6(ProtoTCP, false, 0, make([]byte, 19)), drop},
		{"ip6 multiport tcp 10 bytes", XTL4Multiport, xtPkt6(ProtoTCP, false, 0, make([]byte, 10)), match},
		{"ip6 tcp first fragment", XTL4TCP, xtPkt6(ProtoTCP, true, 0, make([]byte, 20)), match},
		{"ip6 tcp first fragment 10 bytes", XTL4TCP, xtPkt6(ProtoTCP, true, 0, make([]byte, 10)), drop},
		// IPv6 fragoff is in bytes: 8 is the smallest non-zero one and
		// never hotdrops (no fragoff == 1 case).
		{"ip6 tcp fragoff 8", XTL4TCP, xtPkt6(ProtoTCP, true, 8, make([]byte, 20)), miss},
		{"ip6 icmp match on IPv6", XTL4ICMP, xtPkt6(ProtoICMP, false, 0, make([]byte, 8)), miss},
		{"not IP", XTL4TCP, &Packet{L3Proto: 0x0806, Data: make([]byte, 28)}, miss},
	}
	for _, tc := range cases {
		pp := Parse(tc.p)
		holds, hot := XTL4Outcome(tc.k, &pp)
		if (want{holds, hot}) != tc.want {
			t.Errorf("%s: %s: got holds=%v hotDrop=%v, want %+v", tc.name, tc.k, holds, hot, tc.want)
		}
	}
}

func TestParseTransportAndFragOff(t *testing.T) {
	pp := Parse(xtPkt4(ProtoTCP, 0, make([]byte, 10)))
	if pp.L4 != nil || len(pp.Transport) != 10 || pp.FragOff != 0 || pp.Err == nil {
		t.Fatalf("truncated TCP: got L4=%d Transport=%d FragOff=%d Err=%v, want L4 nil, 10 transport bytes, error",
			len(pp.L4), len(pp.Transport), pp.FragOff, pp.Err)
	}
	pp = Parse(xtPkt4(ProtoTCP, 0x2005, make([]byte, 20)))
	if pp.Transport != nil || pp.L4 != nil || pp.FragOff != 5 {
		t.Fatalf("IPv4 fragment: got Transport=%d FragOff=%d, want nil, 5", len(pp.Transport), pp.FragOff)
	}
	pp = Parse(xtPkt6(ProtoUDP, true, 0x0010|1, make([]byte, 8))) // offset 16 bytes, M set
	if pp.Transport != nil || pp.FragOff != 16 {
		t.Fatalf("IPv6 fragment: got Transport=%d FragOff=%d, want nil, 16", len(pp.Transport), pp.FragOff)
	}
	pp = Parse(xtPkt6(ProtoUDP, false, 0, make([]byte, 8)))
	if len(pp.Transport) != 8 || len(pp.L4) != 8 || pp.FragOff != 0 {
		t.Fatalf("IPv6 UDP: got Transport=%d L4=%d FragOff=%d", len(pp.Transport), len(pp.L4), pp.FragOff)
	}
}

// TestXTL4SlowPathCoversDifferences checks, over every transport length
// up to a full TCP header, fragment offsets around 1, both families and
// several protocols, that a packet without the prologue flag gets the
// same outcome from the fast evaluation as from XTL4Outcome, and that
// every flagged packet needs the slow path for some kind (the flag is
// not wider than the table).
func TestXTL4SlowPathCoversDifferences(t *testing.T) {
	kinds := []XTL4Kind{XTL4TCP, XTL4UDP, XTL4ICMP, XTL4ICMP6, XTL4Multiport}
	protos := []uint8{ProtoTCP, ProtoUDP, ProtoICMP, ProtoICMPv6, 132, 47}
	n, flagged := 0, 0
	for _, proto := range protos {
		for l := 0; l <= 24; l++ {
			var pkts []*Packet
			for _, fo := range []uint16{0, 1, 2, 0x2000, 0x2001, 0x2002} {
				pkts = append(pkts, xtPkt4(proto, fo, make([]byte, l)))
			}
			for _, fo := range []uint16{0, 1, 8, 9, 16} { // bit 0 is M
				pkts = append(pkts, xtPkt6(proto, true, fo, make([]byte, l)))
			}
			pkts = append(pkts, xtPkt6(proto, false, 0, make([]byte, l)))
			for _, p := range pkts {
				pp := Parse(p)
				hd := XTL4SlowPath(&pp)
				needed := false
				for _, k := range kinds {
					n++
					holds, hot := XTL4Outcome(k, &pp)
					if k == XTL4Multiport && proto != ProtoTCP && proto != ProtoUDP {
						continue // not translated (see XTL4SlowPath)
					}
					fast := XTL4FastHolds(k, &pp)
					if hot || holds != fast {
						needed = true
						if !hd {
							t.Errorf("proto %d, %d bytes, %x: %s: outcome holds=%v hotDrop=%v, fast %v, but no slow-path flag",
								proto, l, p.Data[:8], k, holds, hot, fast)
						}
					}
				}
				if hd {
					flagged++
					if !needed {
						t.Errorf("proto %d, %d bytes, %x: flagged but every kind agrees with the fast path", proto, l, p.Data[:8])
					}
				}
			}
		}
	}
	if flagged == 0 || n == 0 {
		t.Fatalf("no packet flagged out of %d cases", n)
	}
}
