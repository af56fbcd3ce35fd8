package iptdiff

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// ctOptionsV4 uses every conntrack criterion on real flows: direction,
// original and reply addresses and ports (single and ranges), status,
// expiry (coarse ranges, far from the 30 s UDP and 5 day TCP timeouts),
// and state together with other criteria for packets without an entry.
const ctOptionsV4 = `*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate INVALID,UNTRACKED --ctproto udp -j DROP
-A INPUT -m conntrack --ctstate INVALID --ctdir REPLY -j ACCEPT
-A INPUT -p udp -m conntrack --ctdir REPLY --ctorigsrcport 5000:5001 --ctorigdstport 6000 -j ACCEPT
-A INPUT -p udp -m conntrack --ctstate ESTABLISHED --ctreplsrcport 6001 --ctexpire 15:45 --ctstatus SEEN_REPLY -j ACCEPT
-A INPUT -p udp -m conntrack --ctstate ESTABLISHED ! --ctrepldst 198.18.0.2 -j ACCEPT
-A INPUT -p icmp -m conntrack --ctstate RELATED --ctorigsrc 198.18.0.0/255.255.255.0 --ctreplsrcport 6000 ! --ctrepldstport 5003 -j ACCEPT
-A INPUT -p tcp -m conntrack --ctstate NEW --ctdir ORIGINAL --ctorigdstport 7000:7001 --ctorigdst 198.18.0.2 -j ACCEPT
-A INPUT -p tcp -m conntrack --ctdir ORIGINAL --ctstatus ASSURED --ctexpire 3600:4294967295 ! --ctorigdstport 7001 -j ACCEPT
-A INPUT -p tcp -m conntrack --ctstate NEW --ctorigsrc 198.18.0.1 ! --ctstatus CONFIRMED --ctrepldstport 22 -j ACCEPT
-A INPUT -p tcp -m conntrack ! --ctstatus NONE --ctreplsrcport 22 --ctreplsrc 198.18.0.2 -j ACCEPT
-A INPUT -p udp -m conntrack --ctstate NEW --ctproto udp --ctdir ORIGINAL ! --ctorigdstport 1:1023 -j ACCEPT
-A INPUT -p icmp -m conntrack --ctstate NEW --ctexpire 0:5 -j ACCEPT
-A INPUT -p udp -m conntrack ! --ctexpire 0:60 -j ACCEPT
COMMIT
`

const ctOptionsV6 = `*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 135 -j ACCEPT
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 136 -j ACCEPT
-A INPUT -p udp -m conntrack --ctdir REPLY --ctorigsrc fd00:198:18::/64 --ctrepldstport 5000:5002 --ctreplsrcport 6001 -j ACCEPT
-A INPUT -p udp -m conntrack --ctstate ESTABLISHED --ctorigdst fd00:198:18::1 --ctstatus SEEN_REPLY --ctorigsrcport 5003 -j ACCEPT
-A INPUT -p ipv6-icmp -m conntrack --ctstate RELATED ! --ctorigdst fd00:198:18::1 -j ACCEPT
-A INPUT -p ipv6-icmp -m conntrack --ctstate RELATED --ctorigsrcport 5001 -j ACCEPT
-A INPUT -p tcp -m conntrack --ctstate NEW --ctorigdstport 22:80 -j ACCEPT
-A INPUT -p tcp -m conntrack --ctstate ESTABLISHED --ctdir ORIGINAL --ctreplsrc fd00:198:18::2/128 --ctexpire 3600:4294967295 --ctstatus ASSURED -j ACCEPT
-A INPUT -m conntrack --ctstate UNTRACKED,INVALID ! --ctproto tcp -j ACCEPT
-A INPUT -p udp -m conntrack ! --ctstate INVALID --ctreplsrc fd00:198:18::7 -j ACCEPT
COMMIT
`

