package iptdiff

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// macKind chooses a probe's destination MAC, and so the packet type the
// receiver's Ethernet driver gives it (eth_type_trans).
type macKind uint8

const (
	macOwn       macKind = iota // the receiving interface: PACKET_HOST
	macBroadcast                // ff:ff:ff:ff:ff:ff: PACKET_BROADCAST
	macMulticast                // 01:00:5e:00:00:01 / 33:33:00:00:00:01: PACKET_MULTICAST
)

func (k macKind) addr(own net.HardwareAddr, v6 bool) net.HardwareAddr {
	switch k {
	case macBroadcast:
		return net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	case macMulticast:
		if v6 {
			return net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}
		}
		return net.HardwareAddr{0x01, 0x00, 0x5e, 0, 0, 1}
	}
	return own
}

func (k macKind) String() string {
	return [...]string{"own", "broadcast", "multicast"}[k]
}

// Source MACs of the probes: the harness's default sender address
// (nil), a banned one, and others.
var probeSrcMACs = [][]byte{nil, {0x02, 0, 0, 0, 0, 0x09}, {0x02, 0, 0, 0, 0, 0x0a}, {0x0a, 0xbb, 0, 0, 0, 0x01}}

// tcpOptionSets are option lists (kinds 2 MSS, 3 window scale, 4 SACK
// permitted, 8 timestamps, 1 NOP, 0 EOL, 30 MPTCP-like); pktProbes also
// makes headers whose data offset is below 5 or runs past the packet,
// which xt_tcpudp drops at a --tcp-option rule (hotdrop).
var tcpOptionSets = [][]byte{
	nil,
	{2, 4, 5, 0xb4},
	{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7},
	{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0},
	{0, 3, 3, 7},       // EOL first: the walk goes on and finds window scale
	{9, 0, 4, 2},       // a zero length steps one byte
	{9, 6, 3, 3, 7, 0}, // a length that hides a kind
	{30, 4, 0, 0, 1, 1, 1, 2},
}

// pktProbes returns n random TCP, UDP and (IPv4) ICMP probes with random
// destination and source MACs, TCP options, ports from the rule ports
// and addresses from the pair's (and the broadcast or all-nodes
// multicast address).
func pktProbes(r *rand.Rand, n int, v6 bool, firstID uint32, recv4, recv6 netip.Addr) []probe {
	out := make([]probe, 0, n)
	ports := []uint16{1, 22, 53, 80, 443, 1000, 1023, 1024, 1500, 2000, 8000, 8080, 9000}
	for i := 0; i < n; i++ {
		id := firstID + uint32(i)
		var src, dst netip.Addr
		if v6 {
			a, b := senderV6.As16(), recv6.As16()
			a[15] = pick(r, []byte{1, 5, 7, 9, 200})
			a[14] = pick(r, []byte{0, 0, 0, 1})
			b[15] = pick(r, []byte{2, 3, 4, 5, 6})
			src, dst = netip.AddrFrom16(a), netip.AddrFrom16(b)
			if r.IntN(8) == 0 {
				dst = netip.MustParseAddr("ff02::1")
			}
		} else {
			a, b := senderV4.As4(), recv4.As4()
			a[3] = pick(r, []byte{1, 7, 9, 200})
			b[3] = pick(r, []byte{2, 3, 4, 5, 6})
			src, dst = netip.AddrFrom4(a), netip.AddrFrom4(b)
			switch r.IntN(8) {
			case 0:
				dst = netip.MustParseAddr("198.18.0.255")
			case 1:
				dst = netip.MustParseAddr("224.0.0.1")
			}
		}
		h := l4{sport: pick(r, ports), dport: pick(r, ports)}
		switch r.IntN(5) {
		case 0, 1:
			h.proto = 6
			h.tcpFlags = pick(r, []uint8{0x02, 0x12, 0x10, 0x18})
			h.tcpOpts = pick(r, tcpOptionSets)
			if pad := len(h.tcpOpts) % 4; pad != 0 {
				h.tcpOpts = append(append([]byte(nil), h.tcpOpts...), make([]byte, 4-pad)...)
			}
			switch r.IntN(10) {
			case 0:
				h.tcpDoff = pick(r, []uint8{0, 2, 4}) // below 5
				if h.tcpDoff == 0 {
					h.tcpDoff = 1
				}
			case 1:
				h.tcpDoff = 15 // 40 bytes of options: past the end
			}
		case 2, 3:
			h.proto = 17
		default:
			h.proto = 17
			if !v6 {
				h.proto, h.icmpType = 1, pick(r, []uint8{0, 8, 13})
			}
		}
		m := markerFor(id)
		p := probe{v6: v6, marker: m, ip: ipPacket(src, dst, h.proto, 64, h.encode(src, dst, m))}
		p.dstMAC = macKind(r.IntN(3))
		p.srcMAC = pick(r, probeSrcMACs)
		p.desc = sprintf("%s to %v from %x opts % x doff %d", describe(src, dst, h, 64), p.dstMAC, p.srcMAC, h.tcpOpts, h.tcpDoff)
		out = append(out, p)
	}
	return out
}

