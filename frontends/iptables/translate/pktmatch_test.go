package translate

import (
	"testing"

	"github.com/bpfilter-go/bpfilter/frontends/iptables/abi"
	"github.com/bpfilter-go/bpfilter/internal/testpkt"
	"github.com/bpfilter-go/bpfilter/ir"
)

// evalCases runs packets through the INPUT chain of the translated text.
func evalCases(t *testing.T, fam abi.Family, text string, cases []struct {
	name string
	p    *ir.Packet
	want ir.VerdictKind
}) {
	t.Helper()
	rs, err := Table(restoreFilter(t, fam, text), opts())
	if err != nil {
		t.Fatal(err)
	}
	name := "iptables.INPUT"
	if fam == abi.IPv6 {
		name = "ip6tables.INPUT"
	}
	in := rs.Chain(name)
	for _, c := range cases {
		if got := ir.Eval(rs, in, c.p).Verdict.Kind; got != c.want {
			t.Errorf("%s: verdict %s, want %s", c.name, got, c.want)
		}
	}
}

type evalCase = struct {
	name string
	p    *ir.Packet
	want ir.VerdictKind
}

func TestPktTypeAndMAC(t *testing.T) {
	udp := func(pt uint8, dst string, mac []byte) *ir.Packet {
		p := v4("198.18.0.7", dst, ir.ProtoUDP, testpkt.UDP{Sport: 5, Dport: 6}.Encode())
		p.PktType, p.MACHeader = pt, mac
		return p
	}
	eth := func(src byte) []byte { return []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, src, 8, 0} }
	evalCases(t, abi.IPv4, `*filter
:INPUT DROP [0:0]
-A INPUT -m mac --mac-source 02:00:00:00:00:09 -j DROP
-A INPUT -m pkttype --pkt-type broadcast -j ACCEPT
-A INPUT -m pkttype ! --pkt-type unicast -m mac ! --mac-source 02:00:00:00:00:01 -j ACCEPT
COMMIT
`, []evalCase{
		{"broadcast", udp(ir.PacketBroadcast, "198.18.0.255", eth(1)), ir.Accept},
		{"broadcast from a banned MAC", udp(ir.PacketBroadcast, "198.18.0.255", eth(9)), ir.Drop},
		{"unicast", udp(ir.PacketHost, "198.18.0.2", eth(2)), ir.Drop},
		{"multicast from .2", udp(ir.PacketMulticast, "224.0.0.9", eth(2)), ir.Accept},
		{"multicast from .1", udp(ir.PacketMulticast, "224.0.0.9", eth(1)), ir.Drop},
		{"multicast without MAC header", udp(ir.PacketMulticast, "224.0.0.9", nil), ir.Drop},
		{"looped broadcast", udp(ir.PacketLoopback, "198.18.0.255", nil), ir.Accept},
		{"looped multicast", udp(ir.PacketLoopback, "224.0.0.9", eth(2)), ir.Accept},
	})
}

func TestTCPOptionAndPorts(t *testing.T) {
	tcp := func(sport, dport uint16, opts ...byte) *ir.Packet {
		return v4("198.18.0.7", "198.18.0.2", ir.ProtoTCP, testpkt.TCP{Sport: sport, Dport: dport, Options: opts}.Encode())
	}
	bad := v4("198.18.0.7", "198.18.0.2", ir.ProtoTCP, testpkt.TCP{Sport: 9, Dport: 9, DataOffset: 4}.Encode())
	evalCases(t, abi.IPv4, `*filter
:INPUT DROP [0:0]
-A INPUT -p tcp -m tcp --tcp-option 8 -j ACCEPT
-A INPUT -p tcp -m tcp ! --tcp-option 2 -m multiport --ports 22,1000:1010 -j ACCEPT
-A INPUT -p tcp -m multiport ! --ports 1:100 -j ACCEPT
COMMIT
`, []evalCase{
		{"timestamps", tcp(50, 50, 1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0), ir.Accept},
		{"no mss, sport 22", tcp(22, 50), ir.Accept},
		{"no mss, dport 1005", tcp(50, 1005), ir.Accept},
		{"mss, dport 1005", tcp(50, 1005, 2, 4, 5, 0xb4), ir.Drop},
		{"both ports low", tcp(50, 60), ir.Drop},
		{"one port low", tcp(50, 600), ir.Drop},
		{"both ports high", tcp(500, 600), ir.Accept},
		{"bad data offset", bad, ir.Drop},
	})
	// xt_tcpudp drops the packet at a --tcp-option rule it cannot walk
	// (hotdrop), whatever the policy and the rules after it.
	evalCases(t, abi.IPv4, `*filter
:INPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 1:100 --tcp-option 8 -j ACCEPT
COMMIT
`, []evalCase{
		{"bad data offset, port in range", bad, ir.Drop},
		{"bad data offset, port out of range", v4("198.18.0.7", "198.18.0.2", ir.ProtoTCP, testpkt.TCP{Sport: 9, Dport: 200, DataOffset: 4}.Encode()), ir.Accept},
		{"truncated options", v4("198.18.0.7", "198.18.0.2", ir.ProtoTCP, testpkt.TCP{Sport: 9, Dport: 9, DataOffset: 8, Options: []byte{1, 1, 1, 1}}.Encode()), ir.Drop},
		{"no timestamps", tcp(9, 9, 2, 4, 5, 0xb4), ir.Accept},
	})
}

func TestIPRange6(t *testing.T) {
	udp := func(src, dst string) *ir.Packet {
		return &ir.Packet{Data: testpkt.IPv6{Src: testpkt.Addr(src), Dst: testpkt.Addr(dst), NextHdr: ir.ProtoUDP, HopLimit: 64}.Encode(testpkt.UDP{Sport: 1, Dport: 2}.Encode()), L3Proto: ir.EthPIPv6}
	}
	evalCases(t, abi.IPv6, `*filter
:INPUT DROP [0:0]
-A INPUT -m iprange --src-range fd00:198:18::10-fd00:198:18::1:0 -j ACCEPT
-A INPUT -m iprange ! --dst-range fd00:198:18::1-fd00:198:18::ff -j ACCEPT
-A INPUT -m iprange --src-range fd00::9-fd00::1 -j ACCEPT
COMMIT
`, []evalCase{
		{"low end", udp("fd00:198:18::10", "fd00:198:18::2"), ir.Accept},
		{"inside, high half differs", udp("fd00:198:18::ffff", "fd00:198:18::2"), ir.Accept},
		{"high end", udp("fd00:198:18::1:0", "fd00:198:18::2"), ir.Accept},
		{"above", udp("fd00:198:18::1:1", "fd00:198:18::2"), ir.Drop},
		{"below", udp("fd00:198:18::f", "fd00:198:18::2"), ir.Drop},
		{"dst outside", udp("fd00:198:18::f", "fd00:198:18::100"), ir.Accept},
	})
}