// TestDiffConntrackOptions compares the conntrack criteria beyond the
// state with iptables-legacy on the same flows: replies to R's UDP flows
// (first and second reply), ICMP errors quoting them (RELATED), new UDP
// flows from S, TCP connections from S (NEW, then ESTABLISHED with
// ASSURED), and random probes (NEW, INVALID).
func TestDiffConntrackOptions(t *testing.T) {
	requireEnv(t)
	kern, bpf := newSide(t, "iptables-legacy"), newSide(t, "bpfilter")
	sides := []*side{kern, bpf}
	for _, sd := range sides {
		sd.enableConntrack(t)
	}
	kern.loadKernel(t, ctOptionsV4, ctOptionsV6)
	bpf.loadBpfilter(t, ctOptionsV4, ctOptionsV6)
	for _, sd := range sides {
		sd.startCtFlows(t)
	}
	probes := ctFlowProbes(0, kern.recv4, kern.recv6)
	flowProbes := len(probes)
	r := rand.New(rand.NewPCG(11, 7))
	probes = append(probes, randomProbes(r, 200, false, uint32(len(probes)), kern.recv4, kern.recv6)...)
	probes = append(probes, randomProbes(r, 200, true, uint32(len(probes)), kern.recv4, kern.recv6)...)
	got := deliver(t, sides, probes)
	probes = append(probes, tcpConnects(t, sides, []uint16{22, 80, 7000, 7001}, uint32(len(probes)))...)
	time.Sleep(100 * time.Millisecond)
	for i, sd := range sides {
		if err := sd.drain(got[i]); err != nil {
			t.Fatal(err)
		}
	}
	var bad, delivered, flowDelivered int
	for i, p := range probes {
		id := uint32(i)
		if got[0][id] {
			delivered++
			if i < flowProbes {
				flowDelivered++
			}
		}
		if !strings.Contains(p.desc, " > ") || i < flowProbes {
			t.Logf("%s: iptables-legacy delivered=%v, bpfilter delivered=%v", p.desc, got[0][id], got[1][id])
		}
		if got[0][id] != got[1][id] {
			bad++
			if bad <= 30 {
				t.Errorf("%s: iptables-legacy delivered=%v, bpfilter delivered=%v", p.desc, got[0][id], got[1][id])
			}
		}
	}
	t.Logf("%d probes, %d delivered by iptables-legacy (%d of %d flow probes), %d differences", len(probes), delivered, flowDelivered, flowProbes, bad)
	if flowDelivered == 0 || flowDelivered == flowProbes || delivered == len(probes) {
		t.Errorf("the ruleset delivered %d of %d flow probes and %d of %d probes: the comparison tests too little", flowDelivered, flowProbes, delivered, len(probes))
	}
}

// ctNATTable redirects port 8080 to 80 in PREROUTING (IPS_DST_NAT): it
// is loaded with iptables-legacy on both sides, bpfilter only filters.
const ctNATTable = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p udp -m udp --dport 8080 -j REDIRECT --to-ports 80
-A PREROUTING -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 80
COMMIT
`

const ctNATFilter = `*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p udp -m conntrack --ctstate DNAT -j ACCEPT
-A INPUT -p tcp -m conntrack ! --ctstate INVALID,DNAT -m tcp --dport 80 -j ACCEPT
-A INPUT -p tcp -m conntrack --ctstate SNAT -j ACCEPT
-A INPUT -p icmp -m conntrack ! --ctstate SNAT,DNAT --ctproto icmp -j ACCEPT
COMMIT
`

// TestDiffConntrackNAT compares --ctstate SNAT/DNAT (the entry's NAT
// status bits) with iptables-legacy, with a REDIRECT in the kernel's nat
// table on both sides.
func TestDiffConntrackNAT(t *testing.T) {
	requireEnv(t)
	kern, bpf := newSide(t, "iptables-legacy"), newSide(t, "bpfilter")
	sides := []*side{kern, bpf}
	for _, sd := range sides {
		sd.enableConntrack(t)
	}
	kern.loadKernel(t, ctNATTable+ctNATFilter, "")
	bpf.loadKernel(t, ctNATTable, "")
	bpf.loadBpfilter(t, ctNATFilter, "")
	// Targeted probes to the redirected port (UDP and TCP SYN, several
	// source ports and local addresses), then random ones.
	var probes []probe
	for i, sport := range []uint16{1000, 2000, 3000, 4000, 5000} {
		dst := kern.recv4.As4()
		dst[3] = byte(2 + i)
		d := netip.AddrFrom4(dst)
		for _, h := range []l4{{proto: 17, sport: sport, dport: 8080}, {proto: 6, sport: sport, dport: 8080, tcpFlags: 0x02}, {proto: 6, sport: sport, dport: 80, tcpFlags: 0x02}} {
			m := markerFor(uint32(len(probes)))
			probes = append(probes, probe{desc: describe(senderV4, d, h, 64), marker: m, ip: ipPacket(senderV4, d, h.proto, 64, h.encode(senderV4, d, m))})
		}
	}
	r := rand.New(rand.NewPCG(5, 9))
	probes = append(probes, randomProbes(r, 300, false, uint32(len(probes)), kern.recv4, kern.recv6)...)
	got := deliver(t, sides, probes)
	var bad, delivered, nat int
	for i, p := range probes {
		id := uint32(i)
		if strings.Contains(p.desc, " > 8080 ") {
			nat++
		}
		if got[0][id] {
			delivered++
		}
		if got[0][id] != got[1][id] {
			bad++
			if bad <= 20 {
				t.Errorf("%s: iptables-legacy delivered=%v, bpfilter delivered=%v", p.desc, got[0][id], got[1][id])
			}
		}
	}
	t.Logf("%d probes (%d to port 8080), %d delivered by iptables-legacy, %d differences", len(probes), nat, delivered, bad)
	if delivered == 0 || delivered == len(probes) || nat == 0 {
		t.Errorf("the comparison tests too little: %d of %d delivered, %d redirected", delivered, len(probes), nat)
	}
}