const pktMatchV4 = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:opts - [0:0]
-A INPUT -p udp -m pkttype --pkt-type broadcast -m udp --dport 1:1000 -j DROP
-A INPUT -m mac --mac-source 02:00:00:00:00:09 -j DROP
-A INPUT -p tcp -m pkttype ! --pkt-type unicast -m mac ! --mac-source 02:00:00:00:00:01 -j DROP
-A INPUT -p tcp -j opts
-A INPUT -p udp -m multiport ! --ports 1:1023,8080 -j DROP
-A INPUT -p icmp -m pkttype --pkt-type multicast -j DROP
-A INPUT -m pkttype ! --pkt-type host -m mac --mac-source 0A:BB:00:00:00:01 -j DROP
-A opts -p tcp -m tcp --tcp-option 8 --dport 1000:2000 -j DROP
-A opts -p tcp -m tcp ! --tcp-option 2 -m multiport --ports 22,80 -j DROP
-A opts -p tcp -m multiport --ports 443,8000:8080 -j RETURN
-A opts -p tcp -m tcp --tcp-option 3 -j DROP
-A opts -p tcp -m tcp --tcp-option 4 ! --tcp-flags SYN,ACK SYN -j DROP
COMMIT
`

const pktMatchV6 = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p udp -m iprange --src-range fd00:198:18::5-fd00:198:18::1:0 -m multiport --ports 53,1000 -j DROP
-A INPUT -p tcp -m iprange ! --dst-range fd00:198:18::3-fd00:198:18::4 ! --src-range fd00:198:18::9-fd00:198:18::1:7 -j DROP
-A INPUT -p udp -m pkttype --pkt-type multicast -m udp --sport 1:1023 -j DROP
-A INPUT -p tcp -m mac --mac-source 02:00:00:00:00:09 -j DROP
-A INPUT -p tcp -m tcp --tcp-option 4 -j DROP
-A INPUT -p udp -m multiport --ports 443,8080:9000 -j DROP
-A INPUT -m pkttype --pkt-type broadcast -m mac ! --mac-source 02:00:00:00:00:0A -j DROP
COMMIT
`

// TestDiffPktMatch compares pkttype, mac, --tcp-option, multiport --ports
// and IPv6 iprange between iptables-legacy and bpfilter with random
// probes whose destination MAC (own, broadcast, multicast), source MAC,
// TCP options, ports and addresses vary.
func TestDiffPktMatch(t *testing.T) {
	if bad := pktDifferences(t, pktMatchV4, pktMatchV6, pktMatchV4, pktMatchV6, true); bad > 0 {
		t.Errorf("%d packets got different verdicts", bad)
	}
}

// TestDiffPktMatchForward runs the same rules in FORWARD on a router:
// xt_mac reads the frame that arrived from the sender (skb->dev is still
// the input device), and only PACKET_HOST frames are forwarded.
func TestDiffPktMatchForward(t *testing.T) {
	v4 := strings.ReplaceAll(pktMatchV4, "-A INPUT", "-A FORWARD")
	v6 := strings.ReplaceAll(pktMatchV6, "-A INPUT", "-A FORWARD")
	if bad := pktDifferencesMode(t, true, v4, v6, v4, v6, true); bad > 0 {
		t.Errorf("%d packets got different verdicts", bad)
	}
}

