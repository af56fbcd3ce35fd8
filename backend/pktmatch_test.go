package backend

import (
	"github.com/bpfilter-go/bpfilter/internal/testpkt"
	"github.com/bpfilter-go/bpfilter/ir"

	"testing"
)

// Destination MACs that make the kernel's test runs (eth_type_trans on
// the loopback device, whose address and broadcast address are all zeros)
// report each packet type.
var (
	macLoopback  = [6]byte{}                                   // PACKET_HOST
	macMulticast = [6]byte{0x01, 0x00, 0x5e, 0x00, 0x00, 0x09} // PACKET_MULTICAST
	macAllOnes   = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff} // PACKET_MULTICAST too (lo's broadcast is zeros)
)

func withDstMAC(frame []byte, mac [6]byte) []byte {
	copy(frame[0:6], mac[:])
	return frame
}

// pktMatchPackets are the pool's packets for the iptables packet
// matches: TCP options (well formed, odd, malformed), destination MACs
// giving each packet type a test run can produce, IPv6 addresses around
// the ranges of pktMatchCases.
func pktMatchPackets() []poolPacket {
	v4 := func(src, dst string, proto uint8) testpkt.IPv4 {
		return testpkt.IPv4{Src: a4(src), Dst: a4(dst), Proto: proto}
	}
	v6 := func(src, dst string, proto uint8) testpkt.IPv6 {
		return testpkt.IPv6{Src: a6(src), Dst: a6(dst), NextHdr: proto}
	}
	ts := []byte{2, 4, 5, 0xb4, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0}
	return []poolPacket{
		{"tcp4-opts-mss-ts-mcast", withDstMAC(ip4(v4("198.18.0.1", "224.0.0.9", 6), testpkt.TCP{Sport: 22, Dport: 1000, Flags: testpkt.SYN, Options: ts}.Encode()), macMulticast)},
		{"tcp4-opts-zero-len-host", withDstMAC(ip4(v4("198.18.0.1", "198.18.0.2", 6), testpkt.TCP{Sport: 1000, Dport: 22, Options: []byte{9, 0, 30, 0}}.Encode(1, 2)), macLoopback)},
		{"tcp4-opts-jump-over", ip4(v4("198.18.0.1", "198.18.0.2", 6), testpkt.TCP{Sport: 5000, Dport: 6000, Options: []byte{9, 3, 30, 0, 0, 0, 0, 0}}.Encode())},
		{"tcp4-opts-max", withDstMAC(ip4(v4("198.18.0.1", "198.18.0.2", 6), testpkt.TCP{Sport: 7, Dport: 8, Options: append(make([]byte, 39), 30)}.Encode(1)), macAllOnes)},
		{"tcp4-opts-long-len", ip4(v4("198.18.0.1", "198.18.0.2", 6), testpkt.TCP{Sport: 7, Dport: 8, Options: []byte{1, 3, 200, 30}}.Encode())},
		{"tcp4-bad-doff", ip4(v4("198.18.0.1", "198.18.0.2", 6), testpkt.TCP{Sport: 22, Dport: 22, DataOffset: 4}.Encode(2, 4, 5, 0xb4))},
		{"tcp4-opts-truncated", ip4(v4("198.18.0.1", "198.18.0.2", 6), testpkt.TCP{Sport: 22, Dport: 22, DataOffset: 8, Options: []byte{2, 4, 5, 0xb4}}.Encode())},
		{"tcp6-opts-sack-mcast", withDstMAC(ip6(v6("2001:db8::10", "ff02::1", 6), testpkt.TCP{Sport: 80, Dport: 1022, Options: []byte{1, 1, 4, 2}}.Encode()), macMulticast)},
		{"udp6-range-high", withDstMAC(ip6(v6("2001:db8:0:0:1::1", "2001:db8::ffff", 17), testpkt.UDP{Sport: 1000, Dport: 1001}.Encode(1)), macLoopback)},
		{"udp4-mcast", withDstMAC(ip4(v4("198.18.0.9", "224.0.0.9", 17), testpkt.UDP{Sport: 5353, Dport: 5353}.Encode(1)), macMulticast)},
	}
}

// pktMatchCases are the matcher cases of the iptables packet matches.
// eth.saddr is not among them: test runs give every packet the loopback
// device, so xt_mac never matches there; TestPktMatchRealTraffic covers
// it (and packet types test runs cannot produce) with real frames.
func pktMatchCases(tb testing.TB) []ir.Match {
	tb.Helper()
	e := func(f ir.Field, s string) ir.Match { return eqMatch(tb, f, s, false) }
	ranges := func(f ir.Field, bounds ...string) ir.Match {
		m := ir.Match{Field: f, Op: ir.OpRanges}
		for i := 0; i < len(bounds); i += 2 {
			l, _ := mustParse(tb, f, bounds[i])
			h, _ := mustParse(tb, f, bounds[i+1])
			m.Value, m.High = append(m.Value, l...), append(m.High, h...)
		}
		return m
	}
	return []ir.Match{
		e(ir.MetaPktType, "0"), e(ir.MetaPktType, "2"), e(ir.MetaPktType, "3"), e(ir.MetaPktType, "5"),
		{Field: ir.MetaPktType, Op: ir.OpEq, Value: []byte{1}, Mask: []byte{0}},
		e(ir.TCPOption, "2"), e(ir.TCPOption, "8"), e(ir.TCPOption, "4"), e(ir.TCPOption, "30"), e(ir.TCPOption, "1"),
		e(ir.TCPPort, "22"), e(ir.TCPPort, "1000"), {Field: ir.TCPPort, Op: ir.OpRange, Value: []byte{0x03, 0xfe}, High: []byte{0x04, 0}},
		ranges(ir.TCPPort, "7", "7", "1020", "1030"), e(ir.UDPPort, "5353"), ranges(ir.UDPPort, "1001", "1001", "53", "60"),
		ranges(ir.IP6Saddr, "2001:db8::5", "2001:db8::1:0"), ranges(ir.IP6Saddr, "2001:db8::1", "2001:db8::1", "2001:db8:1::", "2001:db8:1::ffff"),
		ranges(ir.IP6Daddr, "2001:db8::3", "2001:db8::1:0:0:0"), ranges(ir.IP6Daddr, "2001:db8::2", "2001:db8::2", "ff02::1", "ff02::1"),
	}
}

// testRunPktMeta is the skb->pkt_type and MAC header the kernel's test
// runs give a frame on hook h: eth_type_trans on the loopback device for
// the hooks that take an Ethernet frame (multicast bit: multicast, since
// lo's broadcast address is zeros; lo's own address, zeros: host; any
// other: otherhost), 0 for netfilter LOCAL_OUT; never a MAC header
// xt_mac reads, as the device is loopback (ARPHRD_LOOPBACK).
func testRunPktMeta(h ir.Hook, frame []byte) (pktType uint8, mac []byte) {
	if h == ir.HookNFLocalOut || len(frame) < 14 {
		return ir.PacketHost, nil
	}
	dst := [6]byte(frame[0:6])
	switch {
	case dst[0]&1 != 0:
		return ir.PacketMulticast, nil
	case dst == macLoopback:
		return ir.PacketHost, nil
	}
	return ir.PacketOtherHost, nil
}
