package iptdiff

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// compare runs the v4 and v6 restore texts on both sides with n random
// probes per family and fails on every packet the two deliver differently.
func compare(t *testing.T, v4, v6 string, n int, seed uint64) {
	if bad := differences(t, v4, v6, v4, v6, n, seed, true); bad != 0 {
		t.Errorf("%d packets got different verdicts", bad)
	}
}

// differences loads kv4/kv6 with iptables-legacy and bv4/bv6 with
// bpfilter and returns the number of probes delivered differently
// (reporting them when report is set).
func differences(t *testing.T, kv4, kv6, bv4, bv6 string, n int, seed uint64, report bool) int {
	return differencesMode(t, false, kv4, kv6, bv4, bv6, n, seed, report)
}

func differencesMode(t *testing.T, forward bool, kv4, kv6, bv4, bv6 string, n int, seed uint64, report bool) int {
	requireEnv(t)
	kern, bpf := newSideMode(t, "iptables-legacy", forward), newSideMode(t, "bpfilter", forward)
	sides := []*side{kern, bpf}
	for _, sd := range sides {
		sd.enableConntrack(t)
	}
	kern.loadKernel(t, kern.subst(kv4), kern.subst(kv6))
	bpf.loadBpfilter(t, bpf.subst(bv4), bpf.subst(bv6))
	for _, sd := range sides {
		sd.startFlows(t)
	}
	r := rand.New(rand.NewPCG(seed, 7))
	probes := flowProbes(0, kern.recv4, kern.recv6)
	probes = append(probes, randomProbes(r, n, false, uint32(len(probes)), kern.recv4, kern.recv6)...)
	probes = append(probes, randomProbes(r, n, true, uint32(len(probes)), kern.recv4, kern.recv6)...)
	got := deliver(t, sides, probes)
	probes = append(probes, tcpConnects(t, sides, []uint16{22, 80, 7000, 7001}, uint32(len(probes)))...)
	time.Sleep(100 * time.Millisecond)
	for i, sd := range sides {
		if err := sd.drain(got[i]); err != nil {
			t.Fatal(err)
		}
	}
	var bad, delivered int
	for i, p := range probes {
		id := uint32(i)
		if got[0][id] {
			delivered++
		}
		if !strings.Contains(p.desc, " > ") {
			t.Logf("%s: iptables-legacy delivered=%v, bpfilter delivered=%v", p.desc, got[0][id], got[1][id])
		}
		if got[0][id] != got[1][id] {
			bad++
			if report && bad <= 20 {
				t.Errorf("%s: iptables-legacy delivered=%v, bpfilter delivered=%v", p.desc, got[0][id], got[1][id])
			}
		}
	}
	t.Logf("%d probes, %d delivered by iptables-legacy, %d differences", len(probes), delivered, bad)
	if delivered == 0 || delivered == len(probes) {
		t.Errorf("the ruleset delivered %d of %d probes: the comparison tests nothing", delivered, len(probes))
	}
	return bad
}

const basicV4 = `*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:web - [0:0]
:blocked - [0:0]
-A INPUT -f -j DROP
-A INPUT -p udp -m iprange --src-range 198.18.0.5-198.18.0.8 ! --dst-range 198.18.0.3-198.18.0.4 -j DROP
-A INPUT -p tcp -m iprange ! --src-range 198.18.0.1-198.18.0.7 -m tcp --dport 1000:2000 -j ACCEPT
-A INPUT -s 198.18.0.200/32 -j blocked
-A INPUT -m ttl --ttl-lt 2 -j DROP
-A INPUT -p udp -m ttl --ttl-gt 63 -m length ! --length 0:36 -j ACCEPT
-A INPUT -p tcp -m ttl --ttl-eq 255 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 80:443 -j web
-A INPUT -p tcp -m tcp ! --sport 0:1023 -m multiport --dports 22,1000:1024,8080 -j ACCEPT
-A INPUT -p udp -m udp ! --sport 53 -m comment --comment "not dns" -j ACCEPT
-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT
-A INPUT -p icmp -m icmp --icmp-type 3/4 -j ACCEPT
-A INPUT -p tcp -m tcp --tcp-flags SYN,ACK SYN -j LOG --log-prefix "syn: "
-A INPUT -p tcp -m tcp --syn --dport 1000:1024 -j ACCEPT
-A INPUT -d 198.18.0.3/32 -g blocked
-A INPUT -s 198.18.0.0/29 -d 198.18.0.4/31 -j ACCEPT
-A INPUT -p tcp -m tcp ! --tcp-flags FIN,RST,ACK ACK ! --sport 1024:65535 -j ACCEPT
-A web -p tcp -m tcp --sport 1000 -j RETURN
-A web -p tcp -m tcp --tcp-flags RST RST -j DROP
-A web -j ACCEPT
-A blocked -p icmp -j RETURN
-A blocked -j DROP
COMMIT
`