// TestDiffPktMatchDetects changes one criterion of each kind on the
// bpfilter side: each change must show up as differences, so every rule
// above is exercised by the probes.
func TestDiffPktMatchDetects(t *testing.T) {
	for _, c := range []struct{ name, old, new string }{
		{"pkttype", "--pkt-type broadcast -m udp", "--pkt-type multicast -m udp"},
		{"pkttype negated", "! --pkt-type unicast", "! --pkt-type multicast"},
		{"mac", "--mac-source 02:00:00:00:00:09 -j DROP", "--mac-source 02:00:00:00:00:0B -j DROP"},
		{"tcp-option", "--tcp-option 8 ", "--tcp-option 9 "},
		{"tcp-option negated", "! --tcp-option 2", "! --tcp-option 3"},
		{"ports", "--ports 22,80", "--ports 22,81"},
		{"ports negated", "! --ports 1:1023,8080", "! --dports 1:1023,8080"},
		{"v6 src-range", "--src-range fd00:198:18::5-", "--src-range fd00:198:18::6-"},
		{"v6 dst-range negated", "! --dst-range fd00:198:18::3-fd00:198:18::4", "! --dst-range fd00:198:18::3-fd00:198:18::5"},
		{"v6 tcp-option", "--tcp-option 4 -j DROP\n-A INPUT -p udp", "--tcp-option 5 -j DROP\n-A INPUT -p udp"},
		{"v6 pkttype", "--pkt-type multicast -m udp", "--pkt-type broadcast -m udp"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v4 := strings.Replace(pktMatchV4, c.old, c.new, 1)
			v6 := strings.Replace(pktMatchV6, c.old, c.new, 1)
			if v4 == pktMatchV4 && v6 == pktMatchV6 {
				t.Fatalf("%q is not in the rulesets", c.old)
			}
			if bad := pktDifferences(t, pktMatchV4, pktMatchV6, v4, v6, false); bad == 0 {
				t.Errorf("changing %q to %q gave no difference", c.old, c.new)
			}
		})
	}
}

// pktDifferences loads kv4/kv6 with iptables-legacy and bv4/bv6 with
// bpfilter, sends the same pktProbes to both and returns the number of
// probes delivered differently (reporting them when report is set).
func pktDifferences(t *testing.T, kv4, kv6, bv4, bv6 string, report bool) int {
	t.Helper()
	return pktDifferencesMode(t, false, kv4, kv6, bv4, bv6, report)
}

// pktDifferencesMode is pktDifferences with the ruleset on a router
// between sender and receiver when forward is set.
func pktDifferencesMode(t *testing.T, forward bool, kv4, kv6, bv4, bv6 string, report bool) int {
	t.Helper()
	requireEnv(t)
	kern, bpf := newSideMode(t, "iptables-legacy", forward), newSideMode(t, "bpfilter", forward)
	sides := []*side{kern, bpf}
	kern.loadKernel(t, kv4, kv6)
	bpf.loadBpfilter(t, bv4, bv6)
	if forward {
		// Resolve the router's neighbours towards R first: probes that
		// wait for neighbour discovery are dropped past a short queue,
		// on one side and not the other.
		for _, sd := range sides {
			for i := byte(2); i <= 6; i++ {
				a4, a6 := sd.recv4.As4(), sd.recv6.As16()
				a4[3], a6[15] = i, i
				for _, dst := range []netip.Addr{netip.AddrFrom4(a4), netip.AddrFrom16(a6)} {
					if out, err := sd.s.Run("ping", "-c", "1", "-W", "2", dst.String()); err != nil {
						t.Fatalf("%s: ping %s through the router: %v\n%s", sd.name, dst, err, out)
					}
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(11, 5))
	probes := pktProbes(r, 500, false, 0, kern.recv4, kern.recv6)
	probes = append(probes, pktProbes(r, 500, true, uint32(len(probes)), kern.recv4, kern.recv6)...)
	got := deliver(t, sides, probes)
	var bad, delivered, malformed, malformedDelivered int
	for i, p := range probes {
		id := uint32(i)
		if got[0][id] {
			delivered++
		}
		if !strings.HasSuffix(p.desc, " doff 0") && strings.Contains(p.desc, " tcp ") {
			malformed++
			if got[0][id] {
				malformedDelivered++
			}
		}
		if got[0][id] != got[1][id] {
			bad++
			if report && bad <= 20 {
				t.Errorf("%s: iptables-legacy delivered=%v, bpfilter delivered=%v", p.desc, got[0][id], got[1][id])
			}
		}
	}
	t.Logf("%d probes, %d delivered by iptables-legacy, %d differences; %d TCP probes with a malformed data offset, %d delivered",
		len(probes), delivered, bad, malformed, malformedDelivered)
	if delivered == 0 || delivered == len(probes) {
		t.Errorf("the ruleset delivered %d of %d probes: the comparison tests nothing", delivered, len(probes))
	}
	return bad
}

// TestDiffTCPOptionHotDrop compares rulesets that only ACCEPT, on
// chains whose policy is ACCEPT: a probe is lost only when xt_tcpudp
// drops it at a --tcp-option rule it reaches with a malformed data
// offset (hotdrop), after the rule's port matches held, whatever follows.
func TestDiffTCPOptionHotDrop(t *testing.T) {
	v4 := `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 1000:2000 --tcp-option 2 -m multiport --sports 22,80 -j ACCEPT
COMMIT
`
	v6 := `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m multiport --ports 80,443 -m tcp ! --tcp-option 8 -j ACCEPT
COMMIT
`
	if bad := pktDifferences(t, v4, v6, v4, v6, true); bad > 0 {
		t.Errorf("%d packets got different verdicts", bad)
	}
}
