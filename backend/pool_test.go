package backend

import (
	"github.com/bpfilter-go/bpfilter/internal/testpkt"
	"github.com/bpfilter-go/bpfilter/ir"
)

// poolPacket is a named test frame.
type poolPacket struct {
	name  string
	frame []byte
}

var (
	a4 = testpkt.Addr
	a6 = testpkt.Addr
)

func ip4(h testpkt.IPv4, l4 []byte) []byte { return testpkt.Ethernet(testpkt.EthIPv4, h.Encode(l4)) }
func ip6(h testpkt.IPv6, l4 []byte) []byte { return testpkt.Ethernet(testpkt.EthIPv6, h.Encode(l4)) }

// packetPool returns frames covering every header shape the parser
// handles: v4/v6, TCP/UDP/ICMP, extension headers, fragments, options and
// truncations.
func packetPool() []poolPacket {
	tcpSyn := testpkt.TCP{Sport: 1234, Dport: 80, Flags: testpkt.SYN, Seq: 7}.Encode()
	tcpSynAck := testpkt.TCP{Sport: 1500, Dport: 443, Flags: testpkt.SYN | testpkt.ACK}.Encode()
	udp := testpkt.UDP{Sport: 53, Dport: 5353}.Encode(1, 2, 3, 4)
	ext := func(t uint8) testpkt.Ext { return testpkt.Ext{Type: t} }
	manyExt := make([]testpkt.Ext, ir.MaxIPv6ExtHeaders+1)
	for i := range manyExt {
		manyExt[i] = ext(60)
	}
	v6 := func(next uint8, exts ...testpkt.Ext) testpkt.IPv6 {
		return testpkt.IPv6{Src: a6("2001:db8::1"), Dst: a6("2001:db8::2"), NextHdr: next, TrafficClass: 46 << 2, Ext: exts}
	}
	pool := []poolPacket{
		{"tcp4-syn", ip4(testpkt.IPv4{Src: a4("198.18.0.1"), Dst: a4("198.18.0.2"), Proto: 6, TOS: 46 << 2}, tcpSyn)},
		{"tcp4-synack", ip4(testpkt.IPv4{Src: a4("198.18.0.5"), Dst: a4("198.18.1.9"), Proto: 6}, tcpSynAck)},
		{"udp4", ip4(testpkt.IPv4{Src: a4("198.18.0.3"), Dst: a4("198.18.1.4"), Proto: 17, TOS: 10 << 2}, udp)},
		{"icmp4", ip4(testpkt.IPv4{Src: a4("198.18.0.1"), Dst: a4("198.18.0.2"), Proto: 1}, testpkt.ICMP{Type: 8}.Encode())},
		{"icmp4-unreach", ip4(testpkt.IPv4{Src: a4("198.19.0.1"), Dst: a4("198.18.0.2"), Proto: 1}, testpkt.ICMP{Type: 3, Code: 1}.Encode())},
		{"udp4-options", ip4(testpkt.IPv4{Src: a4("198.18.0.1"), Dst: a4("198.18.1.4"), Proto: 17, Options: []byte{1, 1, 1, 0}},
			testpkt.UDP{Sport: 1234, Dport: 80}.Encode())},
		{"tcp4-frag", ip4(testpkt.IPv4{Src: a4("198.18.0.1"), Dst: a4("198.18.0.2"), Proto: 6, FragOffset: 10}, tcpSyn)},
		{"tcp4-first-frag", ip4(testpkt.IPv4{Src: a4("198.18.0.1"), Dst: a4("198.18.0.2"), Proto: 6, MoreFragments: true}, tcpSyn)},
		{"tcp4-truncated-l4", testpkt.Truncate(ip4(testpkt.IPv4{Src: a4("198.18.0.1"), Dst: a4("198.18.0.2"), Proto: 6}, tcpSyn), 14+20+10)},
		{"ip4-bad-version", func() []byte {
			b := ip4(testpkt.IPv4{Src: a4("198.18.0.1"), Dst: a4("198.18.0.2"), Proto: 6}, tcpSyn)
			b[14] = 5<<4 | 5
			return b
		}()},
		{"ip4-bad-ihl", func() []byte {
			b := ip4(testpkt.IPv4{Src: a4("198.18.0.1"), Dst: a4("198.18.0.2"), Proto: 6}, tcpSyn)
			b[14] = 4<<4 | 15
			return b
		}()},
		{"tcp6-hbh", ip6(v6(6, ext(0)), tcpSyn)},
		{"udp6-frag0-dstopt", ip6(testpkt.IPv6{Src: a6("2001:db8::7"), Dst: a6("2001:db8:0:1::5"), NextHdr: 17,
			Ext: []testpkt.Ext{{Type: 44, MoreFragments: true}, ext(60)}}, udp)},
		{"icmp6", ip6(v6(58), testpkt.ICMP{Type: 128}.Encode())},
		{"icmp6-unreach", ip6(testpkt.IPv6{Src: a6("2001:db8:1::1"), Dst: a6("2001:db8::2"), NextHdr: 58}, testpkt.ICMP{Type: 1, Code: 4}.Encode())},
		{"tcp6-frag", ip6(v6(6, testpkt.Ext{Type: 44, FragOffset: 10}), tcpSyn)},
		{"tcp6-ah-routing", ip6(v6(6, testpkt.Ext{Type: 51, Len: 4}, testpkt.Ext{Type: 43, Len: 1}), tcpSynAck)},
		{"ip6-too-many-ext", ip6(v6(6, manyExt...), tcpSyn)},
		{"tcp6-truncated-l4", testpkt.Truncate(ip6(v6(6), tcpSyn), 14+40+12)},
		{"ip6-truncated-ext", testpkt.Truncate(ip6(v6(6, ext(0)), tcpSyn), 14+40+4)},
		{"ip6-ext-overrun", ip6(v6(6, testpkt.Ext{Type: 60, Len: 0}), nil)[:14+40+8]},
		{"ip6-ext-len-overrun", func() []byte {
			b := ip6(v6(17, ext(60)), testpkt.UDP{Sport: 1, Dport: 2}.Encode())
			b[14+40+1] = 3 // claims 32 bytes, 16 remain
			return b
		}()},
		{"ip6-unknown-l4", ip6(v6(47), []byte{0, 0, 0, 0, 1, 2, 3, 4})},
		{"ip6-bad-version", func() []byte {
			b := ip6(v6(6), tcpSyn)
			b[14] = 4 << 4
			return b
		}()},
		{"ip4-truncated-l3", testpkt.Truncate(ip4(testpkt.IPv4{Src: a4("198.18.0.1"), Dst: a4("198.18.0.2"), Proto: 6}, tcpSyn), 14+16)},
		{"arp", testpkt.Ethernet(testpkt.EthARP, make([]byte, 28))},
	}
	pool = append(pool, pktMatchPackets()...) // iptables packet matches (pktmatch_test.go)
	return pool
}

// usableOn reports whether the kernel can test-run frame on hook h:
// skb test runs (TC, cgroup_skb, netfilter) refuse IPv4 and IPv6 frames
// whose minimal network header is incomplete, and netfilter test runs
// only take IPv4 and IPv6 frames. XDP takes any frame of 14 bytes or more.
func usableOn(h ir.Hook, frame []byte) bool {
	if len(frame) < 14 {
		return false
	}
	if h.Flavour() == ir.FlavourXDP {
		return true
	}
	switch uint16(frame[12])<<8 | uint16(frame[13]) {
	case ir.EthPIP:
		return len(frame) >= 14+20
	case ir.EthPIPv6:
		return len(frame) >= 14+40
	}
	return h.Flavour() != ir.FlavourNF
}