const basicV6 = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:svc - [0:0]
-A INPUT -s fd00:198:18::200/128 -j DROP
-A INPUT -m hl --hl-eq 255 -p tcp -j ACCEPT
-A INPUT -m hl ! --hl-eq 63 -p tcp -m length --length 60:70 -j DROP
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 1/3 -j DROP
-A INPUT -p tcp -j svc
-A INPUT -d fd00:198:18::4/127 -p udp -m udp --dport 53 -j DROP
-A INPUT -p udp -m multiport --dports 53,443:8080 -j DROP
-A INPUT ! -s fd00:198:18::/125 -p udp -j DROP
-A svc -p tcp -m tcp --dport 22 -j ACCEPT
-A svc -p tcp -m tcp ! --dport 1:1023 -j RETURN
-A svc -j DROP
COMMIT
`

func TestDiffBasic(t *testing.T) {
	compare(t, basicV4, basicV6, 600, 1)
}

// TestDiffDetectsDifference checks the harness itself: one changed port in
// the bpfilter side's ruleset must show up as differences.
func TestDiffDetectsDifference(t *testing.T) {
	changed := strings.Replace(basicV4, "--dport 80:443", "--dport 81:443", 1)
	if bad := differences(t, basicV4, basicV6, changed, basicV6, 600, 2, false); bad == 0 {
		t.Error("a ruleset with a different port range gave no difference")
	}
}

const statefulV4 = `*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:in_if - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate INVALID -j DROP
-A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT
-A INPUT -p icmp -m state --state RELATED -j ACCEPT
-A INPUT -m conntrack --ctstate NEW --ctproto udp -p udp -m udp --dport 1:1023 -j ACCEPT
-A INPUT -m conntrack ! --ctproto tcp -p icmp -m icmp --icmp-type 13 -j ACCEPT
-A INPUT -i @IF@ -j in_if
-A in_if -p tcp -m tcp --dport 7000 -m conntrack --ctstate NEW -j ACCEPT
-A in_if ! -i bfb+ -j ACCEPT
-A in_if -p udp -m udp --dport 53 -j ACCEPT
-A in_if -p tcp -m conntrack ! --ctstate NEW,UNTRACKED -j ACCEPT
-A in_if -p icmp -m icmp --icmp-type 8 -j ACCEPT
-A in_if -o lo -j ACCEPT
-A in_if ! -i @IF@ -j ACCEPT
COMMIT
`

const statefulV6 = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -m state --state INVALID -j DROP
-A INPUT -i bfb+ -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -i @IF@ -p udp -j DROP
-A INPUT -p tcp -m conntrack --ctstate NEW -j DROP
COMMIT
`

// TestDiffConntrack compares a stateful ruleset with interface matches:
// replies to R's own UDP flows (ESTABLISHED), ICMP errors quoting them
// (RELATED), TCP connections from S, and random probes (NEW, INVALID).
func TestDiffConntrack(t *testing.T) {
	compare(t, statefulV4, statefulV6, 300, 3)
}
